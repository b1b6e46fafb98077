/* vmm autostart: a systemd unit per VM that starts it at boot and shuts it down with the host. */
#ifndef VMM_MANAGE_AUTOSTART_H
#define VMM_MANAGE_AUTOSTART_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/manage/vmdef.h"

/* Writes (or removes) vmm-NAME.service, enables (disables) it when systemd runs, records the flag. */
int autostart_set(struct vmdef *d, bool on, char *err, size_t errlen);
int cmd_autostart(int argc, char **argv);

#endif
