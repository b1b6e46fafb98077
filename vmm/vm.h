/* Assemble a VM from a configuration, run it until the guest or the user ends it, tear it down. */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "arch/x86/irq_routing.h"
#include "devices/acpi_pm.h"
#include "devices/display.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/ide.h"
#include "devices/rtc.h"
#include "devices/virtio/scsi.h"
#include "vmm/ui/vnc.h"
#include "devices/pci.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "vmm/net/net.h"
#include "devices/platform_ports.h"
#include "devices/serial.h"
#include "firmware/bios.h"
#include "firmware/file.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/control.h"
#include "vmm/console.h"
#include "vmm/kvm.h"
#include "vmm/loop.h"
#include "vmm/block/block.h"
#include "vmm/memory.h"
#include "vmm/msi.h"
#include "vmm/stats.h"

/* vmm's exit status, one per way a run can end (README lists them). */
enum vm_exit_status {
    EXIT_POWEROFF = 0,          /* guest powered off (ACPI S5), or Ctrl-A x */
    EXIT_ERROR = 1,             /* bad input or host failure; one error line says which */
    EXIT_RESET = 2,             /* guest reset with --no-reboot */
    EXIT_TRIPLE_FAULT = 3,      /* guest triple fault (KVM_EXIT_SHUTDOWN) */
    EXIT_PANIC = 4,             /* guest panic reported through pvpanic */
    EXIT_EMULATION = 5,         /* an instruction neither KVM nor vmm could carry out */
    EXIT_INTERNAL = 6,          /* other KVM internal error or failed VM entry */
    /* 128 + N: stopped by signal N (SIGINT, SIGTERM, SIGHUP) */
};

/* Why the machine stops; the first request wins. */
enum vm_stop {
    STOP_NONE, STOP_POWEROFF, STOP_RESET, STOP_TRIPLE_FAULT, STOP_PANIC,
    STOP_EMULATION, STOP_INTERNAL, STOP_SIGNAL, STOP_QUIT, STOP_ERROR,
};

struct vcpu;

struct vm {
    const struct vm_config *cfg;
    struct kvm_sys kvm;
    struct kvm_cpuid2 *supported_cpuid;
    int vm_fd;
    struct guest_memory mem;
    struct firmware_image fw;
    struct file_data kernel, initrd;   /* read before KVM is touched, reloaded from here on reset */
    struct bus pio, mmio;
    struct irq_routing routing;
    struct vcpu *vcpus;
    int nvcpus_started;

    /* PCI and its devices belong to the machine: rebuilt on reset; backends persist. */
    struct pci_bus pci;
    bool pci_ready;
    struct fw_cfg fw_cfg;       /* what SeaBIOS reads: e820, CPUs, ACPI tables, boot order */
    bool fw_cfg_ready;
    struct msi_host msi;
    struct block_backend disks[CONFIG_MAX_DISKS];
    struct virtio_blk *blk[CONFIG_MAX_DISKS];
    struct net_backend *netdevs[CONFIG_MAX_NICS];   /* opened once, outlive resets */
    struct virtio_net *nics[CONFIG_MAX_NICS];
    struct block_backend cdrom_disk;                /* opened once */
    bool cdrom_open;
    struct virtio_scsi *cdrom;                      /* --cdrom (bus=scsi) */
    struct ide_cd *ide_cd;                          /* --cdrom FILE,bus=ide */
    struct display display;                         /* re-initialised in place on reset */
    bool display_ready;
    struct vnc *vnc;                                /* outlives resets; points at `display` */
    int vnc_last_x, vnc_last_y;
    struct file_data vga_rom, nic_rom;              /* option ROMs for SeaBIOS (PCI ROM BARs) */

    struct serial com1;
    struct rtc rtc;
    struct i8042 i8042;
    struct acpi_pm pm;
    struct platform_ports ports;
    struct console console;
    struct event_loop loop;
    int event_fd;               /* vCPU threads and devices wake the loop through it */
    int signal_fd;

    pthread_mutex_t stop_lock;
    enum vm_stop stop;
    int stop_signal;
    atomic_bool stopping;       /* vCPU threads leave KVM_RUN when set */
    int resets;
    struct control *control;    /* QMP socket, or NULL */
    bool paused;                /* vCPUs stopped by "stop" */
    bool power_button_pressed;  /* SIGTERM pressed it; the next SIGTERM stops at once */
    int shutdown_timer_fd;      /* the grace period after that press */
    int debugcon_fd;            /* port 0x402 output (SeaBIOS's debug log), -1 if not kept */
    struct timespec started;
};

/* Builds everything from `cfg`; on failure one error line has been printed. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Runs until the VM ends; returns the process exit status (enum vm_exit_status or 128+signal). */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);
/* Thread-safe: asks the main loop to stop the machine (first request wins). */
void vm_request_stop(struct vm *vm, enum vm_stop why);

#endif
