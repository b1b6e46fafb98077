/* SMBIOS tables for the firmware's fw_cfg files etc/smbios/smbios-anchor and etc/smbios/smbios-tables
 * (DMTF DSP0134 3.x; SeaBIOS places the table, adds its own type 0 and fixes the anchor). */
#ifndef ARCH_X86_SMBIOS_H
#define ARCH_X86_SMBIOS_H

#include <stddef.h>
#include <stdint.h>

#define SMBIOS_ANCHOR_LEN 31        /* 2.1 (32-bit) entry point, DSP0134 §5.2.1 */

struct smbios_config {
    int cpus;
    uint64_t ram_below_4g, ram_above_4g;   /* bytes */
    uint8_t uuid[16];
    const char *product;               /* system product name */
};

struct smbios_blob {
    uint8_t anchor[SMBIOS_ANCHOR_LEN];
    uint8_t *tables;                   /* malloc'd structure table */
    size_t tables_len;
    int nstructs;
};

/* Builds the structure table (types 1, 3, 4 per CPU, 16, 17 per 16 GiB, 19, 32, 127) and its
 * entry point; 0 or -ENOMEM / -EINVAL. Free with smbios_free. */
int smbios_build(const struct smbios_config *c, struct smbios_blob *out);
void smbios_free(struct smbios_blob *b);

#endif
