/* Unit tests for the AML writer: PkgLength, names, data objects, nesting, resource descriptors. */
#include "tests/unit/check.h"
#include "arch/x86/aml.h"

#include <errno.h>

TEST_MAIN()

/* Decode a PkgLength (§20.2.4); sets *nbytes to its size. */
static uint32_t decode_pkglength(const uint8_t *p, int *nbytes)
{
    int follow = p[0] >> 6;
    *nbytes = follow + 1;
    if (!follow)
        return p[0] & 0x3f;
    uint32_t v = p[0] & 0x0f;
    for (int i = 1; i <= follow; i++)
        v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
    return v;
}

static int encode_is(uint32_t value, const uint8_t *expect, int n)
{
    uint8_t out[4] = { 0 };
    int got = aml_pkglength_encode(value, out);
    return got == n && !memcmp(out, expect, (size_t)n);
}

TEST(pkglength_boundaries)
{
    CHECK(encode_is(0, (const uint8_t[]){ 0x00 }, 1));
    CHECK(encode_is(63, (const uint8_t[]){ 0x3f }, 1));
    CHECK(encode_is(64, (const uint8_t[]){ 0x40, 0x04 }, 2));
    CHECK(encode_is(4095, (const uint8_t[]){ 0x4f, 0xff }, 2));
    CHECK(encode_is(4096, (const uint8_t[]){ 0x80, 0x00, 0x01 }, 3));
    CHECK(encode_is(1048575, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3));
    CHECK(encode_is(1048576, (const uint8_t[]){ 0xc0, 0x00, 0x00, 0x01 }, 4));
    CHECK(encode_is(AML_PKGLENGTH_MAX, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff }, 4));
    uint8_t out[4];
    CHECK_EQ(aml_pkglength_encode(AML_PKGLENGTH_MAX + 1, out), -E2BIG);
}

TEST(pkglength_roundtrip)
{
    const uint32_t values[] = { 1, 62, 63, 64, 65, 4094, 4095, 4096, 4097, 1048575, 1048576, 0x1234567 };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t out[4];
        int n = aml_pkglength_encode(values[i], out), got_n;
        CHECK(n > 0);
        CHECK_EQ(decode_pkglength(out, &got_n), values[i]);
        CHECK_EQ(got_n, n);
    }
}

TEST(pkglength_size_counts_itself)
{
    /* The PkgLength counts its own bytes: body + size must fit the chosen encoding. */
    CHECK_EQ(aml_pkglength_size(0), 1);
    CHECK_EQ(aml_pkglength_size(62), 1);
    CHECK_EQ(aml_pkglength_size(63), 2);
    CHECK_EQ(aml_pkglength_size(4093), 2);
    CHECK_EQ(aml_pkglength_size(4094), 3);
    CHECK_EQ(aml_pkglength_size(1048572), 3);
    CHECK_EQ(aml_pkglength_size(1048573), 4);
    CHECK_EQ(aml_pkglength_size(AML_PKGLENGTH_MAX - 4), 4);
    CHECK_EQ(aml_pkglength_size(AML_PKGLENGTH_MAX - 3), -E2BIG);
}

static int bytes_are(const struct aml *a, const uint8_t *expect, size_t n)
{
    return a->err == 0 && a->len == n && !memcmp(a->data, expect, n);
}

TEST(integers_shortest_form)
{
    struct aml a;
    aml_init(&a);
    aml_integer(&a, 0);
    aml_integer(&a, 1);
    aml_integer(&a, UINT64_MAX);
    aml_integer(&a, 0x12);
    aml_integer(&a, 0x1234);
    aml_integer(&a, 0x12345678);
    aml_integer(&a, 0x123456789aULL);
    aml_dword(&a, 5);
    const uint8_t expect[] = {
        0x00, 0x01, 0xff, 0x0a, 0x12, 0x0b, 0x34, 0x12, 0x0c, 0x78, 0x56, 0x34, 0x12,
        0x0e, 0x9a, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x0c, 0x05, 0x00, 0x00, 0x00,
    };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    CHECK_EQ(aml_finish(&a), 0);
    aml_free(&a);
}

