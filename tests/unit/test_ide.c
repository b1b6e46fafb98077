/* Unit tests for the PIIX IDE ATAPI CD-ROM: signature, IDENTIFY, the PACKET protocol's phases,
 * PIO data-in in DRQ blocks across buffer refills, interrupts, SRST, and hostile register use. */
#include <errno.h>
#include <stdbool.h>

#include "devices/ide.h"
#include "tests/unit/check.h"

TEST_MAIN()

/* Command block registers and status bits (ATA/ATAPI-6 §7). */
enum { DATA = 0, ERROR = 1, FEATURES = 1, NSECTOR = 2, LBAL = 3, LBAM = 4, LBAH = 5, DEVICE = 6, STATUS = 7, COMMAND = 7 };
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DRDY 0x40
#define ST_BSY 0x80

#define IMAGE_BLOCKS 100u

struct rig {
    struct ide_cd d;
    uint8_t image[IMAGE_BLOCKS * 2048];
    int irq_level, irq_edges;
    bool fail_reads;
};

static void rig_irq(void *ctx, unsigned gsi, int level)
{
    struct rig *r = ctx;
    (void)gsi;
    if (level && !r->irq_level)
        r->irq_edges++;
    r->irq_level = level;
}

static int rig_read(void *ctx, void *buf, uint64_t len, uint64_t offset)
{
    struct rig *r = ctx;
    if (r->fail_reads)
        return -EIO;
    if (offset + len > sizeof(r->image))
        return -EINVAL;
    memcpy(buf, r->image + offset, len);
    return 0;
}

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof(*r));
    for (size_t i = 0; i < sizeof(r->image); i++)
        r->image[i] = (uint8_t)(i * 7 + i / 2048);
    struct irq_line irq = { rig_irq, r, IDE_SECONDARY_IRQ };
    if (ide_cd_init(&r->d, sizeof(r->image), rig_read, r, "VMMTEST", irq)) {
        free(r);
        return NULL;
    }
    return r;
}

static void rig_free(struct rig *r)
{
    ide_cd_destroy(&r->d);
    free(r);
}

static uint8_t in8(struct rig *r, unsigned reg)
{
    uint8_t v = 0;
    ide_cmd_io(&r->d, reg, &v, 1, false);
    return v;
}

static void out8(struct rig *r, unsigned reg, uint8_t v) { ide_cmd_io(&r->d, reg, &v, 1, true); }

static uint16_t in16(struct rig *r)
{
    uint8_t b[2] = { 0 };
    ide_cmd_io(&r->d, DATA, b, 2, false);
    return (uint16_t)(b[0] | b[1] << 8);
}

static uint8_t alt_status(struct rig *r)
{
    uint8_t v = 0;
    ide_ctl_io(&r->d, 0, &v, 1, false);
    return v;
}

static void control(struct rig *r, uint8_t v) { ide_ctl_io(&r->d, 0, &v, 1, true); }

/* Issues PACKET with a byte count limit and sends the 12-byte command. */
static void packet(struct rig *r, const uint8_t cdb[12], uint16_t limit)
{
    out8(r, FEATURES, 0);
    out8(r, LBAM, (uint8_t)limit);
    out8(r, LBAH, (uint8_t)(limit >> 8));
    out8(r, COMMAND, 0xa0);
    for (int i = 0; i < 12; i += 2)
        ide_cmd_io(&r->d, DATA, (uint8_t *)&cdb[i], 2, true);
}

/* Reads the current DRQ block (size from the byte count registers) into dst. */
static unsigned read_block(struct rig *r, uint8_t *dst)
{
    unsigned n = in8(r, LBAM) | in8(r, LBAH) << 8;
    for (unsigned i = 0; i < n; i += 2) {
        uint16_t w = in16(r);
        dst[i] = (uint8_t)w;
        if (i + 1 < n)
            dst[i + 1] = (uint8_t)(w >> 8);
    }
    return n;
}

static const uint8_t TUR[12] = { 0x00 };
static const uint8_t REQUEST_SENSE[12] = { 0x03, 0, 0, 0, 18, 0 };

/* Clears the power-on unit attention. */
static void clear_unit_attention(struct rig *r)
{
    packet(r, TUR, 0);
    in8(r, STATUS);
    packet(r, TUR, 0);
    in8(r, STATUS);
}

