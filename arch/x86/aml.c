/* A small AML byte-code writer (ACPI 6.4 §20): growable buffer, open-construct stack, encoders. */
#include "arch/x86/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* AML opcodes (§20.2). */
enum {
    AML_ZERO_OP = 0x00, AML_ONE_OP = 0x01, AML_ONES_OP = 0xff,
    AML_NAME_OP = 0x08, AML_SCOPE_OP = 0x10, AML_BUFFER_OP = 0x11,
    AML_PACKAGE_OP = 0x12, AML_VAR_PACKAGE_OP = 0x13, AML_METHOD_OP = 0x14,
    AML_BYTE_PREFIX = 0x0a, AML_WORD_PREFIX = 0x0b, AML_DWORD_PREFIX = 0x0c,
    AML_STRING_PREFIX = 0x0d, AML_QWORD_PREFIX = 0x0e,
    AML_DUAL_NAME_PREFIX = 0x2e, AML_MULTI_NAME_PREFIX = 0x2f,
    AML_ROOT_CHAR = 0x5c, AML_PARENT_PREFIX_CHAR = 0x5e,
    AML_EXT_OP_PREFIX = 0x5b, AML_DEVICE_OP = 0x82, AML_RETURN_OP = 0xa4,
};

/* Resource descriptor tags (§6.4.2, §6.4.3). */
enum {
    RES_IRQ_NOFLAGS = 0x22, RES_IO = 0x47, RES_END_TAG = 0x79,
    RES_MEMORY32 = 0x85, RES_MEMORY32_FIXED = 0x86,
    RES_DWORD = 0x87, RES_WORD = 0x88, RES_QWORD = 0x8a,
};

void aml_init(struct aml *a)
{
    memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
    free(a->data);
    aml_init(a);
}

int aml_finish(struct aml *a)
{
    if (!a->err && a->depth != 0)
        a->err = -EINVAL;
    return a->err;
}

static void fail(struct aml *a, int err)
{
    if (!a->err)
        a->err = err;
}

/* Room for `n` more bytes; false (and a sticky error) if that cannot be had. */
static bool reserve(struct aml *a, size_t n)
{
    if (a->err)
        return false;
    if (n > SIZE_MAX / 2 - a->len) {
        fail(a, -E2BIG);
        return false;
    }
    if (a->len + n <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + n)
        cap *= 2;
    uint8_t *p = realloc(a->data, cap);
    if (!p) {
        fail(a, -ENOMEM);
        return false;
    }
    a->data = p;
    a->cap = cap;
    return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (!reserve(a, n))
        return;
    if (n)
        memcpy(a->data + a->len, p, n);
    a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
    aml_bytes(a, &v, 1);
}

/* Little-endian value of `width` bytes. */
static void put_le(struct aml *a, uint64_t v, unsigned width)
{
    uint8_t b[8];
    for (unsigned i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, width);
}

/* A data object directly inside a package is one of its elements. */
static void count_item(struct aml *a)
{
    if (a->depth > 0)
        a->open[a->depth - 1].nitems++;
}

/* --- PkgLength (§20.2.4) ------------------------------------------------------------------- */

/* Largest PkgLength value representable with 1, 2, 3, 4 bytes. */
static const uint32_t pkglength_max[4] = { 0x3f, 0xfff, 0xfffff, AML_PKGLENGTH_MAX };

int aml_pkglength_encode(uint32_t pkglen, uint8_t out[4])
{
    if (pkglen <= pkglength_max[0]) {
        out[0] = (uint8_t)pkglen;
        return 1;
    }
    int follow;
    for (follow = 1; follow < 4 && pkglen > pkglength_max[follow]; follow++)
        ;
    if (follow == 4)
        return -E2BIG;
    /* Lead byte: bits 7-6 count the following bytes, bits 3-0 hold the low nibble. */
    out[0] = (uint8_t)((follow << 6) | (pkglen & 0x0f));
    for (int i = 1; i <= follow; i++)
        out[i] = (uint8_t)(pkglen >> (4 + 8 * (i - 1)));
    return follow + 1;
}

int aml_pkglength_size(size_t body_len)
{
    for (int n = 1; n <= 4; n++)
        if (body_len <= pkglength_max[n - 1] - (uint32_t)n)
            return n;
    return -E2BIG;
}

/* --- names (§20.2.2) ------------------------------------------------------------------------ */

