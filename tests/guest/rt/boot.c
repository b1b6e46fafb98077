/* Guest runtime: the C start (boot mode, PVH start_info, IDT, ACPI) and the call into main. */
#include "rt.h"

struct boot_info boot;

#define CMDLINE_MAX 4096

const char *boot_mode_name(void)
{
    static const char *const names[] = { "firmware", "pvh", "multiboot" };
    return names[boot.mode];
}

bool boot_cmdline_has(const char *word)
{
    size_t len = 0;
    while (len < CMDLINE_MAX && boot.cmdline[len])
        len++;
    return mem_find(boot.cmdline, len, word, strlen(word)) != NULL;
}

/* Multiboot §3.3: the command line is there when flags bit 2 is set. */
static void boot_detect_multiboot(uint32_t info_addr)
{
    boot.mode = BOOT_MULTIBOOT;
    if (!acpi_addr_ok(info_addr, sizeof(struct multiboot_info)))
        return;
    const struct multiboot_info *mbi = (const void *)(uintptr_t)info_addr;
    if ((mbi->flags & MULTIBOOT_INFO_CMDLINE) && acpi_addr_ok(mbi->cmdline, CMDLINE_MAX))
        boot.cmdline = (const char *)(uintptr_t)mbi->cmdline;
}

/* Xen start_info.h: the structure is valid when its magic matches. */
static void boot_detect(uint32_t start_info)
{
    boot.mode = BOOT_FIRMWARE;
    boot.start_info = NULL;
    boot.cmdline = "";
    if (multiboot_info_saved) {
        boot_detect_multiboot(multiboot_info_saved);
        return;
    }
    if (!start_info || !acpi_addr_ok(start_info, sizeof(struct hvm_start_info)))
        return;
    const struct hvm_start_info *si = (const void *)(uintptr_t)start_info;
    if (si->magic != HVM_START_MAGIC)
        return;
    boot.mode = BOOT_PVH;
    boot.start_info = si;
    if (si->cmdline_paddr && acpi_addr_ok(si->cmdline_paddr, CMDLINE_MAX))
        boot.cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
}

void rt_start(uint32_t start_info)
{
    serial_init();
    boot_detect(start_info);
    idt_init();
    acpi_init();
    main();
    poweroff();
}
