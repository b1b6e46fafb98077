/* Linux boot protocol layout: offsets in the zero page (struct boot_params) and its setup header.
 * Linux Documentation/arch/x86/boot.rst ("The real-mode kernel header") and zero-page.rst. */
#ifndef FIRMWARE_BOOT_PARAMS_H
#define FIRMWARE_BOOT_PARAMS_H

#define ZP_ACPI_RSDP 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES 0x1e8
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
#define ZP_E820_TABLE 0x2d0
#define ZP_SIZE 0x1000
#define HDR_PREF_ADDRESS 0x258

#endif
