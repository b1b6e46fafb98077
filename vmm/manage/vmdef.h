/* VM definitions: one human-readable JSON file per VM under the state directory's vms/. */
#ifndef VMM_MANAGE_VMDEF_H
#define VMM_MANAGE_VMDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMDEF_MAX_DISKS 16
#define VMDEF_MAX_NICS 8
#define VMDEF_PATH 4096

struct vmdef_disk {
    char path[VMDEF_PATH];
    char format[8];              /* "raw" or "qcow2" */
    char target[8];              /* vda, vdb, ... (the order the guest sees them in) */
    bool readonly;
    char backing[VMDEF_PATH];    /* a linked clone's overlay: the original's image it is based on */
};

struct vmdef_nic {
    char type[16];               /* user, bridge, network, tap */
    char source[64];             /* bridge, network or tap name ("" for user) */
    char mac[18];                /* 52:54:00:xx:xx:xx */
};

struct vmdef {
    char name[64];
    char uuid[37];
    uint64_t memory_mib;
    int vcpus;
    struct vmdef_disk disks[VMDEF_MAX_DISKS];
    int ndisks;
    char cdrom[VMDEF_PATH];
    struct vmdef_nic nics[VMDEF_MAX_NICS];
    int nnics;
    bool vnc;                    /* graphics vnc (else none) */
    char vnc_listen[64];
    int vnc_port;                /* TCP port, -1: the first free one from 5900 */
    char vnc_password[64];
    char boot[8];                /* "", "cdrom" or "hd" */
    char kernel[VMDEF_PATH], initrd[VMDEF_PATH], cmdline[VMDEF_PATH], loader[VMDEF_PATH];
    bool autostart;
};

/* A definition with the defaults (512 MiB, 1 vCPU, VNC on 127.0.0.1 at a free port, a new UUID). */
void vmdef_init(struct vmdef *d, const char *name);
/* $STATE/vms/NAME.json */
int vmdef_path(const char *name, char *buf, size_t len, char *err, size_t errlen);
bool vmdef_exists(const char *name);
/* Reads NAME's definition; a missing VM gets "no VM named NAME (see vmm list --all)". */
int vmdef_load(const char *name, struct vmdef *d, char *err, size_t errlen);
/* Writes the definition atomically (temp + rename). */
int vmdef_save(const struct vmdef *d, char *err, size_t errlen);
int vmdef_remove(const char *name, char *err, size_t errlen);
/* The names of all defined VMs, sorted; returns the count (at most max) or -errno. */
int vmdef_list(char names[][64], int max, char *err, size_t errlen);

/* A random version-4 UUID and a random locally administered MAC in QEMU's 52:54:00 range. */
void vmdef_new_uuid(char out[37]);
void vmdef_new_mac(char out[18]);
/* True for six colon-separated hex bytes with a unicast first byte. */
bool vmdef_mac_valid(const char *mac);
/* The next free virtio disk name (vda, vdb, ...), or "" when all are taken. */
void vmdef_next_target(const struct vmdef *d, char out[8]);

#endif