static bool name_lead_char(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_lead_char(c) || (c >= '0' && c <= '9');
}

/* One NameSeg from `s` (up to '.' or the end), padded with '_'; returns chars consumed or -1. */
static int parse_nameseg(const char *s, uint8_t seg[4])
{
    int n = 0;
    while (s[n] && s[n] != '.') {
        if (n == 4 || !(n == 0 ? name_lead_char(s[n]) : name_char(s[n])))
            return -1;
        seg[n] = (uint8_t)s[n];
        n++;
    }
    if (n == 0)
        return -1;
    for (int i = n; i < 4; i++)
        seg[i] = '_';
    return n;
}

/* Count the NameSegs of a dotted path without its prefix; -1 if malformed. */
static int count_namesegs(const char *s)
{
    if (!*s)
        return 0;
    int count = 0;
    uint8_t seg[4];
    for (;;) {
        int n = parse_nameseg(s, seg);
        if (n < 0)
            return -1;
        count++;
        s += n;
        if (!*s)
            return count;
        s++; /* '.' */
    }
}

void aml_namestring(struct aml *a, const char *path)
{
    if (!path) {
        fail(a, -EINVAL);
        return;
    }
    bool prefixed = *path == '\\' || *path == '^';
    if (*path == '\\') {
        put8(a, AML_ROOT_CHAR);
        path++;
    } else {
        while (*path == '^') {
            put8(a, AML_PARENT_PREFIX_CHAR);
            path++;
        }
    }
    int nsegs = count_namesegs(path);
    if (nsegs < 0 || nsegs > 255 || (nsegs == 0 && !prefixed)) {
        fail(a, -EINVAL);
        return;
    }
    if (nsegs == 0) {
        put8(a, 0x00); /* NullName */
        return;
    }
    if (nsegs == 2) {
        put8(a, AML_DUAL_NAME_PREFIX);
    } else if (nsegs > 2) {
        put8(a, AML_MULTI_NAME_PREFIX);
        put8(a, (uint8_t)nsegs);
    }
    for (int i = 0; i < nsegs; i++) {
        uint8_t seg[4];
        path += parse_nameseg(path, seg) + 1;
        aml_bytes(a, seg, 4);
    }
}

/* --- data objects (§20.2.3) ----------------------------------------------------------------- */

/* Shortest ComputationalData encoding of an integer; returns its size (1..9). */
static size_t integer_encoding(uint64_t v, uint8_t out[9])
{
    unsigned width;
    if (v == 0 || v == 1 || v == UINT64_MAX) {
        out[0] = v == 0 ? AML_ZERO_OP : v == 1 ? AML_ONE_OP : AML_ONES_OP;
        return 1;
    }
    if (v <= 0xff) {
        out[0] = AML_BYTE_PREFIX;
        width = 1;
    } else if (v <= 0xffff) {
        out[0] = AML_WORD_PREFIX;
        width = 2;
    } else if (v <= 0xffffffffu) {
        out[0] = AML_DWORD_PREFIX;
        width = 4;
    } else {
        out[0] = AML_QWORD_PREFIX;
        width = 8;
    }
    for (unsigned i = 0; i < width; i++)
        out[1 + i] = (uint8_t)(v >> (8 * i));
    return 1 + width;
}

void aml_integer(struct aml *a, uint64_t v)
{
    uint8_t enc[9];
    count_item(a);
    aml_bytes(a, enc, integer_encoding(v, enc));
}

void aml_dword(struct aml *a, uint32_t v)
{
    count_item(a);
    put8(a, AML_DWORD_PREFIX);
    put_le(a, v, 4);
}

void aml_string(struct aml *a, const char *s)
{
    if (!s) {
        fail(a, -EINVAL);
        return;
    }
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c > 0x7f) { /* AsciiChar is 0x01-0x7f */
            fail(a, -EINVAL);
            return;
        }
    }
    count_item(a);
    put8(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

uint32_t aml_eisaid(const char *id)
{
    if (!id || strlen(id) != 7)
        return 0;
    uint32_t letters = 0, digits = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z')
            return 0;
        letters = (letters << 5) | (uint32_t)(id[i] - 0x40);
    }
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        uint32_t nibble;
        if (c >= '0' && c <= '9')
            nibble = (uint32_t)(c - '0');
        else if (c >= 'A' && c <= 'F')
            nibble = (uint32_t)(c - 'A' + 10);
        else
            return 0;
        digits = (digits << 4) | nibble;
    }
    /* The ID is stored big-endian: letters (16 bits) then product number (16 bits). */
    uint32_t be = (letters << 16) | digits;
    return __builtin_bswap32(be);
}

