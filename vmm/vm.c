/* Assemble a VM from a configuration, run it until the guest or the user ends it, tear it down.
 * Boot order: KVM -> RAM -> irqchip/PIT -> devices on the buses -> firmware or kernel -> vCPU threads. */
#define _GNU_SOURCE
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_loader.h"
#include "arch/x86/boot_state.h"
#include "arch/x86/e820.h"
#include "arch/x86/emulate.h"
#include "arch/x86/layout.h"
#include "arch/x86/smbios.h"
#include "firmware/linux.h"
#include "vmm/block/image.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"

#include <json-c/json.h>

#define COM1_PORT 0x3f8
#define COM1_IRQ 4

void vm_request_stop(struct vm *vm, enum vm_stop why)
{
    pthread_mutex_lock(&vm->stop_lock);
    if (vm->stop == STOP_NONE)
        vm->stop = why;
    pthread_mutex_unlock(&vm->stop_lock);
    uint64_t one = 1;
    if (write(vm->event_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the loop is already being woken */
    }
}

static void irq_set(void *ctx, unsigned gsi, int level)
{
    struct vm *vm = ctx;
    if (vm->vm_fd >= 0) /* during a reset the old irqchip is gone and the new one starts low */
        kvm_irq_line(vm->vm_fd, gsi, level);
}

static void machine_event(void *ctx, enum machine_event ev)
{
    struct vm *vm = ctx;
    static const enum vm_stop map[] = {
        [MACHINE_POWEROFF] = STOP_POWEROFF, [MACHINE_RESET] = STOP_RESET, [MACHINE_PANIC] = STOP_PANIC,
    };
    vm_request_stop(vm, map[ev]);
}

static struct irq_line irq_line_for(struct vm *vm, unsigned gsi)
{
    return (struct irq_line){ irq_set, vm, gsi };
}

/* Port 0x402 (QEMU's isa-debugcon, where SeaBIOS writes its log): bytes go to --debugcon's file. */
static void debugcon_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct vm *vm = opaque;
    (void)offset;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = 0xe9;   /* the value a present debug console reads back */
        return;
    }
    if (vm->debugcon_fd >= 0 && write(vm->debugcon_fd, data, len) < 0) {
        /* a full disk loses log bytes, never the guest */
    }
}

static int register_devices(struct vm *vm)
{
    struct machine_ops machine = { machine_event, vm };
    serial_init(&vm->com1, irq_line_for(vm, COM1_IRQ), console_backend(&vm->console));
    acpi_pm_init(&vm->pm, irq_line_for(vm, ACPI_SCI_IRQ), machine);
    platform_ports_init(&vm->ports, machine);
    rtc_init(&vm->rtc, irq_line_for(vm, RTC_IRQ));
    rtc_set_memory(&vm->rtc, vm->cfg->memory);
    rtc_set_cpus(&vm->rtc, (unsigned)vm->cfg->cpus);
    i8042_init(&vm->i8042, irq_line_for(vm, I8042_KBD_IRQ), irq_line_for(vm, I8042_AUX_IRQ), machine);
    int rc = bus_register(&vm->pio, COM1_PORT, 8, serial_io, &vm->com1, "serial");
    if (!rc) rc = bus_register(&vm->pio, RTC_INDEX_PORT, RTC_PORT_COUNT, rtc_io, &vm->rtc, "rtc");
    if (!rc) rc = bus_register(&vm->pio, I8042_DATA_PORT, 1, i8042_data_io, &vm->i8042, "i8042-data");
    if (!rc) rc = bus_register(&vm->pio, I8042_CMD_PORT, 1, i8042_cmd_io, &vm->i8042, "i8042-command");
    if (!rc) rc = bus_register(&vm->pio, ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io, &vm->pm, "acpi-pm");
    if (!rc) rc = bus_register(&vm->pio, PORT_A_PORT, 1, port_a_io, &vm->ports, "port-a");
    if (!rc) rc = bus_register(&vm->pio, PVPANIC_PORT, 1, pvpanic_io, &vm->ports, "pvpanic");
    if (!rc) rc = bus_register(&vm->pio, POST_PORT, 1, post_io, &vm->ports, "post");
    if (!rc) rc = bus_register(&vm->pio, 0x402, 1, debugcon_io, vm, "debugcon");
    if (rc)
        log_error("cannot register the platform devices: %s", strerror(-rc));
    return rc;
}

/* The 64-bit PCI window: 32 GiB up, or above RAM on bigger guests (the DSDT _CRS says the same). */
static uint64_t pci_mmio64_base(const struct vm *vm)
{
    uint64_t top = MEM_4G + mem_high_ram_size(&vm->mem);
    uint64_t base = 32ULL << 30;
    return top > base ? (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1) : base;
}
#define PCI_MMIO64_SIZE (32ULL << 30)

static void acpi_config_for(const struct vm *vm, struct acpi_config *ac)
{
    acpi_config_default(ac, vm->cfg->cpus);
    ac->pci_mmio64_base = pci_mmio64_base(vm);
    ac->pci_mmio64_size = PCI_MMIO64_SIZE;
}

/* OpenFirmware path of the CD: virtio-scsi target 0 LUN 0, or the IDE secondary channel's master. */
static void cdrom_boot_path(const struct vm *vm, char *buf, size_t len)
{
    if (vm->ide_cd)
        snprintf(buf, len, "/pci@i0cf8/ide@%x/drive@1/disk@0", vm->ide_cd->pci.slot);
    else
        snprintf(buf, len, "/pci@i0cf8/scsi@%x/channel@0/disk@0,0", vm->cdrom->vp.pci.slot);
}

