/* Test guest "vwrite": endless pseudo-random writes to the first virtio-blk disk, flushed every 8,
 * with a pattern the host can recompute; the host kills the VM and checks what reached the image. */
#include "rt.h"
#include "virtio.h"

/* virtio 1.2 §5.2.3 feature bits, §5.2.6 request types and status values. */
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_CONFIG_CAPACITY 0   /* le64, in 512-byte sectors (§5.2.4) */

#define SECTOR 512u
#define MAX_RUN_SECTORS 16u            /* one write covers 1..16 sectors */
#define WRITES_PER_FLUSH 8u
#define QUEUE_ENTRIES 8
#define REQUEST_TIMEOUT_US 30000000
#define STATUS_UNSET 0xff
#define SEED_DEFAULT 1u

/* Pattern of one sector: this line (38 bytes) as many whole times as fit, then '.', last '\n'. */
#define LINE_SEQ_DIGITS 8
#define LINE_SECTOR_DIGITS 10

struct blk_req_header {   /* §5.2.6 */
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

VIRTQ_STORAGE(queue_mem, QUEUE_ENTRIES);
static uint8_t data[MAX_RUN_SECTORS * SECTOR] __attribute__((aligned(4096)));
static struct blk_req_header req_header;
static volatile uint8_t req_status;
static struct virtio_dev dev;
static struct virtq queue;

static NORETURN void stop(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

static NORETURN void fail(const char *what)
{
    printf("vwrite: FAIL %s\n", what);
    stop();
}

/* ---- the generator the host replays ---- */

/* xorshift64 (Marsaglia 2003, shifts 13, 7, 17); the seed is spread so small seeds differ at once. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = (seed + 1) * 0x9e3779b97f4a7c15ull;
    if (rng_state == 0)
        rng_state = 1;
}

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* count = 1 + next % min(16, capacity); first = next % (capacity - count + 1). */
static void pick_range(uint64_t capacity, uint64_t *first, uint32_t *count)
{
    uint64_t max_run = capacity < MAX_RUN_SECTORS ? capacity : MAX_RUN_SECTORS;
    *count = (uint32_t)(1 + rng_next() % max_run);
    *first = rng_next() % (capacity - *count + 1);
}

/* Decimal with leading zeros, exactly width digits (the value is reduced to fit). */
static char *put_decimal(char *out, uint64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

static char *put_text(char *out, const char *text)
{
    while (*text)
        *out++ = *text++;
    return out;
}

/* "vwrite seq=%08u sector=%010u " repeated, the rest '.', the last byte '\n'. */
static void fill_sector(uint8_t *out, uint32_t seq, uint64_t sector)
{
    char line[48];
    char *p = put_text(line, "vwrite seq=");
    p = put_decimal(p, seq, LINE_SEQ_DIGITS);
    p = put_text(p, " sector=");
    p = put_decimal(p, sector, LINE_SECTOR_DIGITS);
    p = put_text(p, " ");
    size_t len = (size_t)(p - line), pos = 0;
    for (; pos + len <= SECTOR - 1; pos += len)
        memcpy(out + pos, line, len);
    memset(out + pos, '.', SECTOR - 1 - pos);
    out[SECTOR - 1] = '\n';
}

/* ---- the device ---- */

static uint64_t seed_from_cmdline(void)
{
    const char *p = boot.cmdline;
    for (size_t i = 0; i < 4096 && p[i]; i++) {
        if ((i == 0 || p[i - 1] == ' ') && memcmp(p + i, "seed=", 5) == 0) {
            uint64_t v = 0;
            const char *d = p + i + 5;
            if (*d < '0' || *d > '9')
                fail("bad seed= on the command line");
            for (int n = 0; *d >= '0' && *d <= '9' && n < 19; d++, n++)
                v = v * 10 + (uint64_t)(*d - '0');
            return v;
        }
    }
    return SEED_DEFAULT;
}

/* One request (header, optional device-readable data, status byte), polled to completion. */
static uint8_t blk_request(uint32_t type, uint64_t sector, const void *buf, uint32_t len)
{
    req_header = (struct blk_req_header){ .type = type, .sector = sector };
    req_status = STATUS_UNSET;
    struct virtq_buf bufs[3];
    int n = 0;
    bufs[n++] = (struct virtq_buf){ &req_header, sizeof(req_header), false };
    if (len)
        bufs[n++] = (struct virtq_buf){ buf, len, false };
    bufs[n++] = (struct virtq_buf){ &req_status, 1, true };
    int head = virtq_submit(&queue, bufs, n);
    if (head < 0)
        fail("no free descriptors");
    virtq_kick(&queue);
    uint32_t id, written;
    if (!virtq_wait(&queue, &id, &written, REQUEST_TIMEOUT_US))
        fail("request timed out or bad used entry");
    if (id != (uint32_t)head)
        fail("used entry names another chain");
    if (req_status == STATUS_UNSET)
        fail("device did not write the status byte");
    return req_status;
}

/* Polled operation: no MSI-X, no interrupts (queue vector VIRTIO_NO_VECTOR). */
static uint64_t disk_open(void)
{
    struct pci_dev pci;
    if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BLK, 0, &pci))
        fail("no virtio-blk device (1af4:1042)");
    const char *err = virtio_open(&dev, &pci);
    if (!err)
        err = virtio_negotiate(&dev, 1ull << VIRTIO_BLK_F_FLUSH);
    if (!err)
        err = virtio_queue_setup(&dev, &queue, 0, queue_mem, QUEUE_ENTRIES, VIRTIO_NO_VECTOR);
    if (!err)
        err = virtio_driver_ok(&dev);
    if (err)
        fail(err);
    uint64_t capacity = virtio_config64(&dev, VIRTIO_BLK_CONFIG_CAPACITY);
    if (capacity == 0)
        fail("capacity is 0 sectors");
    printf("vwrite: disk at pci 00:%02x.%u, sectors %lu, flush %s\n", pci.slot, pci.func,
           (unsigned long)capacity, virtio_has_feature(&dev, VIRTIO_BLK_F_FLUSH) ? "on" : "off (write-through)");
    return capacity;
}

static void write_one(uint32_t seq, uint64_t capacity)
{
    uint64_t first;
    uint32_t count;
    pick_range(capacity, &first, &count);
    for (uint32_t i = 0; i < count; i++)
        fill_sector(data + i * SECTOR, seq, first + i);
    uint8_t status = blk_request(VIRTIO_BLK_T_OUT, first, data, count * SECTOR);
    if (status != VIRTIO_BLK_S_OK) {
        printf("vwrite: FAIL write seq %u sectors %lu+%u returned status %u\n", seq, (unsigned long)first,
               count, status);
        stop();
    }
}

/* §5.2.6.2: a completed flush makes every completed write durable. Without the feature the
 * device is write-through (§5.2.5.1), so completed writes already are. */
static void flush(uint32_t last_seq)
{
    if (virtio_has_feature(&dev, VIRTIO_BLK_F_FLUSH)) {
        uint8_t status = blk_request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
        if (status != VIRTIO_BLK_S_OK) {
            printf("vwrite: FAIL flush after seq %u returned status %u\n", last_seq, status);
            stop();
        }
    }
    printf("vwrite: flushed up to seq %u\n", last_seq);
}

int main(void)
{
    uint64_t seed = seed_from_cmdline();
    rng_seed(seed);
    uint64_t capacity = disk_open();
    printf("vwrite: seed %lu, writing\n", (unsigned long)seed);
    for (uint32_t seq = 1;; seq++) {
        write_one(seq, capacity);
        if (seq % WRITES_PER_FLUSH == 0)
            flush(seq);
    }
}
