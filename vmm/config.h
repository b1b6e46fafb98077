/* The VM configuration: what to run and how, validated before any VM is built. */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/cpuid.h"
#include "vmm/block/block.h"
#include "vmm/console.h"

#define CONFIG_MAX_CPUS 255
#define CONFIG_MIN_MEMORY (16ULL << 20)
#define CONFIG_MAX_MEMORY (1ULL << 40)
#define CONFIG_DEFAULT_MEMORY (512ULL << 20)
#define CONFIG_DEFAULT_FIRMWARE "/usr/share/seabios/bios-256k.bin"

#define CONFIG_MAX_DISKS 16
#define CONFIG_MAX_DISK_QUEUES 16      /* virtio-blk request queues per disk */

struct disk_config {
    const char *path;
    bool readonly;
    enum blk_cache cache;
    const char *format;            /* "raw", "qcow2", or NULL: recognised from the header */
    char serial[21];
    int queues;                    /* virtio-blk request queues; 0: one per vCPU (at most 16) */
};

#define CONFIG_MAX_NICS 8

enum nic_kind { NIC_USER, NIC_TAP, NIC_BRIDGE };

struct nic_config {
    enum nic_kind kind;
    const char *tap;               /* interface name for NIC_TAP */
    char bridge[16];               /* Linux bridge for NIC_BRIDGE (vmm adds a tap of its own) */
    char hostfwd[512];             /* comma-separated hostfwd rules for NIC_USER */
    char bootfile[256];            /* DHCP boot file name for NIC_USER (e.g. an iPXE script URL) */
    uint8_t mac[6];
    bool mac_set;                  /* else derived from the VM name at validation */
};

enum boot_device { BOOT_DEFAULT, BOOT_CDROM, BOOT_DISK };
/* The CD-ROM's controller: virtio-scsi, or an ATAPI drive on the PIIX IDE function (QEMU's -cdrom). */
enum cdrom_bus { CDROM_BUS_SCSI, CDROM_BUS_IDE };

struct vnc_config {
    bool enabled;
    char listen[64];               /* default 127.0.0.1 */
    int display;                   /* port 5900 + display */
    const char *password;
    char password_buf[64];         /* read from password-file= */
};

struct vm_config {
    const char *name;
    const char *uuid;              /* --uuid, as given (validated), or NULL */
    uint8_t uuid_bytes[16];        /* SMBIOS type 1 UUID */
    uint64_t memory;               /* bytes */
    int cpus;
    struct cpu_model cpu;
    const char *kernel, *initrd, *append, *firmware;
    enum console_mode serial;
    const char *serial_path;       /* for CONSOLE_FILE and CONSOLE_SOCKET */
    char serial_socket[4096];      /* CONSOLE_SOCKET's path (serial_path points here) */
    const char *serial_log;        /* copy of the console output (socket:PATH,log=FILE), or NULL */
    bool no_reboot;
    int shutdown_timeout;          /* seconds the guest gets after SIGTERM presses the power button */
    const char *debugcon;          /* file for port 0x402 output, or NULL */
    bool stats;                    /* print exit statistics on exit */
    bool trace;                    /* print every VM exit */
    const char *kvm_device;        /* /dev/kvm, or $VMM_KVM_DEVICE */
    struct disk_config disks[CONFIG_MAX_DISKS];
    int ndisks;
    struct nic_config nics[CONFIG_MAX_NICS];
    int nnics;
    const char *cdrom;             /* ISO for the CD-ROM drive */
    enum cdrom_bus cdrom_bus;      /* virtio-scsi (default) or IDE */
    const char *control;           /* QMP control socket path, or NULL */
    const char *pidfile;           /* locked pidfile while running, or NULL */
    enum boot_device boot;
    struct vnc_config vnc;
};

void config_defaults(struct vm_config *c);
/* Parses a size: a plain number is `default_unit` bytes; K, M, G, T suffixes (optional "iB"/"B"). */
int config_parse_size(const char *s, uint64_t default_unit, uint64_t *out);
int config_parse_memory(struct vm_config *c, const char *s, char *err, size_t errlen);
int config_parse_cpus(struct vm_config *c, const char *s, char *err, size_t errlen);
int config_parse_serial(struct vm_config *c, const char *s, char *err, size_t errlen);
/* --disk FILE[,readonly=on|off][,format=raw][,cache=none|writeback][,serial=ID][,queues=N] (also file=FILE). */
int config_parse_disk(struct vm_config *c, char *s, char *err, size_t errlen);
/* --network user[,hostfwd=tcp:ADDR:PORT-:GPORT]...[,bootfile=URL][,mac=M] | tap=NAME[,mac=M] | none */
int config_parse_network(struct vm_config *c, char *s, char *err, size_t errlen);
/* A stable MAC for NIC `index` of the VM called `name`: 52:54:00 and three bytes of a hash. */
void config_default_mac(const char *name, int index, uint8_t mac[6]);
/* --vnc [ADDR]:DISPLAY[,password=P|password-file=FILE] (ADDR:auto: the first free display) */
int config_parse_vnc(struct vm_config *c, char *s, char *err, size_t errlen);
/* --uuid 8-4-4-4-12 hex digits */
int config_parse_uuid(struct vm_config *c, const char *s, char *err, size_t errlen);
/* --cdrom FILE[,bus=scsi|ide] */
int config_parse_cdrom(struct vm_config *c, char *s, char *err, size_t errlen);

/* --boot cdrom|disk (also QEMU's d|c and virt-install's hd) */
int config_parse_boot(struct vm_config *c, const char *s, char *err, size_t errlen);
/* Cross-option checks (e.g. --initrd needs --kernel); picks SeaBIOS when nothing is to boot. */
int config_validate(struct vm_config *c, char *err, size_t errlen);

#endif
