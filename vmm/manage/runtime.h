/* A defined VM's running side: its run directory, background vmm process, state and control. */
#ifndef VMM_MANAGE_RUNTIME_H
#define VMM_MANAGE_RUNTIME_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vmm/manage/vmdef.h"

/* $STATE/run/NAME/: pid (locked while running), qmp.sock, console.sock, console.log, vmm.log,
 * vnc.pass (mode 0600: the VNC password stays off the command line) */
struct run_paths {
    char dir[4200], pidfile[4300], qmp[4300], console[4300], console_log[4300], vmm_log[4300], vnc_pass[4300];
};

int run_paths(const char *name, struct run_paths *p, char *err, size_t errlen);
/* The pid of the VM's vmm process, 0 when it is not running. */
pid_t runtime_pid(const char *name);
/* "running", "paused" or "shut off", from the pidfile lock and the control socket. */
const char *runtime_state(const char *name);
/* Starts the VM as a background vmm process and waits until its control socket answers. */
int runtime_start(const struct vmdef *d, char *err, size_t errlen);
/* Runs one QMP command on the VM's control socket. */
int runtime_qmp(const char *name, const char *command, struct json_object *args, struct json_object **ret,
                char *err, size_t errlen);
/* Waits up to timeout_ms for the VM's process to end; true when it did. */
bool runtime_wait_stopped(const char *name, int timeout_ms);
/* The VNC address of a running VM ("127.0.0.1:5900"), from query-vnc; "" when it has none. */
int runtime_vnc(const char *name, char *buf, size_t len);

#endif
