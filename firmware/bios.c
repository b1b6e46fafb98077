/* Firmware boot: a raw firmware image (SeaBIOS, a guest program ROM) mapped to end at 4 GiB.
 * The x86 reset vector is 0xfffffff0 (Intel SDM vol 3A §9.1.4); legacy BIOS code also expects its
 * last 128 KiB at 0xe0000-0xfffff, as on every PC (and as QEMU's -bios places it). */
#include "bios.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/layout.h"
#include "firmware/file.h"
#include "vmm/log.h"

int firmware_load(const char *path, struct firmware_image *out)
{
    struct file_data f;
    memset(out, 0, sizeof(*out));
    int rc = file_read_all(path, "firmware", &f);
    if (rc)
        return rc;
    if ((f.size & 0xfff) || f.size > LAYOUT_FIRMWARE_MAX) {
        log_error("firmware file %s is %zu bytes: a raw firmware image must be a multiple of 4 KiB and at most "
                  "16 MiB (e.g. /usr/share/seabios/bios-256k.bin)", path, f.size);
        file_free(&f);
        return -EINVAL;
    }
    void *rom = mmap(NULL, f.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rom == MAP_FAILED) {
        file_free(&f);
        log_error("out of memory for firmware %s", path);
        return -ENOMEM;
    }
    memcpy(rom, f.data, f.size);
    mprotect(rom, f.size, PROT_READ);
    out->rom = rom;
    out->size = f.size;
    file_free(&f);
    void *shadow = mmap(NULL, FIRMWARE_SHADOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shadow == MAP_FAILED) {
        firmware_free(out);
        log_error("out of memory for the firmware shadow RAM");
        return -ENOMEM;
    }
    out->shadow = shadow;
    void *vga = mmap(NULL, FIRMWARE_VGA_WINDOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (vga == MAP_FAILED) {
        firmware_free(out);
        log_error("out of memory for the legacy VGA window");
        return -ENOMEM;
    }
    out->vga_window = vga;
    firmware_reset_shadow(out);
    return 0;
}

void firmware_free(struct firmware_image *fw)
{
    if (fw->rom)
        munmap(fw->rom, fw->size);
    if (fw->shadow)
        munmap(fw->shadow, FIRMWARE_SHADOW_SIZE);
    if (fw->vga_window)
        munmap(fw->vga_window, FIRMWARE_VGA_WINDOW_SIZE);
    fw->rom = fw->shadow = fw->vga_window = NULL;
    fw->size = 0;
}

void firmware_reset_shadow(const struct firmware_image *fw)
{
    uint64_t alias = fw->size < FIRMWARE_ALIAS_MAX ? fw->size : FIRMWARE_ALIAS_MAX;
    memset(fw->shadow, 0, FIRMWARE_SHADOW_SIZE);
    memset(fw->vga_window, 0, FIRMWARE_VGA_WINDOW_SIZE);
    memcpy(fw->shadow + FIRMWARE_SHADOW_SIZE - alias, fw->rom + fw->size - alias, alias);
}

int firmware_map(struct guest_memory *mem, const struct firmware_image *fw)
{
    int rc = mem_add_region(mem, MEM_4G - fw->size, fw->size, fw->rom, true);
    if (rc == 0)
        rc = mem_add_region(mem, FIRMWARE_SHADOW_BASE, FIRMWARE_SHADOW_SIZE, fw->shadow, false);
    if (rc == 0)
        rc = mem_add_region(mem, FIRMWARE_VGA_WINDOW_BASE, FIRMWARE_VGA_WINDOW_SIZE, fw->vga_window, false);
    if (rc)
        log_error("cannot map the firmware image: %s", strerror(-rc));
    return rc;
}