TEST(strings)
{
    struct aml a;
    aml_init(&a);
    aml_string(&a, "QEMU0001");
    const uint8_t expect[] = { 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00 };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    aml_string(&a, "\xff");
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);
}

TEST(namestrings)
{
    struct aml a;
    aml_init(&a);
    aml_namestring(&a, "\\_SB.PCI0");
    aml_namestring(&a, "^FOO");
    aml_namestring(&a, "_S5");
    aml_namestring(&a, "\\");
    aml_namestring(&a, "A.B.C");
    const uint8_t expect[] = {
        0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
        0x5e, 'F', 'O', 'O', '_',
        '_', 'S', '5', '_',
        0x5c, 0x00,
        0x2f, 0x03, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_',
    };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    aml_free(&a);

    const char *bad[] = { "1ABC", "ABCDE", "A..B", "a", "\\_SB.", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aml_init(&a);
        aml_namestring(&a, bad[i]);
        CHECK_EQ(aml_finish(&a), -EINVAL);
        aml_free(&a);
    }
}

TEST(eisaid)
{
    CHECK_EQ(aml_eisaid("PNP0A03"), 0x030ad041);
    CHECK_EQ(aml_eisaid("PNP0501"), 0x0105d041);
    CHECK_EQ(aml_eisaid("PNP0A0"), 0);
    CHECK_EQ(aml_eisaid("pnp0A03"), 0);
    CHECK_EQ(aml_eisaid("PNP0A0G"), 0);
}

TEST(method_and_device)
{
    struct aml a;
    aml_init(&a);
    aml_device_begin(&a, "DEV0");
    aml_method_begin(&a, "_STA", 0, false);
    aml_return(&a);
    aml_integer(&a, 0x0f);
    aml_end(&a);
    aml_end(&a);
    const uint8_t expect[] = {
        0x5b, 0x82, 0x0f, 'D', 'E', 'V', '0',
        0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f,
    };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    CHECK_EQ(aml_finish(&a), 0);
    aml_free(&a);

    aml_init(&a);
    aml_method_begin(&a, "M", 2, true);
    aml_end(&a);
    const uint8_t expect2[] = { 0x14, 0x06, 'M', '_', '_', '_', 0x0a };
    CHECK(bytes_are(&a, expect2, sizeof(expect2)));
    aml_method_begin(&a, "N", 8, false);
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);
}

TEST(name_and_nested_packages)
{
    struct aml a;
    aml_init(&a);
    aml_name(&a, "PKG");
    aml_package_begin(&a);
    aml_integer(&a, 1);
    aml_package_begin(&a);
    aml_integer(&a, 2);
    aml_string(&a, "A");
    aml_end(&a);
    aml_integer(&a, 0);
    aml_end(&a);
    const uint8_t expect[] = {
        0x08, 'P', 'K', 'G', '_',
        0x12, 0x0c, 0x03, 0x01,
        0x12, 0x07, 0x02, 0x0a, 0x02, 0x0d, 'A', 0x00,
        0x00,
    };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    CHECK_EQ(aml_finish(&a), 0);
    aml_free(&a);
}

