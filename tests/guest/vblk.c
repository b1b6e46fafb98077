/* Test guest "vblk": every virtio-blk disk read whole (POSIX cksum), serial, a write to the last
 * sector (or its rejection on a read-only disk), a flush, and MSI-X interrupts counted. */
#include "rt.h"
#include "virtio.h"

/* virtio 1.2 §5.2.3 feature bits, §5.2.6 request types and status values. */
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_CONFIG_CAPACITY 0   /* le64, in 512-byte sectors (§5.2.4) */

#define SECTOR 512u
#define CHUNK_BYTES 65536u
#define MAX_DISKS 32
#define MAX_SECTORS (1ull << 31)       /* 1 TiB: more than a test would ever read */
#define QUEUE_ENTRIES 64
#define REQUEST_TIMEOUT_US 10000000
#define IRQ_VECTOR 0x40
#define STATUS_UNSET 0xff

struct blk_req_header {   /* §5.2.6 */
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct disk {
    int index;
    struct virtio_dev dev;
    struct virtq queue;
    uint64_t sectors;
    bool readonly;
};

VIRTQ_STORAGE(queue_mem, QUEUE_ENTRIES);
static uint8_t chunk[CHUNK_BYTES] __attribute__((aligned(4096)));
static uint8_t last_sector[SECTOR];
static uint8_t pattern[SECTOR];
static struct blk_req_header req_header;
static volatile uint8_t req_status;
static uint32_t crc_table[256];

static NORETURN void fail(const char *what, int disk)
{
    if (disk >= 0)
        printf("vblk: FAIL disk %d: %s\n", disk, what);
    else
        printf("vblk: FAIL %s\n", what);
    poweroff();
}

/* ---- POSIX cksum: CRC-32, polynomial 0x04C11DB7, MSB first, length appended, inverted ---- */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;
        for (int b = 0; b < 8; b++)
            c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        crc = (crc << 8) ^ crc_table[(crc >> 24) ^ p[i]];
    return crc;
}

/* The length goes in least significant byte first, as many bytes as it needs. */
static uint32_t crc_finish(uint32_t crc, uint64_t length)
{
    for (; length; length >>= 8) {
        uint8_t byte = (uint8_t)length;
        crc = crc_update(crc, &byte, 1);
    }
    return ~crc;
}

/* ---- requests ---- */

/* One request (header, optional data, status byte), waited for; returns the status byte. */
static uint8_t blk_request(struct disk *d, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
    req_header = (struct blk_req_header){ .type = type, .sector = sector };
    req_status = STATUS_UNSET;
    bool device_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    struct virtq_buf bufs[3];
    int n = 0;
    bufs[n++] = (struct virtq_buf){ &req_header, sizeof(req_header), false };
    if (len)
        bufs[n++] = (struct virtq_buf){ data, len, device_writes };
    bufs[n++] = (struct virtq_buf){ &req_status, 1, true };
    int head = virtq_submit(&d->queue, bufs, n);
    if (head < 0)
        fail("no free descriptors", d->index);
    virtq_kick(&d->queue);
    uint32_t id, written;
    if (!virtq_wait(&d->queue, &id, &written, REQUEST_TIMEOUT_US))
        fail("request timed out or bad used entry", d->index);
    if (id != (uint32_t)head)
        fail("used entry names another chain", d->index);
    if (req_status == STATUS_UNSET)
        fail("device did not write the status byte", d->index);
    return req_status;
}

/* ---- set-up ---- */

static void disk_open(struct disk *d, const struct pci_dev *pci)
{
    const char *err = virtio_open(&d->dev, pci);
    if (!err)
        err = virtio_negotiate(&d->dev, 1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_FLUSH);
    if (err)
        fail(err, d->index);
    uint16_t msix_entry = VIRTIO_NO_VECTOR;
    if (virtio_enable_msix(&d->dev) && msix_set_vector(&d->dev.msix, 0, IRQ_VECTOR))
        msix_entry = 0;
    irq_count_vector(IRQ_VECTOR);
    err = virtio_queue_setup(&d->dev, &d->queue, 0, queue_mem, QUEUE_ENTRIES, msix_entry);
    if (!err)
        err = virtio_driver_ok(&d->dev);
    if (err)
        fail(err, d->index);
    d->sectors = virtio_config64(&d->dev, VIRTIO_BLK_CONFIG_CAPACITY);
    d->readonly = virtio_has_feature(&d->dev, VIRTIO_BLK_F_RO);
    if (d->sectors == 0)
        fail("capacity is 0 sectors", d->index);
    if (d->sectors > MAX_SECTORS)
        fail("capacity too large to read whole", d->index);
}

