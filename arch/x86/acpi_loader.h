/* ACPI tables as fw_cfg files plus the table-loader script SeaBIOS runs to place, link and checksum
 * them (QEMU hw/acpi/bios-linker-loader.c command format; SeaBIOS src/fw/romfile_loader.c). */
#ifndef ARCH_X86_ACPI_LOADER_H
#define ARCH_X86_ACPI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi.h"
#include "devices/fw_cfg.h"

#define ACPI_LOADER_TABLES_FILE "etc/acpi/tables"
#define ACPI_LOADER_RSDP_FILE "etc/acpi/rsdp"
#define ACPI_LOADER_SCRIPT_FILE "etc/table-loader"

/* One command: le32 command, then its fields; 128 bytes in all, zero-padded. */
#define ACPI_LOADER_ENTRY_SIZE 128
#define ACPI_LOADER_FILE_NAME 56
enum acpi_loader_command {
    ACPI_LOADER_ALLOCATE = 1,      /* file[56] @4, le32 align @60, u8 zone @64 */
    ACPI_LOADER_ADD_POINTER = 2,   /* dest_file[56] @4, src_file[56] @60, le32 offset @116, u8 size @120 */
    ACPI_LOADER_ADD_CHECKSUM = 3,  /* file[56] @4, le32 offset @60, le32 start @64, le32 length @68 */
};
enum acpi_loader_zone {
    ACPI_LOADER_ZONE_HIGH = 1,     /* any RAM below 4 GiB the BIOS reserves */
    ACPI_LOADER_ZONE_FSEG = 2,     /* the 0xf0000 segment, where the guest OS scans for the RSDP */
};
#define ACPI_LOADER_TABLES_ALIGN 64 /* the FACS must be 64-byte aligned */
#define ACPI_LOADER_RSDP_ALIGN 16  /* ACPI 6.4 §5.2.5.1: RSDP on a 16-byte boundary */

/* The three files. In `tables` the RSDP's bytes are zeroed (the live RSDP is the `rsdp` file);
 * every pointer field holds the offset of its target inside `tables`, every checksum byte is 0. */
struct acpi_loader_files {
    uint8_t *tables, *rsdp, *script;
    size_t tables_len, rsdp_len, script_len;
};

/* Builds the files for configuration `c`. 0, or acpi_build's errors, -EINVAL, -ENOMEM. */
int acpi_loader_build(const struct acpi_config *c, struct acpi_loader_files *out);
void acpi_loader_files_free(struct acpi_loader_files *files);
/* Builds the files and adds them to `f` (tables and RSDP before the script). 0 or -errno. */
int acpi_loader_add_to_fw_cfg(struct fw_cfg *f, const struct acpi_config *c);

#endif