/* SeaBIOS's "bootorder" file: OpenFirmware paths of the CD and the virtio-blk disks, CD first unless
 * --boot disk (SeaBIOS docs "Runtime_config", bootorder). */
static int add_bootorder(struct vm *vm)
{
    char paths[CONFIG_MAX_DISKS + 1][64];
    const char *list[CONFIG_MAX_DISKS + 1];
    int n = 0;
    bool cd_first = vm->cfg->boot != BOOT_DISK;
    bool cd = vm->cdrom || vm->ide_cd;
    if (cd && cd_first)
        cdrom_boot_path(vm, paths[n++], sizeof(paths[0]));
    for (int i = 0; i < vm->cfg->ndisks; i++)
        snprintf(paths[n++], sizeof(paths[0]), "/pci@i0cf8/scsi@%x/disk@0,0", vm->blk[i]->vp.pci.slot);
    if (cd && !cd_first)
        cdrom_boot_path(vm, paths[n++], sizeof(paths[0]));
    for (int i = 0; i < n; i++)
        list[i] = paths[i];
    return n ? fw_cfg_add_bootorder(&vm->fw_cfg, list, n) : 0;
}

/* SMBIOS through fw_cfg, as SeaBIOS's smbios_romfile_setup reads it. */
static int add_smbios(struct vm *vm)
{
    struct smbios_config sc = { .cpus = vm->cfg->cpus, .ram_below_4g = mem_low_ram_size(&vm->mem),
                                .ram_above_4g = mem_high_ram_size(&vm->mem) };
    memcpy(sc.uuid, vm->cfg->uuid_bytes, sizeof(sc.uuid));
    struct smbios_blob blob;
    int rc = smbios_build(&sc, &blob);
    if (rc >= 0)
        rc = fw_cfg_add_file(&vm->fw_cfg, "etc/smbios/smbios-tables", blob.tables, blob.tables_len);
    if (rc >= 0)
        rc = fw_cfg_add_file(&vm->fw_cfg, "etc/smbios/smbios-anchor", blob.anchor, sizeof(blob.anchor));
    smbios_free(&blob);
    return rc < 0 ? rc : 0;
}

/* fw_cfg (QEMU docs/specs/fw_cfg.rst): the items and files SeaBIOS reads to set up the machine. */
static int build_fw_cfg(struct vm *vm)
{
    struct e820_map e820;
    struct acpi_config ac;
    e820_build(&e820, &vm->mem);
    acpi_config_for(vm, &ac);
    int rc = fw_cfg_init(&vm->fw_cfg, &vm->mem);
    if (rc == 0) {
        vm->fw_cfg_ready = true;
        rc = fw_cfg_add_i16(&vm->fw_cfg, FW_CFG_NB_CPUS, (uint16_t)vm->cfg->cpus);
    }
    if (rc == 0) rc = fw_cfg_add_i16(&vm->fw_cfg, FW_CFG_MAX_CPUS, (uint16_t)vm->cfg->cpus);
    if (rc == 0) rc = fw_cfg_add_e820(&vm->fw_cfg, &e820);
    if (rc == 0) rc = acpi_loader_add_to_fw_cfg(&vm->fw_cfg, &ac);
    if (rc >= 0) rc = add_bootorder(vm);
    if (rc >= 0) rc = add_smbios(vm);
    if (rc >= 0 && !vm->cfg->vnc.enabled) {
        /* No display: SeaBIOS and option ROMs (iPXE) put their console on COM1, as QEMU's -nographic. */
        static const uint16_t com1 = COM1_PORT;
        rc = fw_cfg_add_file(&vm->fw_cfg, "etc/sercon-port", &com1, sizeof(com1));
    }
    if (rc >= 0) rc = bus_register(&vm->pio, FW_CFG_PORT_BASE, FW_CFG_PORT_LEN, fw_cfg_io, &vm->fw_cfg, "fw_cfg");
    if (rc < 0)
        log_error("cannot set up fw_cfg: %s", strerror(-rc));
    return rc < 0 ? rc : 0;
}

static void destroy_fw_cfg(struct vm *vm)
{
    if (!vm->fw_cfg_ready)
        return;
    bus_unregister(&vm->pio, FW_CFG_PORT_BASE);
    fw_cfg_destroy(&vm->fw_cfg);
    vm->fw_cfg_ready = false;
}

static int write_acpi_tables(struct vm *vm, uint64_t *rsdp)
{
    struct acpi_config ac;
    struct acpi_tables t;
    acpi_config_for(vm, &ac);
    ac.max_len = LAYOUT_ACPI_SIZE;
    int rc = acpi_build(&ac, LAYOUT_ACPI, &t);
    if (rc) {
        log_error("cannot build the ACPI tables: %s", strerror(-rc));
        return rc;
    }
    rc = mem_write(&vm->mem, LAYOUT_ACPI, t.data, t.len);
    /* The RSDP sits at the start of the EBDA, where guests without a boot protocol look for it. */
    uint16_t ebda_segment = (uint16_t)((LAYOUT_ACPI + t.rsdp_off) >> 4);
    if (rc == 0)
        rc = mem_write(&vm->mem, LAYOUT_BDA_EBDA_SEGMENT, &ebda_segment, sizeof(ebda_segment));
    *rsdp = LAYOUT_ACPI + t.rsdp_off;
    acpi_tables_free(&t);
    if (rc)
        log_error("guest RAM is too small for the ACPI tables");
    return rc;
}

