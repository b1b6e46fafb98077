/* The VM-management verbs (create, list, start, console, clone, attach-disk, ...), as virsh knows them. */
#ifndef VMM_MANAGE_COMMANDS_H
#define VMM_MANAGE_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vmm/manage/vmdef.h"

/* Runs `vmm VERB ...` (argv[0] is the verb). Returns the exit status, or -1 when VERB is not one. */
int manage_main(int argc, char **argv);
/* One line per verb, for vmm --help. */
void manage_usage(FILE *out);

/* Images a command created, so a failing later step can remove them again. */
struct created {
    char paths[VMDEF_MAX_DISKS][VMDEF_PATH];
    int n;
};
void undo_created(const struct created *c);
/* Ends a command that changed d: when rc is 0 saves d, and on any failure removes the images the
 * command created and prints err. Returns 0 when d was saved, else 1 (the exit status). */
int save_or_undo(const struct vmdef *d, int rc, const struct created *made, char *err, size_t errlen);

/* --disk path=FILE[,size=GB][,format=][,target=vdX][,readonly=on] into d (creating the image for size=). */
int disk_add(struct vmdef *d, char *spec, struct created *made, char *err, size_t errlen);
/* --network user|bridge=BR|network=NAME|tap=NAME[,mac=M] into d (a new MAC unless given). */
int nic_add(struct vmdef *d, char *spec, char *err, size_t errlen);

int cmd_create(int argc, char **argv, bool start);
/* Attaches this terminal to NAME's serial console until Ctrl-] (or the VM stops). */
int console_attach_vm(const char *name);
int cmd_console(int argc, char **argv);
int cmd_clone(int argc, char **argv);
int cmd_attach_disk(int argc, char **argv);
int cmd_detach_disk(int argc, char **argv);
int cmd_autostart(int argc, char **argv);

#endif
