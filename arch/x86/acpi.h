/* ACPI tables for the x86 PC guest (ACPI 6.4 §5.2): RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT. */
#ifndef ARCH_X86_ACPI_H
#define ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct acpi_config {
    int ncpus;                       /* 1..255, APIC IDs 0..ncpus-1 */
    uint32_t lapic_addr;             /* 0xfee00000 */
    uint32_t ioapic_addr;            /* 0xfec00000 */
    uint8_t ioapic_id;               /* = ncpus */
    uint16_t pm1a_evt_port;          /* 0x600: PM1_STS (2 bytes) + PM1_EN (2 bytes) */
    uint16_t pm1a_cnt_port;          /* 0x604: PM1_CNT, 2 bytes */
    uint16_t pm_tmr_port;            /* 0x608: PM timer, 4 bytes, 32-bit (FADT flag TMR_VAL_EXT) */
    uint8_t sci_irq;                 /* 9 */
    uint8_t s5_slp_typ;              /* 5: value of \_S5 package and of the PM1_CNT SLP_TYP field */
    uint16_t reset_port;             /* 0xcf9: FADT RESET_REG (system I/O) */
    uint8_t reset_value;             /* 0x06 */
    bool pvpanic;                    /* ISA pvpanic device "QEMU0001" */
    uint16_t pvpanic_port;           /* 0x505 */
    uint16_t com1_port;              /* 0x3f8 */
    uint8_t com1_irq;                /* 4 */
    uint32_t pci_mmio32_base;        /* PCI root bridge 32-bit window, e.g. 0xc0000000 */
    uint32_t pci_mmio32_limit;       /* ... to 0xfebfffff (inclusive) */
    uint64_t pci_mmio64_base;        /* 64-bit window */
    uint64_t pci_mmio64_size;        /* 0: none */
    size_t max_len;                  /* room for the blob at `base`; 0: no limit (else -ENOSPC) */
};

#define ACPI_MAX_POINTERS 32
#define ACPI_MAX_CHECKSUMS 16
#define ACPI_MAX_TABLES 16

/* One contiguous blob, to be placed at guest-physical `base`. */
struct acpi_tables {
    uint8_t *data;
    size_t len, cap;
    uint64_t base;                   /* the guest-physical address the pointers were computed for */
    size_t rsdp_off;                 /* offset of the RSDP inside data */
    /* Every field holding a guest-physical pointer to another table: offset of the pointer field,
     * its width (4 or 8), and the offset of the table it points at. The field holds base + target. */
    struct acpi_pointer { size_t at; uint8_t width; size_t target; } pointers[ACPI_MAX_POINTERS];
    int npointers;
    /* Every checksum: the byte at `at` makes the sum of [start, start+len) zero. Apply in list order
     * (the RSDP's extended checksum covers its first one). */
    struct acpi_checksum { size_t start, len, at; } checksums[ACPI_MAX_CHECKSUMS];
    int nchecksums;
    /* Every table (the RSDP as "RSD "): signature, [off, off+len). */
    struct acpi_table_ref { char sig[5]; size_t off, len; } tables[ACPI_MAX_TABLES];
    int ntables;
};

/* Builds all tables with pointers computed for `base` (64-byte aligned; the blob must end below
 * 4 GiB since the RSDT and FADT hold 32-bit pointers). Returns 0, -EINVAL (bad config or base),
 * -ERANGE (above 4 GiB), -ENOSPC (more than c->max_len bytes), -ENOMEM. On failure `out` is empty. */
int acpi_build(const struct acpi_config *c, uint64_t base, struct acpi_tables *out);
void acpi_tables_free(struct acpi_tables *t);
/* The value making the byte sum of `p[0..len)` plus it zero. */
uint8_t acpi_checksum(const void *p, size_t len);
/* Rewrites every pointer for `new_base` and recomputes every checksum, as a table loader would. */
int acpi_relocate(struct acpi_tables *t, uint64_t new_base);
/* The table with signature `sig` ("FACP", "APIC", "DSDT", "FACS", "RSDT", "XSDT", "RSD "), or -1. */
int acpi_find_table(const struct acpi_tables *t, const char *sig);
/* A configuration with the PC defaults listed in the comments above, for `ncpus` vCPUs. */
void acpi_config_default(struct acpi_config *c, int ncpus);

#endif