static int set_memslots(struct vm *vm)
{
    for (int i = 0; i < vm->mem.nr_regions; i++) {
        const struct mem_region *r = &vm->mem.regions[i];
        int rc = kvm_set_user_memory(vm->vm_fd, r->slot, r->gpa, r->size, r->hva, r->readonly);
        if (rc)
            return rc;
    }
    return 0;
}

/* Direct boot: load the kernel, write boot tables, put vCPU 0 at its entry. */
static int boot_kernel(struct vm *vm, uint64_t rsdp)
{
    struct e820_map e820;
    e820_build(&e820, &vm->mem);
    struct linux_boot_params p = {
        .kernel_path = vm->cfg->kernel, .kernel = &vm->kernel, .initrd = vm->cfg->initrd ? &vm->initrd : NULL,
        .cmdline = vm->cfg->append, .rsdp = rsdp, .e820 = &e820,
    };
    struct boot_entry entry;
    int rc = linux_load(&vm->mem, &p, &entry);
    if (rc)
        return rc;
    log_trace("kernel %s loaded as %s, entry 0x%llx", vm->cfg->kernel, entry.format, (unsigned long long)entry.entry);
    rc = boot_tables_write(&vm->mem, entry.mode == BOOT_ENTRY_LONG);
    if (rc) {
        log_error("guest RAM is too small for the boot page tables: raise --memory");
        return rc;
    }
    int fd = vm->vcpus[0].fd;
    switch (entry.mode) {
    case BOOT_ENTRY_LONG: return boot_state_long_mode(fd, entry.entry, entry.arg);
    case BOOT_ENTRY_PROTECTED: return boot_state_protected_mode(fd, entry.entry, entry.arg);
    default: return boot_state_pvh(fd, entry.entry, entry.arg);
    }
}

static int vm_ioeventfd(void *ctx, uint64_t addr, uint32_t len, int efd, bool assign)
{
    struct vm *vm = ctx;
    return kvm_ioeventfd(vm->vm_fd, addr, len, efd, false, assign);
}

static struct irq_line pci_intx_line(void *ctx, unsigned gsi)
{
    return irq_line_for(ctx, gsi);
}

#define DISPLAY_MEMSLOT 16   /* after the RAM/ROM slots (vmm/memory.h MEM_MAX_REGIONS) */

/* The framebuffer BAR as a KVM memslot with dirty logging (api.rst §4.35, §4.8). */
static int fb_map(void *ctx, uint64_t gpa, void *hva, uint64_t size)
{
    struct vm *vm = ctx;
    return kvm_set_user_memory_logged(vm->vm_fd, DISPLAY_MEMSLOT, gpa, size, hva);
}

static void fb_unmap(void *ctx, uint64_t gpa)
{
    struct vm *vm = ctx;
    (void)gpa;
    kvm_set_user_memory(vm->vm_fd, DISPLAY_MEMSLOT, 0, 0, NULL, false);
}

static int fb_dirty_log(void *ctx, uint64_t *bitmap)
{
    struct vm *vm = ctx;
    return kvm_get_dirty_log(vm->vm_fd, DISPLAY_MEMSLOT, bitmap);
}

static int attach_display(struct vm *vm)
{
    struct display_fb_ops ops = { fb_map, fb_unmap, fb_dirty_log, vm };
    int rc = display_init(&vm->display, &ops);
    if (rc == 0)
        vm->display_ready = true;
    if (rc == 0 && vm->vga_rom.data)
        rc = pci_device_set_rom(&vm->display.pci, vm->vga_rom.data, vm->vga_rom.size);
    if (rc == 0)
        rc = pci_bus_add(&vm->pci, &vm->display.pci, -1);
    if (rc)
        log_error("cannot attach the display: %s", strerror(-rc));
    return rc;
}

static int attach_cdrom(struct vm *vm, const struct virtio_host *host)
{
    vm->cdrom = calloc(1, sizeof(*vm->cdrom));
    int rc = vm->cdrom ? virtio_scsi_init(vm->cdrom, &vm->cdrom_disk, "VMMCD0001", host) : -ENOMEM;
    if (rc == 0)
        rc = pci_bus_add(&vm->pci, &vm->cdrom->vp.pci, -1);
    if (rc)
        log_error("cannot attach the CD-ROM %s: %s", vm->cfg->cdrom, strerror(-rc));
    return rc;
}

static int ide_cd_read(void *ctx, void *buf, uint64_t len, uint64_t offset)
{
    struct vm *vm = ctx;
    return image_rw_full(vm->cdrom_disk.fd, buf, len, offset, false);
}

/* The PIIX IDE function with the CD as the secondary channel's master, on the legacy ports and IRQ 15. */
static int attach_ide_cd(struct vm *vm)
{
    vm->ide_cd = calloc(1, sizeof(*vm->ide_cd));
    int rc = vm->ide_cd ? ide_cd_init(vm->ide_cd, vm->cdrom_disk.size, ide_cd_read, vm, "VMMCD0001",
                                      irq_line_for(vm, IDE_SECONDARY_IRQ))
                        : -ENOMEM;
    if (rc == 0)
        rc = pci_bus_add(&vm->pci, &vm->ide_cd->pci, -1);
    if (rc == 0)
        rc = bus_register(&vm->pio, IDE_SECONDARY_CMD_PORT, IDE_CMD_PORTS, ide_cmd_io, vm->ide_cd, "ide-secondary");
    if (rc == 0)
        rc = bus_register(&vm->pio, IDE_SECONDARY_CTL_PORT, 1, ide_ctl_io, vm->ide_cd, "ide-secondary-control");
    if (rc)
        log_error("cannot attach the CD-ROM %s: %s", vm->cfg->cdrom, strerror(-rc));
    return rc;
}

