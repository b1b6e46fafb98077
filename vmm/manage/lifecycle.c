/* vmm start, shutdown, reboot, destroy, suspend, resume, undefine: a defined VM's life cycle. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/manage/home.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/autostart.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/lifecycle.h"
#include "vmm/manage/vmdef.h"

#define DEFAULT_SHUTDOWN_TIMEOUT 60
#define DESTROY_GRACE_MS 5000

static int fail(const char *err)
{
    log_error("%s", err);
    return 1;
}

/* NAME, then optional --flags; returns NAME or NULL (usage printed). */
static const char *name_arg(int argc, char **argv, const char *usage)
{
    if (argc < 2 || argv[1][0] == '-') {
        log_error("usage: vmm %s", usage);
        return NULL;
    }
    return argv[1];
}

static int cmd_start(int argc, char **argv)
{
    const char *name = name_arg(argc, argv, "start NAME [--console]");
    static struct vmdef d;
    char err[1024];
    if (!name)
        return 1;
    if (vmdef_load(name, &d, err, sizeof(err)) || runtime_start(&d, err, sizeof(err)))
        return fail(err);
    printf("VM '%s' started\n", name);
    fflush(stdout);
    if (argc > 2 && !strcmp(argv[2], "--console"))
        return console_attach_vm(name);
    return 0;
}

/* Simple QMP verbs that need the VM running: suspend (stop), resume (cont), reboot (system_reset). */
static int qmp_verb(int argc, char **argv, const char *command, const char *done)
{
    char usage[64], err[1024];
    snprintf(usage, sizeof(usage), "%s NAME", argv[0]);
    const char *name = name_arg(argc, argv, usage);
    if (!name)
        return 1;
    if (!vmdef_exists(name)) {
        errorf(err, sizeof(err), "no VM named '%s' (see vmm list --all)", name);
        return fail(err);
    }
    if (runtime_qmp(name, command, NULL, NULL, err, sizeof(err)))
        return fail(err);
    printf("VM '%s' %s\n", name, done);
    return 0;
}

static int parse_timeout(int argc, char **argv, int *timeout)
{
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(argv[i], "--timeout=", 10))
            v = argv[i] + 10;
        char *end;
        long t = v ? strtol(v, &end, 10) : -1;
        if (!v || *end || t < 0 || t > 86400) {
            log_error("usage: vmm shutdown NAME [--timeout SECONDS] ('%s' is not understood)", argv[i]);
            return -1;
        }
        *timeout = (int)t;
    }
    return 0;
}

int managed_shutdown(const char *name, int timeout_s, char *err, size_t errlen)
{
    if (runtime_qmp(name, "system_powerdown", NULL, NULL, err, errlen))
        return -1;
    if (!runtime_wait_stopped(name, timeout_s * 1000)) {
        errorf(err, errlen, "VM '%s' did not power off within %d s after the ACPI power button (vmm destroy %s stops it at once)",
                 name, timeout_s, name);
        return -ETIMEDOUT;
    }
    return 0;
}

static int cmd_shutdown(int argc, char **argv)
{
    const char *name = name_arg(argc, argv, "shutdown NAME [--timeout SECONDS]");
    int timeout = DEFAULT_SHUTDOWN_TIMEOUT;
    char err[1024];
    if (!name || parse_timeout(argc, argv, &timeout))
        return 1;
    if (!vmdef_exists(name)) {
        errorf(err, sizeof(err), "no VM named '%s' (see vmm list --all)", name);
        return fail(err);
    }
    if (managed_shutdown(name, timeout, err, sizeof(err)))
        return fail(err);
    printf("VM '%s' is shut off\n", name);
    return 0;
}

int managed_destroy(const char *name, char *err, size_t errlen)
{
    pid_t pid = runtime_pid(name);
    if (!pid) {
        errorf(err, errlen, "VM '%s' is not running", name);
        return -ESRCH;
    }
    char ignore[512];
    runtime_qmp(name, "quit", NULL, NULL, ignore, sizeof(ignore));
    if (runtime_wait_stopped(name, DESTROY_GRACE_MS))
        return 0;
    if (kill(pid, SIGKILL) && errno != ESRCH) {
        errorf(err, errlen, "cannot stop pid %d of VM '%s': %s", (int)pid, name, strerror(errno));
        return -errno;
    }
    return runtime_wait_stopped(name, DESTROY_GRACE_MS) ? 0 : -ETIMEDOUT;
}

static int cmd_destroy(int argc, char **argv)
{
    const char *name = name_arg(argc, argv, "destroy NAME");
    char err[1024];
    if (!name)
        return 1;
    if (!vmdef_exists(name)) {
        errorf(err, sizeof(err), "no VM named '%s' (see vmm list --all)", name);
        return fail(err);
    }
    if (managed_destroy(name, err, sizeof(err)))
        return fail(err);
    printf("VM '%s' destroyed\n", name);
    return 0;
}

static int cmd_undefine(int argc, char **argv)
{
    const char *name = name_arg(argc, argv, "undefine NAME [--remove-all-storage]");
    bool storage = false;
    static struct vmdef d;
    char err[1024];
    if (!name)
        return 1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--remove-all-storage")) {
            log_error("usage: vmm undefine NAME [--remove-all-storage] ('%s' is not understood)", argv[i]);
            return 1;
        }
        storage = true;
    }
    if (vmdef_load(name, &d, err, sizeof(err)))
        return fail(err);
    if (runtime_pid(name)) {
        errorf(err, sizeof(err), "VM '%s' is running: stop it first (vmm shutdown %s or vmm destroy %s)", name, name, name);
        return fail(err);
    }
    if (d.autostart)
        autostart_set(&d, false, err, sizeof(err));
    if (vmdef_remove(name, err, sizeof(err)))
        return fail(err);
    for (int i = 0; storage && i < d.ndisks; i++) {
        if (d.disks[i].readonly)
            continue; /* shared media (an ISO attached as a disk) stays */
        if (unlink(d.disks[i].path) && errno != ENOENT)
            log_warn("cannot remove %s: %s", d.disks[i].path, strerror(errno));
        else
            printf("removed %s\n", d.disks[i].path);
    }
    struct run_paths p;
    if (run_paths(name, &p, err, sizeof(err)) == 0) {
        unlink(p.pidfile);
        unlink(p.qmp);
        unlink(p.console);
        unlink(p.console_log);
        unlink(p.vmm_log);
        unlink(p.vnc_pass);
        rmdir(p.dir);
    }
    printf("VM '%s' undefined\n", name);
    return 0;
}

int lifecycle_main(int argc, char **argv)
{
    const char *verb = argv[0];
    if (!strcmp(verb, "start"))
        return cmd_start(argc, argv);
    if (!strcmp(verb, "shutdown"))
        return cmd_shutdown(argc, argv);
    if (!strcmp(verb, "destroy"))
        return cmd_destroy(argc, argv);
    if (!strcmp(verb, "reboot") || !strcmp(verb, "reset"))
        return qmp_verb(argc, argv, "system_reset", "reset");
    if (!strcmp(verb, "suspend"))
        return qmp_verb(argc, argv, "stop", "suspended");
    if (!strcmp(verb, "resume"))
        return qmp_verb(argc, argv, "cont", "resumed");
    if (!strcmp(verb, "undefine"))
        return cmd_undefine(argc, argv);
    return -1;
}