TEST(signature_after_reset_is_a_packet_device)
{
    struct rig *r = rig_new();
    CHECK(r);
    CHECK_EQ(in8(r, NSECTOR), 1);
    CHECK_EQ(in8(r, LBAL), 1);
    CHECK_EQ(in8(r, LBAM), 0x14);
    CHECK_EQ(in8(r, LBAH), 0xeb);
    CHECK_EQ(in8(r, STATUS), 0);          /* DRDY stays clear on a packet device */
    /* IDENTIFY DEVICE is aborted with the signature in place. */
    out8(r, COMMAND, 0xec);
    CHECK_EQ(r->irq_level, 1);
    CHECK_EQ(alt_status(r) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(r->irq_level, 1);           /* the alternate status does not acknowledge */
    CHECK_EQ(in8(r, ERROR), 0x04);
    CHECK_EQ(in8(r, LBAM), 0x14);
    CHECK_EQ(in8(r, LBAH), 0xeb);
    in8(r, STATUS);
    CHECK_EQ(r->irq_level, 0);
    rig_free(r);
}

TEST(identify_packet_device)
{
    struct rig *r = rig_new();
    CHECK(r);
    out8(r, COMMAND, 0xa1);
    CHECK_EQ(r->irq_edges, 1);
    CHECK_EQ(in8(r, STATUS) & (ST_BSY | ST_DRQ | ST_ERR), ST_DRQ);
    uint16_t id[256];
    for (int i = 0; i < 256; i++)
        id[i] = in16(r);
    CHECK_EQ(id[0], 0x85c0);                           /* ATAPI CD-ROM, removable, 12-byte packets */
    char model[41];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(id[27 + i] >> 8);
        model[2 * i + 1] = (char)id[27 + i];
    }
    model[40] = 0;
    CHECK(!strncmp(model, "VMM DVD-ROM ", 12));
    CHECK_EQ(id[49] & (1u << 9), 1u << 9);             /* LBA */
    CHECK_EQ(id[49] & (1u << 8), 0);                   /* no DMA */
    CHECK_EQ(id[82] & (1u << 4), 1u << 4);             /* PACKET feature set */
    CHECK_EQ(id[93] & 0xdf61, 0x4041);                 /* device 0 answers for the absent device 1 */
    CHECK_EQ(in8(r, STATUS) & (ST_DRQ | ST_DRDY), ST_DRDY);
    CHECK_EQ(r->irq_edges, 2);
    CHECK_EQ(in16(r), 0);                              /* no data phase any more */
    rig_free(r);
}

TEST(packet_unit_attention_then_request_sense)
{
    struct rig *r = rig_new();
    CHECK(r);
    packet(r, TUR, 0);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(in8(r, ERROR) >> 4, 0x6);                 /* UNIT ATTENTION (power on) */
    CHECK_EQ(in8(r, NSECTOR) & 3, 3);                  /* CoD=1 IO=1: status phase */
    packet(r, REQUEST_SENSE, 18);
    CHECK_EQ(in8(r, STATUS) & ST_DRQ, ST_DRQ);
    CHECK_EQ(in8(r, NSECTOR) & 3, 2);                  /* IO=1, CoD=0: data to the host */
    uint8_t sense[18];
    CHECK_EQ(read_block(r, sense), 18);
    CHECK_EQ(sense[0] & 0x7f, 0x70);
    CHECK_EQ(sense[2] & 0xf, 0x6);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), 0);
    packet(r, TUR, 0);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), 0);
    rig_free(r);
}

TEST(read10_in_drq_blocks_across_refills)
{
    struct rig *r = rig_new();
    CHECK(r);
    clear_unit_attention(r);
    /* 40 blocks (80 KiB, more than one 64 KiB refill) from LBA 3, in DRQ blocks of at most 0xfffe. */
    const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 40, 0 };
    static uint8_t got[40 * 2048];
    packet(r, read10, 0xfffe);
    unsigned total = 0, blocks = 0;
    while ((in8(r, STATUS) & ST_DRQ) && total < sizeof(got)) {
        unsigned n = read_block(r, got + total);
        CHECK(n > 0 && n <= 0xfffe);
        total += n;
        blocks++;
    }
    CHECK_EQ(total, sizeof(got));
    CHECK(blocks >= 2);
    CHECK(!memcmp(got, r->image + 3 * 2048, sizeof(got)));
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), 0);
    CHECK_EQ(in8(r, NSECTOR) & 3, 3);
    /* SeaBIOS's way: a byte count limit of one block, 32-bit data reads. */
    const uint8_t read2[12] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 2, 0 };
    packet(r, read2, 2048);
    for (int b = 0; b < 2; b++) {
        CHECK_EQ(in8(r, STATUS) & ST_DRQ, ST_DRQ);
        CHECK_EQ(in8(r, LBAM) | in8(r, LBAH) << 8, 2048);
        for (int i = 0; i < 2048; i += 4) {
            uint8_t w[4];
            ide_cmd_io(&r->d, DATA, w, 4, false);
            CHECK(!memcmp(w, r->image + (7 + b) * 2048 + i, 4));
        }
    }
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), 0);
    rig_free(r);
}

