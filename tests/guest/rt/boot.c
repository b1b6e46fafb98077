/* Guest runtime: the C start (boot mode, PVH start_info, IDT, ACPI) and the call into main. */
#include "rt.h"

struct boot_info boot;

#define CMDLINE_MAX 4096

const char *boot_mode_name(void)
{
    return boot.mode == BOOT_PVH ? "pvh" : "firmware";
}

bool boot_cmdline_has(const char *word)
{
    size_t len = 0;
    while (len < CMDLINE_MAX && boot.cmdline[len])
        len++;
    return mem_find(boot.cmdline, len, word, strlen(word)) != NULL;
}

/* Xen start_info.h: the structure is valid when its magic matches. */
static void boot_detect(uint32_t start_info)
{
    boot.mode = BOOT_FIRMWARE;
    boot.start_info = NULL;
    boot.cmdline = "";
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