/* GET_ID (§5.2.6.1): up to 20 bytes, NUL-terminated when shorter; printed as "-" when empty. */
static void disk_serial(struct disk *d, char *out)
{
    static char id[VIRTIO_BLK_ID_BYTES];
    memset(id, 0, sizeof(id));
    int n = 0;
    if (blk_request(d, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id)) == VIRTIO_BLK_S_OK) {
        for (; n < VIRTIO_BLK_ID_BYTES && id[n]; n++)
            out[n] = id[n] > ' ' && id[n] < 0x7f ? id[n] : '?';
    }
    if (n == 0)
        out[n++] = '-';
    out[n] = 0;
}

/* Reads every sector in CHUNK_BYTES pieces; keeps a copy of the last sector. */
static uint32_t disk_cksum(struct disk *d)
{
    uint32_t crc = 0;
    uint64_t sector = 0;
    while (sector < d->sectors) {
        uint64_t count = d->sectors - sector;
        if (count > CHUNK_BYTES / SECTOR)
            count = CHUNK_BYTES / SECTOR;
        uint32_t bytes = (uint32_t)count * SECTOR;
        uint8_t status = blk_request(d, VIRTIO_BLK_T_IN, sector, chunk, bytes);
        if (status != VIRTIO_BLK_S_OK) {
            printf("vblk: FAIL disk %d: read of sector %lu returned status %u\n", d->index,
                   (unsigned long)sector, status);
            poweroff();
        }
        crc = crc_update(crc, chunk, bytes);
        sector += count;
        if (sector == d->sectors)
            memcpy(last_sector, chunk + bytes - SECTOR, SECTOR);
    }
    return crc_finish(crc, d->sectors * SECTOR);
}

/* "vmm-vblk-write-N" as many whole times as fit in 512 bytes, the rest '.'. */
static void make_pattern(int index)
{
    char word[32];
    int len = 0;
    for (const char *p = "vmm-vblk-write-"; *p; p++)
        word[len++] = *p;
    char digits[12];
    int nd = 0;
    unsigned v = (unsigned)index;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (nd)
        word[len++] = digits[--nd];
    unsigned pos = 0;
    for (; pos + (unsigned)len <= SECTOR; pos += (unsigned)len)
        memcpy(pattern + pos, word, (size_t)len);
    memset(pattern + pos, '.', SECTOR - pos);
}

static bool last_sector_is(struct disk *d, const uint8_t *expect)
{
    if (blk_request(d, VIRTIO_BLK_T_IN, d->sectors - 1, chunk, SECTOR) != VIRTIO_BLK_S_OK)
        fail("re-reading the last sector failed", d->index);
    return memcmp(chunk, expect, SECTOR) == 0;
}

static void disk_write_test(struct disk *d)
{
    make_pattern(d->index);
    memcpy(chunk, pattern, SECTOR);
    uint8_t status = blk_request(d, VIRTIO_BLK_T_OUT, d->sectors - 1, chunk, SECTOR);
    if (d->readonly) {
        if (status != VIRTIO_BLK_S_IOERR) {
            printf("vblk: FAIL disk %d: write to a read-only disk returned status %u\n", d->index, status);
            poweroff();
        }
        if (!last_sector_is(d, last_sector))
            fail("read-only disk changed by a rejected write", d->index);
        printf("vblk: disk %d readonly write rejected status %u\n", d->index, status);
        return;
    }
    if (status != VIRTIO_BLK_S_OK) {
        printf("vblk: FAIL disk %d: write returned status %u\n", d->index, status);
        poweroff();
    }
    if (virtio_has_feature(&d->dev, VIRTIO_BLK_F_FLUSH) &&
        (status = blk_request(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0)) != VIRTIO_BLK_S_OK) {
        printf("vblk: FAIL disk %d: flush returned status %u\n", d->index, status);
        poweroff();
    }
    if (!last_sector_is(d, pattern))
        fail("last sector does not read back as written", d->index);
    printf("vblk: disk %d wrote last sector\n", d->index);
}

static void disk_test(int index, const struct pci_dev *pci)
{
    static struct disk d;
    d = (struct disk){ .index = index };
    disk_open(&d, pci);
    printf("vblk: disk %d at pci 00:%02x.%u, registers at 0x%lx, features 0x%lx, %s\n", index, pci->slot,
           pci->func, (unsigned long)d.dev.common, (unsigned long)d.dev.features,
           d.dev.have_msix ? "msi-x" : "polled");
    char serial[VIRTIO_BLK_ID_BYTES + 2];
    disk_serial(&d, serial);
    uint32_t sum = disk_cksum(&d);
    printf("vblk: disk %d serial %s sectors %lu cksum %u\n", index, serial, (unsigned long)d.sectors, sum);
    disk_write_test(&d);
    printf("vblk: disk %d interrupts %u\n", index, irq_count(IRQ_VECTOR));
    virtio_reset(&d.dev);
}

int main(void)
{
    crc_init();
    irq_init();
    int disks = 0;
    struct pci_dev pci;
    while (disks < MAX_DISKS && pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BLK, disks, &pci)) {
        disk_test(disks, &pci);
        disks++;
    }
    printf("vblk: done, %d disks\n", disks);
    return 0;
}
