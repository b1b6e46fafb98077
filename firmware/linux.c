/* Direct Linux boot: bzImage (boot protocol 2.x), ELF vmlinux via PVH or the 64-bit entry, initrd, cmdline.
 * References: Linux Documentation/arch/x86/boot.rst (setup header fields, offsets cited below),
 * Documentation/arch/x86/zero-page.rst, Xen include/public/arch-x86/hvm/start_info.h and
 * include/public/elfnote.h (XEN_ELFNOTE_PHYS32_ENTRY = 18). */
#include "linux.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "firmware/boot_params.h"
#include "firmware/file.h"
#include "vmm/log.h"

#define LOADFLAGS_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC 0x336ec578

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t low_ram_end(const struct guest_memory *mem)
{
    return mem_low_ram_size(mem);
}

/* Highest page-aligned spot for the initrd that stays below `limit` and above `floor`. */
static int place_initrd(const struct guest_memory *mem, size_t isize, uint64_t floor, uint64_t limit,
                        uint64_t *addr, char *err, size_t errlen)
{
    uint64_t top = low_ram_end(mem);
    if (limit && limit + 1 < top)
        top = limit + 1;
    if (isize > top || ((top - isize) & ~0xfffULL) < floor)
        return ERR("the initrd (%zu MiB) does not fit in guest RAM below %llu MiB with the kernel: raise --memory",
                   isize >> 20, (unsigned long long)(top >> 20));
    *addr = (top - isize) & ~0xfffULL;
    return 0;
}

static int write_cmdline(const struct guest_memory *mem, const char *cmdline, size_t max, char *err, size_t errlen)
{
    const char *c = cmdline ? cmdline : "";
    size_t len = strlen(c) + 1;
    if (len > max || len > LAYOUT_CMDLINE_MAX)
        return ERR("the kernel command line is %zu bytes; this kernel accepts at most %zu", len - 1, max - 1);
    return mem_write(mem, LAYOUT_CMDLINE, c, len) ? ERR("cannot place the command line in guest RAM") : 0;
}

static void zero_page_common(uint8_t *zp, const struct linux_boot_params *p, uint64_t initrd_addr, size_t isize)
{
    wr64(zp + ZP_ACPI_RSDP, p->rsdp);
    wr32(zp + HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
    wr32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
    wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    wr32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
    wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)isize);
    wr32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)isize >> 32));
    zp[HDR_TYPE_OF_LOADER] = 0xff;
    int n = p->e820->n > 128 ? 128 : p->e820->n;
    zp[ZP_E820_ENTRIES] = (uint8_t)n;
    memcpy(zp + ZP_E820_TABLE, p->e820->entries, n * sizeof(struct e820_entry));
}