static void detach_ide_cd(struct vm *vm)
{
    if (!vm->ide_cd)
        return;
    bus_unregister(&vm->pio, IDE_SECONDARY_CMD_PORT);
    bus_unregister(&vm->pio, IDE_SECONDARY_CTL_PORT);
    ide_cd_destroy(vm->ide_cd);
    free(vm->ide_cd);
    vm->ide_cd = NULL;
}

/* PCI bus 0 with its devices, placed and mapped before the guest starts. */
static int build_pci(struct vm *vm)
{
    int rc = pci_bus_init(&vm->pci, &vm->pio, &vm->mmio, pci_intx_line, vm);
    if (rc == 0)
    {
        /* 0xcf9 (PIIX reset control) shares the config address dword; the bus forwards it. */
        vm->pci.cf9_fn = reset_control_io;
        vm->pci.cf9_opaque = &vm->ports;
        vm->pci.mmio64_next = pci_mmio64_base(vm);
        rc = bus_register(&vm->pio, PCI_CONFIG_ADDRESS_PORT, 8, pci_config_io, &vm->pci, "pci-config");
    }
    if (rc) {
        log_error("cannot create the PCI bus: %s", strerror(-rc));
        return rc;
    }
    vm->pci_ready = true;
    msi_host_init(&vm->msi, &vm->routing, vm->vm_fd);
    struct virtio_host host = {
        .ioeventfd = vm_ioeventfd, .msi = msi_host_ops(&vm->msi), .ctx = vm,
        .loop = &vm->loop, .mem = &vm->mem,
    };
    /* Slot order: display, CD-ROM, disks, NICs (what SeaBIOS scans and numbers in this order). */
    if (vm->cfg->vnc.enabled && (rc = attach_display(vm)))
        return rc;
    if (vm->cdrom_open && vm->cfg->cdrom_bus == CDROM_BUS_IDE && (rc = attach_ide_cd(vm)))
        return rc;
    if (vm->cdrom_open && vm->cfg->cdrom_bus == CDROM_BUS_SCSI && (rc = attach_cdrom(vm, &host)))
        return rc;
    for (int i = 0; i < vm->cfg->ndisks; i++) {
        /* One request queue per vCPU unless the disk says otherwise (virtio 1.2 §5.2.3 VIRTIO_BLK_F_MQ). */
        int queues = vm->cfg->disks[i].queues;
        if (!queues)
            queues = vm->cfg->cpus < VIRTIO_BLK_MAX_QUEUES ? vm->cfg->cpus : VIRTIO_BLK_MAX_QUEUES;
        vm->blk[i] = calloc(1, sizeof(*vm->blk[i]));
        rc = vm->blk[i] ? virtio_blk_init(vm->blk[i], &vm->disks[i], vm->cfg->disks[i].serial, queues, &host)
                        : -ENOMEM;
        if (rc == 0)
            rc = pci_bus_add(&vm->pci, &vm->blk[i]->vp.pci, -1);
        if (rc) {
            log_error("cannot attach disk %s: %s", vm->cfg->disks[i].path, strerror(-rc));
            return rc;
        }
    }
    for (int i = 0; i < vm->cfg->nnics; i++) {
        vm->nics[i] = calloc(1, sizeof(*vm->nics[i]));
        rc = vm->nics[i] ? virtio_net_init(vm->nics[i], vm->netdevs[i], vm->cfg->nics[i].mac, &host) : -ENOMEM;
        if (rc == 0 && vm->nic_rom.data)  /* iPXE, for SeaBIOS to run as the NIC's option ROM */
            rc = pci_device_set_rom(&vm->nics[i]->vp.pci, vm->nic_rom.data, vm->nic_rom.size);
        if (rc == 0)
            rc = pci_bus_add(&vm->pci, &vm->nics[i]->vp.pci, -1);
        if (rc) {
            log_error("cannot attach network device %d: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static void destroy_pci(struct vm *vm)
{
    if (!vm->pci_ready)
        return;
    /* The bus lets go of the devices' BARs first; then the devices themselves go. */
    bus_unregister(&vm->pio, PCI_CONFIG_ADDRESS_PORT);
    pci_bus_destroy(&vm->pci);
    for (int i = 0; i < vm->cfg->ndisks; i++) {
        if (!vm->blk[i])
            continue;
        /* Let in-flight I/O land before the device (and its request slots) go away. */
        while (vm->disks[i].inflight > 0)
            block_reap(&vm->disks[i]);
        virtio_blk_destroy(vm->blk[i]);
        free(vm->blk[i]);
        vm->blk[i] = NULL;
    }
    for (int i = 0; i < vm->cfg->nnics; i++) {
        if (vm->nics[i])
            virtio_net_destroy(vm->nics[i]);
        free(vm->nics[i]);
        vm->nics[i] = NULL;
    }
    if (vm->cdrom) {
        while (vm->cdrom_disk.inflight > 0)
            block_reap(&vm->cdrom_disk);
        virtio_scsi_destroy(vm->cdrom);
        free(vm->cdrom);
        vm->cdrom = NULL;
    }
    detach_ide_cd(vm);
    if (vm->display_ready) {
        display_destroy(&vm->display);
        vm->display_ready = false;
    }
    msi_host_destroy(&vm->msi);
    vm->pci_ready = false;
}

/* The KVM side of the machine: VM fd, memslots, irqchip, PIT, routing, vCPUs, boot state. */
static int machine_build(struct vm *vm)
{
    vm->vm_fd = kvm_create_vm(&vm->kvm);
    if (vm->vm_fd < 0)
        return vm->vm_fd;
    int rc = kvm_set_identity_map_addr(vm->vm_fd, LAYOUT_KVM_IDENTITY_MAP);
    if (!rc) rc = kvm_set_tss_addr(vm->vm_fd, LAYOUT_KVM_TSS);
    if (!rc) rc = set_memslots(vm);
    if (!rc) rc = kvm_create_irqchip(vm->vm_fd);
    if (!rc) rc = kvm_create_pit(vm->vm_fd);
    if (!rc) rc = irq_routing_pc_defaults(&vm->routing);
    if (!rc) rc = irq_routing_commit(&vm->routing, vm->vm_fd);
    if (!rc) rc = build_pci(vm);
    if (!rc) rc = build_fw_cfg(vm);
    if (rc)
        return rc;
    vm->vcpus = calloc((size_t)vm->cfg->cpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        log_error("out of memory for %d vCPUs", vm->cfg->cpus);
        return -ENOMEM;
    }
    for (int i = 0; i < vm->cfg->cpus; i++)
        vm->vcpus[i].fd = -1;
    for (int i = 0; i < vm->cfg->cpus; i++) {
        rc = vcpu_create(&vm->vcpus[i], vm, i);
        if (rc) {
            log_error("cannot create vCPU %d: %s", i, strerror(-rc));
            return rc;
        }
    }
    uint64_t rsdp;
    rc = write_acpi_tables(vm, &rsdp);
    if (rc)
        return rc;
    /* Firmware boot: vCPU 0 starts at the reset vector, the others wait for SIPI. */
    if (!vm->cfg->kernel)
        firmware_reset_shadow(&vm->fw);
    return vm->cfg->kernel ? boot_kernel(vm, rsdp) : 0;
}

static void machine_stop(struct vm *vm)
{
    atomic_store(&vm->stopping, true);
    if (!vm->vcpus)
        return;
    for (int i = 0; i < vm->cfg->cpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    for (int i = 0; i < vm->cfg->cpus; i++)
        vcpu_join(&vm->vcpus[i]);
}

static void machine_destroy(struct vm *vm)
{
    destroy_fw_cfg(vm);
    destroy_pci(vm);
    if (vm->vcpus) {
        for (int i = 0; i < vm->cfg->cpus; i++)
            vcpu_destroy(&vm->vcpus[i]);
        if (vm->cfg->stats)
            for (int i = 0; i < vm->cfg->cpus; i++)
                stats_free(&vm->vcpus[i].stats);
        free(vm->vcpus);
        vm->vcpus = NULL;
    }
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    vm->vm_fd = -1;
}

static int machine_start(struct vm *vm)
{
    atomic_store(&vm->stopping, false);
    for (int i = 0; i < vm->cfg->cpus; i++) {
        int rc = vcpu_start(&vm->vcpus[i]);
        if (rc) {
            log_error("cannot start vCPU thread %d: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static void on_quit_key(void *ctx)
{
    vm_request_stop(ctx, STOP_QUIT);
}

static void press_power_button(struct vm *vm)
{
    acpi_pm_power_button(&vm->pm);
    control_event(vm->control, "POWERDOWN", NULL);
}

static void stop_by_signal(struct vm *vm, int signo)
{
    pthread_mutex_lock(&vm->stop_lock);
    if (vm->stop == STOP_NONE)
        vm->stop_signal = signo;
    pthread_mutex_unlock(&vm->stop_lock);
    vm_request_stop(vm, STOP_SIGNAL);
}

static void on_shutdown_timeout(void *ctx, uint32_t events)
{
    struct vm *vm = ctx;
    (void)events;
    loop_remove(&vm->loop, vm->shutdown_timer_fd);   /* one-shot */
    close(vm->shutdown_timer_fd);
    vm->shutdown_timer_fd = -1;
    log_info("the guest did not power off within %d s of the power button: stopping it", vm->cfg->shutdown_timeout);
    stop_by_signal(vm, SIGTERM);
}

/* SIGTERM asks the guest to shut down (ACPI power button), as a power supply's soft-off would;
 * a second SIGTERM, or the timeout, stops the VM at once. SIGINT and SIGHUP stop it at once. */
static void on_signal(void *ctx, uint32_t events)
{
    struct vm *vm = ctx;
    struct signalfd_siginfo si;
    (void)events;
    if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
        return;
    if (si.ssi_signo == SIGTERM && !vm->power_button_pressed && vm->cfg->shutdown_timeout > 0) {
        vm->power_button_pressed = true;
        press_power_button(vm);
        log_info("SIGTERM: pressed the ACPI power button; the guest has %d s to power off (SIGTERM again stops it now)",
                 vm->cfg->shutdown_timeout);
        vm->shutdown_timer_fd = loop_add_timer(&vm->loop, (uint64_t)vm->cfg->shutdown_timeout * 1000, 0,
                                               on_shutdown_timeout, vm);
        return;
    }
    pthread_mutex_lock(&vm->stop_lock);
    if (vm->stop == STOP_NONE)
        vm->stop_signal = (int)si.ssi_signo;
    pthread_mutex_unlock(&vm->stop_lock);
    vm_request_stop(vm, STOP_SIGNAL);
}

static int exit_status_for(struct vm *vm)
{
    switch (vm->stop) {
    case STOP_POWEROFF: case STOP_QUIT: return EXIT_POWEROFF;
    case STOP_RESET: return EXIT_RESET;
    case STOP_TRIPLE_FAULT: return EXIT_TRIPLE_FAULT;
    case STOP_PANIC: return EXIT_PANIC;
    case STOP_EMULATION: return EXIT_EMULATION;
    case STOP_INTERNAL: return EXIT_INTERNAL;
    case STOP_SIGNAL: return 128 + vm->stop_signal;
    default: return EXIT_ERROR;
    }
}

static const char *stop_message(enum vm_stop s)
{
    switch (s) {
    case STOP_POWEROFF: return "guest powered off";
    case STOP_RESET: return "guest reset (--no-reboot)";
    case STOP_TRIPLE_FAULT: return "guest triple fault";
    case STOP_PANIC: return "guest panicked (pvpanic)";
    case STOP_EMULATION: return "guest stopped at an instruction vmm cannot emulate";
    case STOP_INTERNAL: return "KVM internal error";
    case STOP_SIGNAL: return "stopped by signal";
    case STOP_QUIT: return "quit from the console";
    default: return "stopped";
    }
}

static void devices_reset(struct vm *vm)
{
    pthread_mutex_lock(&vm->com1.lock);
    serial_reset(&vm->com1);
    pthread_mutex_unlock(&vm->com1.lock);
    struct machine_ops machine = vm->pm.machine;
    struct irq_line sci = vm->pm.sci;
    acpi_pm_destroy(&vm->pm);
    acpi_pm_init(&vm->pm, sci, machine);
    platform_ports_init(&vm->ports, machine);
    rtc_reset(&vm->rtc);
    i8042_reset(&vm->i8042);
}

/* Reset = a fresh KVM machine over the same RAM (RAM survives a reset, as on a PC). */
static int machine_reset(struct vm *vm)
{
    machine_stop(vm);
    machine_destroy(vm);
    devices_reset(vm);
    vm->stop = STOP_NONE;
    vm->resets++;
    int rc = machine_build(vm);
    return rc ? rc : machine_start(vm);
}

static void on_event(void *ctx, uint32_t events)
{
    struct vm *vm = ctx;
    uint64_t v;
    (void)events;
    if (read(vm->event_fd, &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&vm->stop_lock);
    enum vm_stop stop = vm->stop;
    pthread_mutex_unlock(&vm->stop_lock);
    if (stop == STOP_NONE)
        return;
    if (stop == STOP_RESET && !vm->cfg->no_reboot) {
        log_trace("guest reset: restarting the machine");
        control_event(vm->control, "RESET", NULL);
        if (machine_reset(vm) == 0)
            return;
        vm->stop = STOP_ERROR;
    }
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "guest", json_object_new_boolean(stop == STOP_POWEROFF || stop == STOP_RESET ||
                                                                   stop == STOP_PANIC || stop == STOP_TRIPLE_FAULT));
    json_object_object_add(data, "reason", json_object_new_string(
        stop == STOP_POWEROFF ? "guest-shutdown" : stop == STOP_QUIT ? "host-qmp-quit" :
        stop == STOP_SIGNAL ? "host-signal" : stop == STOP_RESET ? "guest-reset" : "guest-panic"));
    control_event(vm->control, "SHUTDOWN", data);
    loop_quit(&vm->loop);
}

static int host_setup(struct vm *vm)
{
    vm->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1); /* only vCPU threads take the kick signal */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigdelset(&set, SIGUSR1);
    vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    vcpu_signals_init();
    if (vm->event_fd < 0 || vm->signal_fd < 0)
        return -errno;
    int rc = loop_add(&vm->loop, vm->event_fd, EPOLLIN, on_event, vm);
    if (!rc) rc = loop_add(&vm->loop, vm->signal_fd, EPOLLIN, on_signal, vm);
    return rc;
}

/* Disk images are opened once and outlive resets; the loop must exist for their completions. */
static int open_disks(struct vm *vm)
{
    for (int i = 0; i < vm->cfg->ndisks; i++) {
        const struct disk_config *d = &vm->cfg->disks[i];
        struct block_options o = { .path = d->path, .readonly = d->readonly, .cache = d->cache, .format = d->format };
        char err[512];
        if (block_open(&vm->disks[i], &o, &vm->loop, err, sizeof(err))) {
            log_error("%s", err);
            return -1;
        }
    }
    return 0;
}

/* The CD image (read-only) and the option ROMs SeaBIOS runs: the display's VGA BIOS, iPXE for NICs. */
#define VGA_ROM_PATH "/usr/share/seabios/vgabios-bochs-display.bin"
#define NIC_ROM_PATH "/usr/lib/ipxe/qemu/pxe-virtio.rom"

static int open_cdrom_and_roms(struct vm *vm)
{
    if (vm->cfg->cdrom) {
        struct block_options o = { .path = vm->cfg->cdrom, .readonly = true, .cache = BLK_CACHE_WRITEBACK, .format = "raw" };
        char err[512];
        if (access(vm->cfg->cdrom, F_OK) != 0) {   /* the disk message would suggest creating it */
            log_error("the CD image %s does not exist: give the path of an ISO file to --cdrom", vm->cfg->cdrom);
            return -1;
        }
        if (block_open(&vm->cdrom_disk, &o, &vm->loop, err, sizeof(err))) {
            log_error("%s", err);
            return -1;
        }
        vm->cdrom_open = true;
    }
    if (vm->cfg->kernel)
        return 0;   /* option ROMs are for the firmware */
    if (vm->cfg->vnc.enabled && access(VGA_ROM_PATH, R_OK) == 0 && file_read_all(VGA_ROM_PATH, "VGA BIOS", &vm->vga_rom))
        return -1;
    if (vm->cfg->nnics && access(NIC_ROM_PATH, R_OK) == 0 && file_read_all(NIC_ROM_PATH, "iPXE ROM", &vm->nic_rom))
        return -1;
    return 0;
}

static int open_backend(struct vm *vm, const struct nic_config *n, struct net_backend **out, char *err, size_t errlen)
{
    switch (n->kind) {
    case NIC_TAP:
        return net_tap_open(out, &vm->loop, n->tap, err, errlen);
    case NIC_BRIDGE:
        return net_tap_open_bridge(out, &vm->loop, n->bridge, err, errlen);
    case NIC_USER:
        break;
    }
    return net_slirp_open(out, &vm->loop, n->hostfwd[0] ? n->hostfwd : NULL, n->bootfile[0] ? n->bootfile : NULL,
                          err, errlen);
}

/* Network backends (slirp, tap, tap on a bridge) are opened once and outlive resets. */
static int open_networks(struct vm *vm)
{
    for (int i = 0; i < vm->cfg->nnics; i++) {
        char err[512] = "";
        int rc = open_backend(vm, &vm->cfg->nics[i], &vm->netdevs[i], err, sizeof(err));
        if (rc) {
            log_error("%s", err[0] ? err : "cannot open the network backend");
            return -1;
        }
    }
    return 0;
}

/* VNC input: keys to the PS/2 keyboard; the absolute pointer becomes relative PS/2 mouse motion. */
static void vnc_key(void *ctx, int code, bool down)
{
    struct vm *vm = ctx;
    i8042_key_event(&vm->i8042, (uint32_t)code, down);
}

static void vnc_pointer(void *ctx, int x, int y, int rfb_buttons)
{
    struct vm *vm = ctx;
    unsigned buttons = ((rfb_buttons & 1) ? PS2_BUTTON_LEFT : 0) | ((rfb_buttons & 2) ? PS2_BUTTON_MIDDLE : 0) |
                       ((rfb_buttons & 4) ? PS2_BUTTON_RIGHT : 0);
    int dz = (rfb_buttons & 8) ? -1 : (rfb_buttons & 16) ? 1 : 0;
    i8042_mouse_event(&vm->i8042, x - vm->vnc_last_x, y - vm->vnc_last_y, dz, buttons);
    vm->vnc_last_x = x;
    vm->vnc_last_y = y;
}

static int start_vnc(struct vm *vm)
{
    if (!vm->cfg->vnc.enabled)
        return 0;
    struct vnc_options o = {
        .listen = vm->cfg->vnc.listen, .display = vm->cfg->vnc.display,
        .password = vm->cfg->vnc.password, .name = vm->cfg->name,
    };
    struct vnc_input in = { vnc_key, vnc_pointer, vm };
    char err[512] = "";
    if (vnc_start(&vm->vnc, &o, &vm->display, &in, &vm->loop, err, sizeof(err))) {
        log_error("%s", err[0] ? err : "cannot start the VNC server");
        return -1;
    }
    return 0;
}

/* ---- QMP control hooks (vmm/control.c calls them on the loop thread) ---- */

static int ctl_pause(void *ctx)
{
    struct vm *vm = ctx;
    if (!vm->paused) {
        machine_stop(vm);
        vm->paused = true;
        control_event(vm->control, "STOP", NULL);
    }
    return 0;
}

static int ctl_resume(void *ctx)
{
    struct vm *vm = ctx;
    if (vm->paused) {
        int rc = machine_start(vm);
        if (rc)
            return rc;
        vm->paused = false;
        control_event(vm->control, "RESUME", NULL);
    }
    return 0;
}

static bool ctl_running(void *ctx)
{
    return !((struct vm *)ctx)->paused;
}

static void ctl_powerdown(void *ctx)
{
    press_power_button(ctx);
}

static void ctl_reset(void *ctx)
{
    vm_request_stop(ctx, STOP_RESET);
}

static void ctl_quit(void *ctx)
{
    vm_request_stop(ctx, STOP_QUIT);
}

static int ctl_screendump(void *ctx, const char *path, char *err, size_t errlen)
{
    struct vm *vm = ctx;
    if (!vm->display_ready) {
        snprintf(err, errlen, "this VM has no display (start it with --vnc)");
        return -ENODEV;
    }
    int rc = vnc_screendump(&vm->display, path);
    if (rc)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
    return rc;
}

static void ctl_query_block(void *ctx, struct json_object *array)
{
    struct vm *vm = ctx;
    char name[32];
    for (int i = 0; i < vm->cfg->ndisks; i++) {
        const struct disk_config *d = &vm->cfg->disks[i];
        snprintf(name, sizeof(name), "virtio%d", i);
        control_add_block(array, name, d->path, d->readonly, vm->disks[i].img ? "qcow2" : "raw", false);
    }
    if (vm->cfg->cdrom)
        control_add_block(array, "cd0", vm->cfg->cdrom, true, "raw", true);
}

static void ctl_query_vnc(void *ctx, struct json_object *obj)
{
    struct vm *vm = ctx;
    char service[16] = "";
    if (vm->vnc)
        snprintf(service, sizeof(service), "%d", vnc_port(vm->vnc));
    control_set_vnc(obj, vm->cfg->vnc.enabled, vm->cfg->vnc.listen, service, vm->cfg->vnc.password ? "vnc" : "none");
}

static int start_control(struct vm *vm)
{
    if (!vm->cfg->control)
        return 0;
    struct control_ops ops = {
        ctl_pause, ctl_resume, ctl_running, ctl_powerdown, ctl_reset, ctl_quit,
        ctl_screendump, ctl_query_block, ctl_query_vnc, vm->cfg->uuid, vm,
    };
    char err[512] = "";
    if (control_start(&vm->control, vm->cfg->control, &ops, &vm->loop, err, sizeof(err))) {
        log_error("%s", err[0] ? err : "cannot start the control socket");
        return -1;
    }
    return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->vm_fd = vm->event_fd = vm->signal_fd = vm->debugcon_fd = -1;
    vm->kvm.fd = -1;
    vm->loop.epfd = -1;
    pthread_mutex_init(&vm->stop_lock, NULL);
    bus_init(&vm->pio, "pio");
    bus_init(&vm->mmio, "mmio");
    if (loop_init(&vm->loop)) {
        log_error("cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    /* Boot files first: a wrong path is reported whether or not this host has KVM. */
    if (cfg->kernel && file_read_all(cfg->kernel, "kernel", &vm->kernel))
        return -1;
    if (cfg->initrd && file_read_all(cfg->initrd, "initrd", &vm->initrd))
        return -1;
    if (cfg->firmware && firmware_load(cfg->firmware, &vm->fw))
        return -1;
    if (open_disks(vm) || open_networks(vm) || open_cdrom_and_roms(vm))
        return -1;
    if (kvm_open(&vm->kvm, cfg->kvm_device))
        return -1;
    if (kvm_host_is_pvm())
        x86_emu_set_quirks(X86_QUIRK_FLAT_EVENT_FRAMES);
    vm->supported_cpuid = kvm_supported_cpuid(&vm->kvm);
    if (!vm->supported_cpuid)
        return -1;
    int max = kvm_check_extension(&vm->kvm, KVM_CAP_MAX_VCPUS);
    if (max > 0 && cfg->cpus > max) {
        log_error("--cpus %d is more than this host's KVM allows (%d): lower --cpus", cfg->cpus, max);
        return -1;
    }
    int rc = mem_init_ram(&vm->mem, cfg->memory);
    if (rc) {
        log_error("cannot allocate %llu MiB of guest RAM: %s (lower --memory)",
                  (unsigned long long)(cfg->memory >> 20), strerror(-rc));
        return -1;
    }
    if (cfg->firmware && firmware_map(&vm->mem, &vm->fw))
        return -1;
    if (irq_routing_init(&vm->routing) || host_setup(vm)) {
        log_error("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    if (console_open(&vm->console, cfg->serial, cfg->serial_path, cfg->serial_log))
        return -1;
    if (cfg->debugcon) {
        vm->debugcon_fd = open(cfg->debugcon, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
        if (vm->debugcon_fd < 0) {
            log_error("cannot write the debug console log to %s: %s (choose a writable path)", cfg->debugcon, strerror(errno));
            return -1;
        }
    }
    if (register_devices(vm))
        return -1;
    if (console_attach(&vm->console, &vm->com1, &vm->loop, on_quit_key, vm)) {
        log_error("cannot watch the console input");
        return -1;
    }
    if (machine_build(vm))
        return -1;
    return start_vnc(vm) || start_control(vm) ? -1 : 0;
}

int vm_run(struct vm *vm)
{
    clock_gettime(CLOCK_MONOTONIC, &vm->started);
    if (machine_start(vm))
        return EXIT_ERROR;
    loop_run(&vm->loop);
    machine_stop(vm);
    int status = exit_status_for(vm);
    if (vm->stop != STOP_POWEROFF && vm->stop != STOP_QUIT)
        log_info("%s%s, exit status %d", stop_message(vm->stop),
                 vm->stop == STOP_SIGNAL ? (vm->stop_signal == SIGINT ? " (SIGINT)" : vm->stop_signal == SIGTERM ? " (SIGTERM)" : " (SIGHUP)") : "",
                 status);
    if (vm->cfg->stats && vm->vcpus) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - vm->started.tv_sec) + (now.tv_nsec - vm->started.tv_nsec) / 1e9;
        struct vcpu_stats *all = calloc((size_t)vm->cfg->cpus, sizeof(*all));
        if (all) {
            for (int i = 0; i < vm->cfg->cpus; i++)
                all[i] = vm->vcpus[i].stats;
            stats_print(stderr, all, vm->cfg->cpus, secs);
            free(all);
        }
    }
    return status;
}

void vm_destroy(struct vm *vm)
{
    machine_stop(vm);
    control_stop(vm->control);
    vm->control = NULL;
    if (vm->vnc)
        vnc_stop(vm->vnc);
    vm->vnc = NULL;
    machine_destroy(vm);
    console_close(&vm->console);
    for (int i = 0; i < vm->cfg->ndisks; i++)
        block_close(&vm->disks[i]);
    for (int i = 0; i < vm->cfg->nnics; i++)
        if (vm->netdevs[i])
            net_close(vm->netdevs[i]);
    if (vm->cdrom_open)
        block_close(&vm->cdrom_disk);
    file_free(&vm->vga_rom);
    file_free(&vm->nic_rom);
    loop_destroy(&vm->loop);
    if (vm->event_fd >= 0)
        close(vm->event_fd);
    if (vm->signal_fd >= 0)
        close(vm->signal_fd);
    if (vm->debugcon_fd >= 0)
        close(vm->debugcon_fd);
    irq_routing_free(&vm->routing);
    mem_free(&vm->mem);
    firmware_free(&vm->fw);
    file_free(&vm->kernel);
    file_free(&vm->initrd);
    free(vm->supported_cpuid);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    kvm_close(&vm->kvm);
}
