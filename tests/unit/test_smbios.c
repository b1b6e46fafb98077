/* Unit tests for the SMBIOS tables: entry point checksums and lengths, structure framing (formatted
 * area, string set, double NUL), the structures present, and memory sizes past the 16-bit fields. */
#include <errno.h>
#include <stdbool.h>

#include "arch/x86/smbios.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the table: counts structures of `type` (all when type < 0), returns -1 on bad framing. */
static int count(const struct smbios_blob *b, int type, const uint8_t **first)
{
    size_t off = 0;
    int n = 0;
    bool ended = false;
    while (off < b->tables_len) {
        const uint8_t *s = b->tables + off;
        if (ended || off + 4 > b->tables_len || s[1] < 4 || off + s[1] + 2 > b->tables_len)
            return -1;
        if (type < 0 || s[0] == type) {
            if (!n && first)
                *first = s;
            n++;
        }
        ended = s[0] == 127;
        size_t p = off + s[1];
        while (p + 1 < b->tables_len && !(b->tables[p] == 0 && b->tables[p + 1] == 0))
            p++;
        if (p + 1 >= b->tables_len)
            return -1;
        off = p + 2;
    }
    return ended ? n : -1;
}

TEST(entry_point_valid)
{
    struct smbios_config c = { .cpus = 2, .ram_below_4g = 256 * MiB };
    struct smbios_blob b;
    CHECK_EQ(smbios_build(&c, &b), 0);
    CHECK(!memcmp(b.anchor, "_SM_", 4));
    CHECK(!memcmp(b.anchor + 16, "_DMI_", 5));
    CHECK_EQ(b.anchor[5], SMBIOS_ANCHOR_LEN);
    CHECK_EQ(sum(b.anchor, 16), 0);
    CHECK_EQ(sum(b.anchor + 16, SMBIOS_ANCHOR_LEN - 16), 0);
    CHECK_EQ(b.anchor[22] | b.anchor[23] << 8, b.tables_len);     /* SeaBIOS requires the file size */
    CHECK_EQ(b.anchor[28] | b.anchor[29] << 8, b.nstructs);
    CHECK_EQ(count(&b, -1, NULL), b.nstructs);
    smbios_free(&b);
}

TEST(structures_present)
{
    struct smbios_config c = { .cpus = 3, .ram_below_4g = 512 * MiB };
    struct smbios_blob b;
    CHECK_EQ(smbios_build(&c, &b), 0);
    const uint8_t *t1 = NULL, *t17 = NULL, *t19 = NULL;
    CHECK_EQ(count(&b, 1, &t1), 1);
    CHECK_EQ(count(&b, 3, NULL), 1);
    CHECK_EQ(count(&b, 4, NULL), 3);
    CHECK_EQ(count(&b, 16, NULL), 1);
    CHECK_EQ(count(&b, 17, &t17), 1);
    CHECK_EQ(count(&b, 19, &t19), 1);
    CHECK_EQ(count(&b, 32, NULL), 1);
    CHECK_EQ(count(&b, 127, NULL), 1);
    CHECK_EQ(count(&b, 0, NULL), 0);                             /* type 0 is the firmware's */
    CHECK(!strcmp((const char *)t1 + t1[1], "vmm"));             /* string 1: manufacturer */
    CHECK_EQ(t17[12] | t17[13] << 8, 512);                      /* MiB */
    CHECK_EQ(le32(t19 + 4), 0);
    CHECK_EQ(le32(t19 + 8), 512 * 1024 - 1);                    /* KiB, inclusive */
    smbios_free(&b);
}

TEST(large_memory_uses_extended_fields)
{
    struct smbios_config c = { .cpus = 1, .ram_below_4g = 3 * GiB, .ram_above_4g = 5ULL << 40 };
    struct smbios_blob b;
    CHECK_EQ(smbios_build(&c, &b), 0);
    const uint8_t *t16 = NULL, *t17 = NULL;
    uint64_t ram = 3 * GiB + (5ULL << 40);
    int ndimms = (int)((ram / MiB + 16383) / 16384);
    CHECK_EQ(count(&b, 16, &t16), 1);
    CHECK_EQ(le32(t16 + 7), 0x80000000u);
    CHECK_EQ(count(&b, 17, &t17), ndimms);
    CHECK_EQ(t17[12] | t17[13] << 8, 16384);                    /* 16 GiB devices */
    CHECK_EQ(count(&b, 19, NULL), 2);
    smbios_free(&b);
}

TEST(bad_config_refused)
{
    struct smbios_blob b;
    struct smbios_config none = { .cpus = 0, .ram_below_4g = 256 * MiB };
    CHECK_EQ(smbios_build(&none, &b), -EINVAL);
    struct smbios_config noram = { .cpus = 1 };
    CHECK_EQ(smbios_build(&noram, &b), -EINVAL);
}
