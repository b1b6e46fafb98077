/* A small AML byte-code writer (ACPI 6.4 §20) for the DSDT: names, data objects, scopes, resources. */
#ifndef ARCH_X86_AML_H
#define ARCH_X86_AML_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Deepest nesting of open Scope/Device/Method/Package/Buffer constructs. */
#define AML_MAX_DEPTH 16
/* Largest value a PkgLength can hold (§20.2.4: 4 + 8 + 8 + 8 bits). */
#define AML_PKGLENGTH_MAX 0x0fffffffu

enum aml_frame_kind {
    AML_FRAME_PLAIN,    /* Scope, Device, Method: PkgLength only */
    AML_FRAME_PACKAGE,  /* Package: PkgLength + NumElements (VarPackage past 255) */
    AML_FRAME_BUFFER,   /* Buffer: PkgLength + BufferSize */
};

/* An open construct: its PkgLength is inserted at `body` when it is closed. */
struct aml_frame {
    size_t body;        /* offset of the first byte after the opcode */
    size_t opcode;      /* offset of the opcode (rewritten for VarPackage) */
    enum aml_frame_kind kind;
    uint32_t nitems;    /* data objects emitted directly inside (packages) */
};

/* The writer. Errors are sticky: after the first, every call does nothing and aml_finish reports it. */
struct aml {
    uint8_t *data;
    size_t len, cap;
    int err;            /* 0, -ENOMEM, -EINVAL (bad name, unbalanced end), -E2BIG */
    struct aml_frame open[AML_MAX_DEPTH];
    int depth;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0 when every construct was closed and no error happened; else the error (-EINVAL if left open). */
int aml_finish(struct aml *a);

/* PkgLength (§20.2.4) encoding of a total package length `pkglen` (which counts the PkgLength bytes
 * themselves). Returns the number of bytes written to `out` (1..4), or -E2BIG. */
int aml_pkglength_encode(uint32_t pkglen, uint8_t out[4]);
/* Bytes of PkgLength needed in front of `body_len` bytes (1..4), or -E2BIG. */
int aml_pkglength_size(size_t body_len);

/* EISA ID "PNP0A03" compressed to its 32-bit form (ASL EISAID, §19.6); 0 if malformed. */
uint32_t aml_eisaid(const char *id);

/* Raw bytes. */
void aml_bytes(struct aml *a, const void *p, size_t n);
/* NameString (§20.2.2): "\\_SB.PCI0", "^FOO", "_S5", "COM1"; segments padded with '_'. */
void aml_namestring(struct aml *a, const char *path);

/* Data objects (§20.2.3); each counts as one element when emitted directly inside a package. */
void aml_integer(struct aml *a, uint64_t v);   /* shortest: Zero, One, Ones, Byte/Word/DWord/QWord */
void aml_dword(struct aml *a, uint32_t v);     /* always DWordConst (e.g. an EisaId) */
void aml_string(struct aml *a, const char *s); /* ASCII, no NUL inside */
void aml_buffer(struct aml *a, const void *p, size_t n);

/* Name(name, <the next object emitted>): DefName (§20.2.5.1). */
void aml_name(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Nested constructs, each closed with aml_end (innermost first). */
void aml_scope_begin(struct aml *a, const char *path);          /* DefScope (§20.2.5.1) */
void aml_device_begin(struct aml *a, const char *name);         /* DefDevice (§20.2.5.2) */
void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized); /* DefMethod */
void aml_package_begin(struct aml *a);                          /* DefPackage/DefVarPackage (§20.2.5.4) */
void aml_end(struct aml *a);
/* Return(<the next object emitted>): DefReturn (§20.2.5.3). */
void aml_return(struct aml *a);

/* ResourceTemplate (ASL, §19.3.3): a Buffer of resource descriptors (§6.4) closed by an End Tag. */
void aml_resource_begin(struct aml *a);
void aml_resource_end(struct aml *a);

/* Small descriptors (§6.4.2). */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);  /* Decode16 */
void aml_res_irq_noflags(struct aml *a, uint16_t mask);  /* IRQNoFlags: edge, active-high, exclusive */

/* Large descriptors (§6.4.3). */
void aml_res_memory32(struct aml *a, bool rw, uint32_t min, uint32_t max, uint32_t align, uint32_t len);
void aml_res_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len);

/* Address space descriptors (§6.4.3.5): resource types and flags. */
enum { AML_RES_MEMORY = 0, AML_RES_IO = 1, AML_RES_BUS = 2 };
#define AML_ADDR_CONSUMER 0x01   /* general flags bit 0: 1 consumer, 0 producer */
#define AML_ADDR_SUB_DECODE 0x02 /* _DEC */
#define AML_ADDR_MIN_FIXED 0x04  /* _MIF */
#define AML_ADDR_MAX_FIXED 0x08  /* _MAF */
#define AML_MEM_RW 0x01          /* memory type-specific flags: _RW */
#define AML_MEM_CACHEABLE 0x02   /* _MEM = 1 */
#define AML_MEM_WC 0x04          /* _MEM = 2 */
#define AML_MEM_PREFETCHABLE 0x06 /* _MEM = 3 */
#define AML_IO_ENTIRE_RANGE 0x03 /* I/O type-specific flags: _RNG = 3 */

struct aml_addr {
    uint8_t type, general_flags, type_flags;
    uint64_t granularity, min, max, translation, len;
};
void aml_res_word(struct aml *a, const struct aml_addr *d);   /* §6.4.3.5.3 */
void aml_res_dword(struct aml *a, const struct aml_addr *d);  /* §6.4.3.5.2 */
void aml_res_qword(struct aml *a, const struct aml_addr *d);  /* §6.4.3.5.1 */

/* Producer windows of a host bridge, min/max fixed, positive decode. */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml *a, uint8_t mem_flags, uint32_t min, uint32_t max);
void aml_res_qword_memory(struct aml *a, uint8_t mem_flags, uint64_t min, uint64_t max);

#endif