/* --- nested constructs ---------------------------------------------------------------------- */

static void open_frame(struct aml *a, size_t opcode, enum aml_frame_kind kind)
{
    if (a->err)
        return;
    if (a->depth == AML_MAX_DEPTH) {
        fail(a, -E2BIG);
        return;
    }
    a->open[a->depth++] = (struct aml_frame){ .body = a->len, .opcode = opcode, .kind = kind };
}

/* The bytes that follow PkgLength and precede the body: NumElements or BufferSize. */
static size_t frame_extra(struct aml *a, const struct aml_frame *f, uint8_t extra[9])
{
    switch (f->kind) {
    case AML_FRAME_PACKAGE:
        if (f->nitems <= 255) {
            extra[0] = (uint8_t)f->nitems;
            return 1;
        }
        a->data[f->opcode] = AML_VAR_PACKAGE_OP; /* VarNumElements is a TermArg */
        return integer_encoding(f->nitems, extra);
    case AML_FRAME_BUFFER:
        return integer_encoding(a->len - f->body, extra);
    default:
        return 0;
    }
}

/* Insert `n` bytes at offset `at`, moving what follows. */
static void insert_bytes(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
    if (!reserve(a, n))
        return;
    memmove(a->data + at + n, a->data + at, a->len - at);
    memcpy(a->data + at, p, n);
    a->len += n;
}

void aml_end(struct aml *a)
{
    if (a->err)
        return;
    if (a->depth == 0) {
        fail(a, -EINVAL);
        return;
    }
    struct aml_frame f = a->open[--a->depth];
    uint8_t prefix[4 + 9];
    size_t nextra = frame_extra(a, &f, prefix + 4);
    size_t body_len = a->len - f.body + nextra;
    int n = aml_pkglength_size(body_len);
    if (n < 0) {
        fail(a, n);
        return;
    }
    uint8_t pkg[4];
    aml_pkglength_encode((uint32_t)(body_len + (size_t)n), pkg);
    /* PkgLength right before the extra bytes, packed at the tail of `prefix`. */
    memcpy(prefix + 4 - n, pkg, (size_t)n);
    insert_bytes(a, f.body, prefix + 4 - n, (size_t)n + nextra);
}

void aml_scope_begin(struct aml *a, const char *path)
{
    size_t op = a->len;
    put8(a, AML_SCOPE_OP);
    open_frame(a, op, AML_FRAME_PLAIN);
    aml_namestring(a, path);
}