static int load_bzimage(const struct guest_memory *mem, const uint8_t *k, size_t ksize, const uint8_t *initrd,
                        size_t isize, const struct linux_boot_params *p, struct boot_entry *out, char *err, size_t errlen)
{
    uint16_t version = rd16(k + HDR_VERSION);
    if (version < 0x0206)
        return ERR("boot protocol %u.%02u is too old: vmm needs 2.06 or later (Linux 2.6.22+)", version >> 8, version & 0xff);
    unsigned setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
    size_t setup_size = (setup_sects + 1) * 512ULL;
    if (setup_size >= ksize)
        return ERR("the bzImage is truncated (setup header says %zu bytes of setup code)", setup_size);
    size_t pm_size = ksize - setup_size;
    uint32_t init_size = version >= 0x020a ? rd32(k + HDR_INIT_SIZE) : 0;
    uint64_t need = LAYOUT_KERNEL + (init_size > pm_size ? init_size : pm_size);
    if (need > low_ram_end(mem))
        return ERR("guest RAM is too small for this kernel: give at least %llu MiB with --memory",
                   (unsigned long long)((need >> 20) + 32));
    if (mem_write(mem, LAYOUT_KERNEL, k + setup_size, pm_size))
        return ERR("cannot place the kernel in guest RAM");

    uint64_t initrd_addr = 0;
    if (initrd) {
        uint32_t max = rd32(k + HDR_INITRD_ADDR_MAX);
        int rc = place_initrd(mem, isize, need, max ? max : 0x37ffffff, &initrd_addr, err, errlen);
        if (rc || mem_write(mem, initrd_addr, initrd, isize))
            return rc ? rc : ERR("cannot place the initrd in guest RAM");
    }
    int rc = write_cmdline(mem, p->cmdline, rd32(k + HDR_CMDLINE_SIZE) + 1ULL, err, errlen);
    if (rc)
        return rc;

    uint8_t zp[ZP_SIZE] = { 0 };
    size_t hdr_end = 0x202 + k[0x201];       /* the setup header ends where its jump lands */
    if (hdr_end > ksize || hdr_end > ZP_SIZE)
        return ERR("the bzImage setup header is malformed");
    memcpy(zp + HDR_SETUP_SECTS, k + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    zp[HDR_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
    wr16(zp + HDR_HEAP_END_PTR, 0xfe00);
    zero_page_common(zp, p, initrd_addr, isize);
    if (mem_write(mem, LAYOUT_ZERO_PAGE, zp, sizeof(zp)))
        return ERR("cannot place the zero page in guest RAM");

    bool has64 = version >= 0x020c && (rd16(k + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    out->mode = has64 ? BOOT_ENTRY_LONG : BOOT_ENTRY_PROTECTED;
    out->entry = has64 ? LAYOUT_KERNEL + 0x200 : LAYOUT_KERNEL;
    out->arg = LAYOUT_ZERO_PAGE;
    out->format = "bzImage";
    return 0;
}

/* Finds the PVH entry in the ELF notes (PT_NOTE segments), bounds-checked against the file. */
static bool find_pvh_entry(const uint8_t *k, size_t ksize, const Elf64_Ehdr *eh, uint64_t *entry)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, k + eh->e_phoff + (uint64_t)i * eh->e_phentsize, sizeof(ph));
        if (ph.p_type != PT_NOTE || ph.p_offset > ksize || ph.p_filesz > ksize - ph.p_offset)
            continue;
        size_t off = ph.p_offset, end = ph.p_offset + ph.p_filesz;
        while (end - off >= 12) {
            uint32_t namesz = rd32(k + off), descsz = rd32(k + off + 4), type = rd32(k + off + 8);
            size_t name_off = off + 12;
            size_t desc_off = name_off + ((namesz + 3ULL) & ~3ULL);
            size_t next = desc_off + ((descsz + 3ULL) & ~3ULL);
            if (namesz > end || descsz > end || next > end || next <= off)
                break;
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && !memcmp(k + name_off, "Xen", 4) && descsz >= 4) {
                *entry = descsz >= 8 ? (rd32(k + desc_off) | ((uint64_t)rd32(k + desc_off + 4) << 32)) : rd32(k + desc_off);
                return true;
            }
            off = next;
        }
    }
    return false;
}

static int load_elf_segments(const struct guest_memory *mem, const uint8_t *k, size_t ksize, const Elf64_Ehdr *eh,
                             uint64_t *kernel_end, uint64_t *entry_phys, char *err, size_t errlen)
{
    *kernel_end = 0;
    *entry_phys = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, k + eh->e_phoff + (uint64_t)i * eh->e_phentsize, sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_offset > ksize || ph.p_filesz > ksize - ph.p_offset || ph.p_filesz > ph.p_memsz)
            return ERR("ELF segment %u lies outside the file: the kernel image is corrupt", i);
        uint8_t *dst = mem_gpa_to_hva_rw(mem, ph.p_paddr, ph.p_memsz);
        if (!dst)
            return ERR("ELF segment %u (0x%llx, %llu KiB) is outside guest RAM: raise --memory", i,
                       (unsigned long long)ph.p_paddr, (unsigned long long)(ph.p_memsz >> 10));
        memcpy(dst, k + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr + ph.p_memsz > *kernel_end)
            *kernel_end = ph.p_paddr + ph.p_memsz;
        if (eh->e_entry >= ph.p_vaddr && eh->e_entry - ph.p_vaddr < ph.p_memsz)
            *entry_phys = eh->e_entry - ph.p_vaddr + ph.p_paddr;
    }
    if (*kernel_end == 0)
        return ERR("the ELF kernel has no loadable segments");
    return 0;
}

static int write_start_info(const struct guest_memory *mem, const struct linux_boot_params *p,
                            uint64_t initrd_addr, size_t isize, char *err, size_t errlen)
{
    uint8_t si[0x1000] = { 0 };
    const uint64_t modlist = LAYOUT_PVH_START_INFO + 0x40, memmap = LAYOUT_PVH_START_INFO + 0x80;
    wr32(si + 0, PVH_START_MAGIC);
    wr32(si + 4, 1);                                  /* version 1: has memmap */
    wr32(si + 12, isize ? 1 : 0);                     /* nr_modules */
    wr64(si + 16, isize ? modlist : 0);
    wr64(si + 24, LAYOUT_CMDLINE);
    wr64(si + 32, p->rsdp);
    wr64(si + 40, memmap);
    wr32(si + 48, (uint32_t)p->e820->n);
    wr64(si + 0x40, initrd_addr);                     /* hvm_modlist_entry: paddr, size */
    wr64(si + 0x48, isize);
    for (int i = 0; i < p->e820->n && 0x80 + (i + 1) * 24 <= (int)sizeof(si); i++) {
        const struct e820_entry *e = &p->e820->entries[i];
        wr64(si + 0x80 + i * 24, e->addr);           /* hvm_memmap_table_entry */
        wr64(si + 0x80 + i * 24 + 8, e->size);
        wr32(si + 0x80 + i * 24 + 16, e->type);
    }
    return mem_write(mem, LAYOUT_PVH_START_INFO, si, sizeof(si)) ? ERR("cannot place start_info in guest RAM") : 0;
}

