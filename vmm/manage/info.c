/* vmm list, dominfo, vncdisplay: what is defined and what runs, from definitions and live state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/manage/info.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/vmdef.h"

#define MAX_VMS 1024

/* The live address of a running VM's display, else what the definition asks for. */
static void vnc_column(const struct vmdef *d, bool running, char *buf, size_t len)
{
    if (!d->vnc)
        snprintf(buf, len, "-");
    else if (running && runtime_vnc(d->name, buf, len) == 0 && buf[0])
        return;
    else if (d->vnc_port >= 0)
        snprintf(buf, len, "%s:%d", d->vnc_listen, d->vnc_port);
    else
        snprintf(buf, len, "%s:auto", d->vnc_listen);
}

static int cmd_list(int argc, char **argv)
{
    static char names[MAX_VMS][64];
    static struct vmdef d;
    char err[1024];
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") && strcmp(argv[i], "-a")) {
            log_error("usage: vmm list [--all]");
            return 1;
        }
        all = true;
    }
    int n = vmdef_list(names, MAX_VMS, err, sizeof(err));
    if (n < 0) {
        log_error("%s", err);
        return 1;
    }
    printf("%-20s %-9s %5s %10s  %s\n", "NAME", "STATE", "VCPUS", "MEMORY", "VNC");
    for (int i = 0; i < n; i++) {
        const char *state = runtime_state(names[i]);
        bool running = strcmp(state, "shut off") != 0;
        if (!running && !all)
            continue;
        if (vmdef_load(names[i], &d, err, sizeof(err))) {
            printf("%-20s %-9s (%s)\n", names[i], state, err);
            continue;
        }
        char vnc[128], mem[32];
        vnc_column(&d, running, vnc, sizeof(vnc));
        snprintf(mem, sizeof(mem), "%llu MiB", (unsigned long long)d.memory_mib);
        printf("%-20s %-9s %5d %10s  %s\n", d.name, state, d.vcpus, mem, vnc);
    }
    return 0;
}

static int cmd_dominfo(int argc, char **argv)
{
    static struct vmdef d;
    char err[1024], vnc[128];
    if (argc != 2 || argv[1][0] == '-') {
        log_error("usage: vmm dominfo NAME");
        return 1;
    }
    if (vmdef_load(argv[1], &d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    const char *state = runtime_state(d.name);
    bool running = strcmp(state, "shut off") != 0;
    vnc_column(&d, running, vnc, sizeof(vnc));
    printf("Name:           %s\n", d.name);
    printf("UUID:           %s\n", d.uuid);
    printf("State:          %s\n", state);
    if (running)
        printf("PID:            %d\n", (int)runtime_pid(d.name));
    printf("CPU(s):         %d\n", d.vcpus);
    printf("Memory:         %llu MiB\n", (unsigned long long)d.memory_mib);
    printf("Autostart:      %s\n", d.autostart ? "enable" : "disable");
    printf("Boot:           %s\n", d.kernel[0] ? "kernel" : d.loader[0] ? "loader" : d.boot[0] ? d.boot : "default");
    if (d.kernel[0])
        printf("Kernel:         %s\n", d.kernel);
    if (d.cdrom[0])
        printf("CD-ROM:         %s\n", d.cdrom);
    for (int i = 0; i < d.ndisks; i++)
        printf("Disk %s:       %s (%s%s)\n", d.disks[i].target, d.disks[i].path,
               d.disks[i].format[0] ? d.disks[i].format : "probed", d.disks[i].readonly ? ", read-only" : "");
    for (int i = 0; i < d.nnics; i++)
        printf("NIC %d:          %s%s%s, mac %s\n", i, d.nics[i].type, d.nics[i].source[0] ? " " : "",
               d.nics[i].source, d.nics[i].mac);
    printf("Graphics:       %s\n", d.vnc ? "vnc" : "none");
    if (d.vnc)
        printf("VNC:            %s\n", vnc);
    return 0;
}

static int cmd_vncdisplay(int argc, char **argv)
{
    static struct vmdef d;
    char err[1024], vnc[128];
    if (argc != 2 || argv[1][0] == '-') {
        log_error("usage: vmm vncdisplay NAME");
        return 1;
    }
    if (vmdef_load(argv[1], &d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    if (!runtime_pid(d.name)) {
        log_error("VM '%s' is not running (start it with vmm start %s)", d.name, d.name);
        return 1;
    }
    if (!d.vnc || runtime_vnc(d.name, vnc, sizeof(vnc)) || !vnc[0]) {
        log_error("VM '%s' has no VNC display (it was defined with --graphics none)", d.name);
        return 1;
    }
    /* virsh prints the display (ADDR:N); the port follows for clients that want it. */
    const char *colon = strrchr(vnc, ':');
    int port = colon ? atoi(colon + 1) : 0;
    printf("%.*s:%d (port %d)\n", colon ? (int)(colon - vnc) : 0, vnc, port - 5900, port);
    return 0;
}

int info_main(int argc, char **argv)
{
    if (!strcmp(argv[0], "list"))
        return cmd_list(argc, argv);
    if (!strcmp(argv[0], "dominfo"))
        return cmd_dominfo(argc, argv);
    if (!strcmp(argv[0], "vncdisplay"))
        return cmd_vncdisplay(argc, argv);
    return -1;
}