void aml_device_begin(struct aml *a, const char *name)
{
    size_t op = a->len;
    put8(a, AML_EXT_OP_PREFIX);
    put8(a, AML_DEVICE_OP);
    open_frame(a, op, AML_FRAME_PLAIN);
    aml_namestring(a, name);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
    if (nargs > 7) {
        fail(a, -EINVAL);
        return;
    }
    size_t op = a->len;
    put8(a, AML_METHOD_OP);
    open_frame(a, op, AML_FRAME_PLAIN);
    aml_namestring(a, name);
    /* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel (0). */
    put8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package_begin(struct aml *a)
{
    count_item(a);
    size_t op = a->len;
    put8(a, AML_PACKAGE_OP);
    open_frame(a, op, AML_FRAME_PACKAGE);
}

static void buffer_begin(struct aml *a)
{
    count_item(a);
    size_t op = a->len;
    put8(a, AML_BUFFER_OP);
    open_frame(a, op, AML_FRAME_BUFFER);
}

void aml_buffer(struct aml *a, const void *p, size_t n)
{
    buffer_begin(a);
    aml_bytes(a, p, n);
    aml_end(a);
}

void aml_return(struct aml *a)
{
    put8(a, AML_RETURN_OP);
}

void aml_name(struct aml *a, const char *name)
{
    put8(a, AML_NAME_OP);
    aml_namestring(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
    aml_name(a, name);
    aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
    aml_name(a, name);
    aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
    uint32_t v = aml_eisaid(id);
    if (!v) {
        fail(a, -EINVAL);
        return;
    }
    aml_name(a, name);
    aml_dword(a, v);
}

/* --- resource descriptors (§6.4) ------------------------------------------------------------ */

void aml_resource_begin(struct aml *a)
{
    buffer_begin(a);
}

void aml_resource_end(struct aml *a)
{
    if (!a->err && (a->depth == 0 || a->open[a->depth - 1].kind != AML_FRAME_BUFFER)) {
        fail(a, -EINVAL);
        return;
    }
    /* End Tag (§6.4.2.9); a zero checksum means "treat as correct". */
    put8(a, RES_END_TAG);
    put8(a, 0);
    aml_end(a);
}

/* I/O Port Descriptor (§6.4.2.5), 16-bit decode. */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    put8(a, RES_IO);
    put8(a, 0x01); /* Information: _DEC = 1, decodes 16 address bits */
    put_le(a, min, 2);
    put_le(a, max, 2);
    put8(a, align);
    put8(a, len);
}

/* IRQ Descriptor (§6.4.2.1), the 2-byte form: edge-triggered, active-high, exclusive. */
void aml_res_irq_noflags(struct aml *a, uint16_t mask)
{
    put8(a, RES_IRQ_NOFLAGS);
    put_le(a, mask, 2);
}

/* Large descriptor header (§6.4.3): tag byte and 16-bit length of what follows. */
static void large_header(struct aml *a, uint8_t tag, uint16_t len)
{
    put8(a, tag);
    put_le(a, len, 2);
}

/* 32-Bit Memory Range Descriptor (§6.4.3.3). */
void aml_res_memory32(struct aml *a, bool rw, uint32_t min, uint32_t max, uint32_t align, uint32_t len)
{
    large_header(a, RES_MEMORY32, 17);
    put8(a, rw ? 1 : 0);
    put_le(a, min, 4);
    put_le(a, max, 4);
    put_le(a, align, 4);
    put_le(a, len, 4);
}

/* 32-Bit Fixed Memory Range Descriptor (§6.4.3.4). */
void aml_res_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len)
{
    large_header(a, RES_MEMORY32_FIXED, 9);
    put8(a, rw ? 1 : 0);
    put_le(a, base, 4);
    put_le(a, len, 4);
}

/* Address Space Descriptors (§6.4.3.5.1-3): the common layout with `width`-byte fields. */
static void address_space(struct aml *a, uint8_t tag, unsigned width, const struct aml_addr *d)
{
    uint64_t limit = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
    if (d->granularity > limit || d->min > limit || d->max > limit || d->translation > limit ||
        d->len > limit || d->type > 2 || d->min > d->max) {
        fail(a, -EINVAL);
        return;
    }
    large_header(a, tag, (uint16_t)(3 + 5 * width));
    put8(a, d->type);
    put8(a, d->general_flags);
    put8(a, d->type_flags);
    put_le(a, d->granularity, width);
    put_le(a, d->min, width);
    put_le(a, d->max, width);
    put_le(a, d->translation, width);
    put_le(a, d->len, width);
}

void aml_res_word(struct aml *a, const struct aml_addr *d)
{
    address_space(a, RES_WORD, 2, d);
}

void aml_res_dword(struct aml *a, const struct aml_addr *d)
{
    address_space(a, RES_DWORD, 4, d);
}

void aml_res_qword(struct aml *a, const struct aml_addr *d)
{
    address_space(a, RES_QWORD, 8, d);
}

/* A producer window [min, max] with fixed ends and positive decode. */
static struct aml_addr window(uint8_t type, uint8_t type_flags, uint64_t min, uint64_t max)
{
    return (struct aml_addr){
        .type = type,
        .general_flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED,
        .type_flags = type_flags,
        .min = min,
        .max = max,
        .len = max - min + 1,
    };
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
    struct aml_addr d = window(AML_RES_BUS, 0, min, max);
    aml_res_word(a, &d);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
    struct aml_addr d = window(AML_RES_IO, AML_IO_ENTIRE_RANGE, min, max);
    aml_res_word(a, &d);
}

void aml_res_dword_memory(struct aml *a, uint8_t mem_flags, uint32_t min, uint32_t max)
{
    struct aml_addr d = window(AML_RES_MEMORY, mem_flags, min, max);
    aml_res_dword(a, &d);
}

void aml_res_qword_memory(struct aml *a, uint8_t mem_flags, uint64_t min, uint64_t max)
{
    struct aml_addr d = window(AML_RES_MEMORY, mem_flags, min, max);
    aml_res_qword(a, &d);
}