static int load_elf(const struct guest_memory *mem, const uint8_t *k, size_t ksize, const uint8_t *initrd,
                    size_t isize, const struct linux_boot_params *p, struct boot_entry *out, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    if (ksize < sizeof(eh))
        return ERR("the ELF kernel is truncated");
    memcpy(&eh, k, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        return ERR("the ELF kernel is not an x86-64 image (use a 64-bit vmlinux or a bzImage)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > ksize ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > ksize - eh.e_phoff)
        return ERR("the ELF program headers lie outside the file: the kernel image is corrupt");
    uint64_t kernel_end, entry_phys, pvh_entry;
    int rc = load_elf_segments(mem, k, ksize, &eh, &kernel_end, &entry_phys, err, errlen);
    if (rc)
        return rc;
    uint64_t initrd_addr = 0;
    if (initrd) {
        rc = place_initrd(mem, isize, (kernel_end + 0xfff) & ~0xfffULL, 0, &initrd_addr, err, errlen);
        if (rc || mem_write(mem, initrd_addr, initrd, isize))
            return rc ? rc : ERR("cannot place the initrd in guest RAM");
    }
    rc = write_cmdline(mem, p->cmdline, LAYOUT_CMDLINE_MAX, err, errlen);
    if (rc)
        return rc;
    if (find_pvh_entry(k, ksize, &eh, &pvh_entry)) {
        out->mode = BOOT_ENTRY_PVH;
        out->entry = pvh_entry;
        out->arg = LAYOUT_PVH_START_INFO;
        out->format = "ELF (PVH)";
        return write_start_info(mem, p, initrd_addr, isize, err, errlen);
    }
    /* No PVH note: the 64-bit boot protocol with a zero page describing a minimal setup header. */
    if (!entry_phys)
        return ERR("the ELF kernel's entry point is not inside a loaded segment");
    uint8_t zp[ZP_SIZE] = { 0 };
    wr16(zp + HDR_BOOT_FLAG, 0xaa55);
    memcpy(zp + HDR_MAGIC, "HdrS", 4);
    wr16(zp + HDR_VERSION, 0x020f);
    zp[HDR_LOADFLAGS] = 0x01 | LOADFLAGS_CAN_USE_HEAP;  /* LOADED_HIGH */
    wr32(zp + HDR_CMDLINE_SIZE, LAYOUT_CMDLINE_MAX - 1);
    zero_page_common(zp, p, initrd_addr, isize);
    if (mem_write(mem, LAYOUT_ZERO_PAGE, zp, sizeof(zp)))
        return ERR("cannot place the zero page in guest RAM");
    out->mode = BOOT_ENTRY_LONG;
    out->entry = entry_phys;
    out->arg = LAYOUT_ZERO_PAGE;
    out->format = "ELF (64-bit entry)";
    return 0;
}

int linux_load_image(const struct guest_memory *mem, const uint8_t *kernel, size_t ksize, const uint8_t *initrd,
                     size_t isize, const struct linux_boot_params *p, struct boot_entry *out, char *err, size_t errlen)
{
    if (ksize >= 4 && !memcmp(kernel, ELFMAG, SELFMAG))
        return load_elf(mem, kernel, ksize, initrd, isize, p, out, err, errlen);
    if (ksize >= 0x300 && !memcmp(kernel + HDR_MAGIC, "HdrS", 4))
        return load_bzimage(mem, kernel, ksize, initrd, isize, p, out, err, errlen);
    return ERR("not a Linux kernel: expected a bzImage (vmlinuz) or an ELF vmlinux");
}

int linux_load(const struct guest_memory *mem, const struct linux_boot_params *p, struct boot_entry *out)
{
    char err[256] = "";
    const struct file_data *initrd = p->initrd;
    int rc = linux_load_image(mem, p->kernel->data, p->kernel->size, initrd ? initrd->data : NULL,
                              initrd ? initrd->size : 0, p, out, err, sizeof(err));
    if (rc)
        log_error("%s: %s", p->kernel_path, err);
    return rc;
}
