/* vmm attach-disk / detach-disk: change a VM's disks in its definition, applied at its next start. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/manage/home.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/vmdef.h"

static void note_running(const char *name)
{
    if (runtime_pid(name))
        printf("VM '%s' is running: the change applies at its next start\n", name);
}

/* vmm attach-disk NAME FILE|size=GB [--target vdX] [--format qcow2|raw] [--mode readonly] */
int cmd_attach_disk(int argc, char **argv)
{
    static struct vmdef d;
    static struct created made;
    char spec[VMDEF_PATH + 128], err[1024];
    const char *target = NULL, *format = NULL;
    bool readonly = false;
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        log_error("usage: vmm attach-disk NAME FILE|size=GB [--target vdX] [--format qcow2|raw] [--mode readonly]");
        return 1;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = argv[++i];
        else if ((!strcmp(argv[i], "--format") || !strcmp(argv[i], "--subdriver")) && i + 1 < argc)
            format = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc && !strcmp(argv[i + 1], "readonly"))
            readonly = true, i++;
        else if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--persistent"))
            continue; /* always persistent */
        else {
            log_error("attach-disk: '%s' is not understood (options: --target vdX, --format F, --mode readonly)", argv[i]);
            return 1;
        }
    }
    memset(&made, 0, sizeof(made));
    if (vmdef_load(argv[1], &d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    bool size_only = !strncmp(argv[2], "size=", 5);
    snprintf(spec, sizeof(spec), "%s%s%s%s%s%s%s", size_only ? "" : "path=", argv[2], target ? ",target=" : "",
             target ? target : "", format ? ",format=" : "", format ? format : "", readonly ? ",readonly=on" : "");
    int rc = disk_add(&d, spec, &made, err, sizeof(err));
    if (rc == 0)
        for (int i = 0; i < d.ndisks - 1; i++)
            if (!strcmp(d.disks[i].path, d.disks[d.ndisks - 1].path)) {
                errorf(err, sizeof(err), "%s is already attached to '%s' as %s", d.disks[i].path, d.name, d.disks[i].target);
                rc = -EEXIST;
            }
    if (save_or_undo(&d, rc, &made, err, sizeof(err)))
        return 1;
    const struct vmdef_disk *k = &d.disks[d.ndisks - 1];
    printf("Disk %s attached to '%s' as %s\n", k->path, d.name, k->target);
    note_running(d.name);
    return 0;
}

/* vmm detach-disk NAME TARGET|FILE: the image file stays. */
int cmd_detach_disk(int argc, char **argv)
{
    static struct vmdef d;
    char err[1024];
    if (argc != 3 || argv[1][0] == '-') {
        log_error("usage: vmm detach-disk NAME TARGET|FILE");
        return 1;
    }
    if (vmdef_load(argv[1], &d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    int found = -1;
    for (int i = 0; i < d.ndisks && found < 0; i++)
        if (!strcmp(d.disks[i].target, argv[2]) || !strcmp(d.disks[i].path, argv[2]))
            found = i;
    if (found < 0) {
        log_error("VM '%s' has no disk %s (see vmm dominfo %s)", d.name, argv[2], d.name);
        return 1;
    }
    char path[VMDEF_PATH], target[8];
    snprintf(path, sizeof(path), "%s", d.disks[found].path);
    snprintf(target, sizeof(target), "%s", d.disks[found].target);
    memmove(&d.disks[found], &d.disks[found + 1], (size_t)(d.ndisks - found - 1) * sizeof(d.disks[0]));
    d.ndisks--;
    if (vmdef_save(&d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    printf("Disk %s (%s) detached from '%s'; the file is kept\n", target, path, d.name);
    note_running(d.name);
    return 0;
}