TEST(read_errors_and_bad_requests)
{
    struct rig *r = rig_new();
    CHECK(r);
    clear_unit_attention(r);
    const uint8_t past_end[12] = { 0x28, 0, 0, 0, 0, IMAGE_BLOCKS, 0, 0, 1, 0 };
    packet(r, past_end, 2048);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(in8(r, ERROR) >> 4, 0x5);                 /* ILLEGAL REQUEST */
    r->fail_reads = true;
    const uint8_t read1[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
    packet(r, read1, 2048);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(in8(r, ERROR) >> 4, 0x3);                 /* MEDIUM ERROR */
    r->fail_reads = false;
    /* DMA asked for: this drive does PIO only. */
    out8(r, FEATURES, 1);
    out8(r, COMMAND, 0xa0);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(in8(r, ERROR), 0x04);
    /* A byte count limit of 0 is taken as the largest; an odd one is rounded down. */
    const uint8_t read_big[12] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 33, 0 };
    packet(r, read_big, 0);
    CHECK_EQ(in8(r, LBAM) | in8(r, LBAH) << 8, 0xfffe);
    packet(r, read1, 2049);
    CHECK_EQ(in8(r, LBAM) | in8(r, LBAH) << 8, 2048);
    /* A new command abandons the transfer; unknown commands abort. */
    out8(r, COMMAND, 0x00);
    CHECK_EQ(in8(r, STATUS) & (ST_ERR | ST_DRQ), ST_ERR);
    CHECK_EQ(in16(r), 0);
    rig_free(r);
}

TEST(absent_slave_and_interrupt_enable)
{
    struct rig *r = rig_new();
    CHECK(r);
    out8(r, DEVICE, 0x10);
    CHECK_EQ(in8(r, STATUS), 0);
    CHECK_EQ(alt_status(r), 0);
    out8(r, COMMAND, 0xa1);                            /* ignored: nothing is device 1 */
    CHECK_EQ(r->irq_edges, 0);
    CHECK_EQ(in16(r), 0);
    out8(r, DEVICE, 0x00);
    control(r, 0x02);                                  /* nIEN */
    out8(r, COMMAND, 0xa1);
    CHECK_EQ(r->irq_level, 0);
    CHECK_EQ(alt_status(r) & ST_DRQ, ST_DRQ);
    control(r, 0x00);
    CHECK_EQ(r->irq_level, 1);                         /* the pending request shows once enabled */
    rig_free(r);
}

TEST(software_reset)
{
    struct rig *r = rig_new();
    CHECK(r);
    out8(r, COMMAND, 0xa1);
    control(r, 0x04);                                  /* SRST */
    CHECK_EQ(alt_status(r) & ST_BSY, ST_BSY);
    out8(r, COMMAND, 0xa1);                            /* ignored while busy */
    control(r, 0x00);
    CHECK_EQ(alt_status(r), 0);
    CHECK_EQ(in8(r, LBAM), 0x14);
    CHECK_EQ(in8(r, LBAH), 0xeb);
    CHECK_EQ(in8(r, ERROR), 0x01);
    CHECK_EQ(in16(r), 0);                              /* the IDENTIFY transfer is gone */
    rig_free(r);
}

TEST(pci_identity_is_piix3_ide)
{
    struct rig *r = rig_new();
    CHECK(r);
    CHECK_EQ(pci_config_read(&r->d.pci, 0, 4), 0x70108086);
    CHECK_EQ(pci_config_read(&r->d.pci, 0x08, 4) >> 8, 0x010180);
    CHECK_EQ(pci_config_read(&r->d.pci, 0x40, 2) & 0x8000, 0x8000);
    CHECK_EQ(pci_config_read(&r->d.pci, 0x42, 2) & 0x8000, 0x8000);
    pci_config_write(&r->d.pci, 0x40, 2, 0xa307);
    CHECK_EQ(pci_config_read(&r->d.pci, 0x40, 2), 0xa307);
    CHECK_EQ(pci_config_read(&r->d.pci, 0x20, 4), 0);     /* no bus-master BAR: PIO only */
    rig_free(r);
}