TEST(var_package_past_255_elements)
{
    struct aml a;
    aml_init(&a);
    aml_package_begin(&a);
    for (int i = 0; i < 300; i++)
        aml_integer(&a, 0);
    aml_end(&a);
    CHECK_EQ(aml_finish(&a), 0);
    CHECK_EQ(a.data[0], 0x13);                /* VarPackageOp */
    int n;
    uint32_t pkglen = decode_pkglength(a.data + 1, &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(pkglen, a.len - 1);
    CHECK_EQ(a.data[1 + n], 0x0b);            /* VarNumElements = WordConst 300 */
    CHECK_EQ(a.data[2 + n] | a.data[3 + n] << 8, 300);
    aml_free(&a);
}

/* A Scope around a Buffer whose size crosses each PkgLength boundary: both lengths must decode. */
TEST(nested_lengths_across_boundaries)
{
    const size_t sizes[] = { 0, 57, 58, 59, 60, 61, 62, 63, 4085, 4090, 4095, 5000, 1048570, 1048580 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *payload = calloc(1, sizes[i] + 1);
        CHECK(payload);
        struct aml a;
        aml_init(&a);
        aml_scope_begin(&a, "\\_SB");
        aml_name(&a, "BUF");
        aml_buffer(&a, payload, sizes[i]);
        aml_end(&a);
        free(payload);
        CHECK_EQ(aml_finish(&a), 0);
        int n, m;
        CHECK_EQ(a.data[0], 0x10);
        uint32_t scope_len = decode_pkglength(a.data + 1, &n);
        CHECK_EQ(scope_len, a.len - 1);
        /* Scope body: '\' "_SB_" NameOp "BUF_" BufferOp PkgLength BufferSize payload */
        const uint8_t *buf = a.data + 1 + n + 5 + 5;
        CHECK_EQ(buf[0], 0x11);
        uint32_t buf_len = decode_pkglength(buf + 1, &m);
        CHECK_EQ(buf_len, (size_t)(a.data + a.len - (buf + 1)));
        /* The encoding must be the shortest one. */
        CHECK_EQ(m, aml_pkglength_size(buf_len - (uint32_t)m));
        aml_free(&a);
    }
}

TEST(resource_template_io_irq)
{
    struct aml a;
    aml_init(&a);
    aml_resource_begin(&a);
    aml_res_io(&a, 0x3f8, 0x3f8, 1, 8);
    aml_res_irq_noflags(&a, 1u << 4);
    aml_resource_end(&a);
    const uint8_t expect[] = {
        0x11, 0x10, 0x0a, 0x0d,
        0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
        0x22, 0x10, 0x00,
        0x79, 0x00,
    };
    CHECK(bytes_are(&a, expect, sizeof(expect)));
    CHECK_EQ(aml_finish(&a), 0);
    aml_free(&a);
}

TEST(resource_address_descriptors)
{
    struct aml a;
    aml_init(&a);
    aml_res_word_bus(&a, 0, 0xff);
    CHECK_EQ(a.len, 16);
    const uint8_t word_bus[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0x00, 0x00, 0xff, 0x00,
                                 0, 0, 0x00, 0x01 };
    CHECK(!memcmp(a.data, word_bus, 16));
    aml_res_dword_memory(&a, AML_MEM_RW, 0xc0000000, 0xfebfffff);
    CHECK_EQ(a.len, 16 + 26);
    CHECK_EQ(a.data[16], 0x87);
    CHECK_EQ(a.data[16 + 1], 23);
    CHECK_EQ(a.data[16 + 5], AML_MEM_RW);
    aml_res_qword_memory(&a, AML_MEM_RW, 0x8000000000ULL, 0xffffffffffULL);
    CHECK_EQ(a.len, 16 + 26 + 46);
    CHECK_EQ(a.data[42], 0x8a);
    CHECK_EQ(a.data[43], 43);
    aml_res_memory32_fixed(&a, true, 0xfed00000, 0x400);
    CHECK_EQ(a.len, 16 + 26 + 46 + 12);
    aml_res_memory32(&a, true, 0x1000, 0x2000, 0x1000, 0x1000);
    CHECK_EQ(a.len, 16 + 26 + 46 + 12 + 20);
    CHECK_EQ(aml_finish(&a), 0);
    aml_free(&a);

    aml_init(&a);
    struct aml_addr too_wide = { .type = AML_RES_IO, .min = 0, .max = 0x10000, .len = 0x10001 };
    aml_res_word(&a, &too_wide);
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);
    aml_init(&a);
    aml_res_qword_memory(&a, 0, 2, 1);
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);
}

TEST(unbalanced_and_too_deep)
{
    struct aml a;
    aml_init(&a);
    aml_end(&a);
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);

    aml_init(&a);
    aml_scope_begin(&a, "\\");
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);

    aml_init(&a);
    for (int i = 0; i <= AML_MAX_DEPTH; i++)
        aml_package_begin(&a);
    CHECK_EQ(aml_finish(&a), -E2BIG);
    aml_free(&a);

    aml_init(&a);
    aml_resource_end(&a);                       /* not inside a resource template */
    CHECK_EQ(aml_finish(&a), -EINVAL);
    aml_free(&a);
}
