/* A defined VM's running side: its run directory, background vmm process, state and control. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/network.h"
#include "vmm/manage/pidfile.h"
#include "vmm/manage/qmp_client.h"
#include "vmm/manage/runtime.h"

#define START_TIMEOUT_MS 30000
#define MAX_ARGS 128

int run_paths(const char *name, struct run_paths *p, char *err, size_t errlen)
{
    if (!name_valid(name)) {
        errorf(err, errlen, "'%s' is not a valid VM name", name);
        return -EINVAL;
    }
    int rc = home_path(p->dir, sizeof(p->dir), err, errlen, "run/%s", name);
    if (rc)
        return rc;
    snprintf(p->pidfile, sizeof(p->pidfile), "%s/pid", p->dir);
    snprintf(p->qmp, sizeof(p->qmp), "%s/qmp.sock", p->dir);
    snprintf(p->console, sizeof(p->console), "%s/console.sock", p->dir);
    snprintf(p->console_log, sizeof(p->console_log), "%s/console.log", p->dir);
    snprintf(p->vmm_log, sizeof(p->vmm_log), "%s/vmm.log", p->dir);
    snprintf(p->vnc_pass, sizeof(p->vnc_pass), "%s/vnc.pass", p->dir);
    return 0;
}

pid_t runtime_pid(const char *name)
{
    struct run_paths p;
    char err[256];
    if (run_paths(name, &p, err, sizeof(err)))
        return 0;
    return pidfile_owner(p.pidfile);
}

int runtime_qmp(const char *name, const char *command, struct json_object *args, struct json_object **ret,
                char *err, size_t errlen)
{
    struct run_paths p;
    int rc = run_paths(name, &p, err, errlen);
    if (rc) {
        json_object_put(args);
        return rc;
    }
    if (!pidfile_owner(p.pidfile)) {
        errorf(err, errlen, "VM '%s' is not running (start it with vmm start %s)", name, name);
        json_object_put(args);
        return -ESRCH;
    }
    return qmp_run(p.qmp, command, args, ret, err, errlen);
}

const char *runtime_state(const char *name)
{
    if (!runtime_pid(name))
        return "shut off";
    struct json_object *ret = NULL, *status;
    char err[512];
    const char *state = "running";
    if (runtime_qmp(name, "query-status", NULL, &ret, err, sizeof(err)) == 0 &&
        json_object_object_get_ex(ret, "status", &status) && !strcmp(json_object_get_string(status), "paused"))
        state = "paused";
    json_object_put(ret);
    return state;
}

int runtime_vnc(const char *name, char *buf, size_t len)
{
    struct json_object *ret = NULL, *en, *host, *svc;
    char err[512];
    buf[0] = 0;
    int rc = runtime_qmp(name, "query-vnc", NULL, &ret, err, sizeof(err));
    if (rc == 0 && json_object_object_get_ex(ret, "enabled", &en) && json_object_get_boolean(en) &&
        json_object_object_get_ex(ret, "host", &host) && json_object_object_get_ex(ret, "service", &svc))
        snprintf(buf, len, "%s:%s", json_object_get_string(host), json_object_get_string(svc));
    json_object_put(ret);
    return rc;
}

bool runtime_wait_stopped(const char *name, int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        if (!runtime_pid(name))
            return true;
        if (waited >= timeout_ms)
            return false;
        usleep(50 * 1000);
    }
}

/* ---- building the vmm run command line from a definition ---- */

struct argv_builder {
    char *argv[MAX_ARGS];
    int argc;
    char store[32768];
    size_t used;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_builder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof(b->store) - b->used;
    int n = vsnprintf(b->store + b->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room || b->argc >= MAX_ARGS - 1)
        return; /* cannot happen with the definition's bounded fields */
    b->argv[b->argc++] = b->store + b->used;
    b->argv[b->argc] = NULL;
    b->used += (size_t)n + 1;
}

static int compare_targets(const void *a, const void *b)
{
    const struct vmdef_disk *x = *(struct vmdef_disk *const *)a, *y = *(struct vmdef_disk *const *)b;
    size_t lx = strlen(x->target), ly = strlen(y->target);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->target, y->target);
}

static void add_disks(struct argv_builder *b, const struct vmdef *d)
{
    const struct vmdef_disk *order[VMDEF_MAX_DISKS];
    for (int i = 0; i < d->ndisks; i++)
        order[i] = &d->disks[i];
    qsort(order, (size_t)d->ndisks, sizeof(order[0]), compare_targets);
    for (int i = 0; i < d->ndisks; i++) {
        add(b, "--disk");
        add(b, "%s%s%s%s,serial=%s", order[i]->path, order[i]->format[0] ? ",format=" : "", order[i]->format,
            order[i]->readonly ? ",readonly=on" : "", order[i]->target);
    }
}

static int add_nics(struct argv_builder *b, const struct vmdef *d, char *err, size_t errlen)
{
    for (int i = 0; i < d->nnics; i++) {
        const struct vmdef_nic *n = &d->nics[i];
        add(b, "--network");
        if (!strcmp(n->type, "user")) {
            add(b, "user,mac=%s", n->mac);
        } else if (!strcmp(n->type, "tap")) {
            add(b, "tap=%s,mac=%s", n->source, n->mac);
        } else if (!strcmp(n->type, "bridge")) {
            add(b, "bridge=%s,mac=%s", n->source, n->mac);
        } else if (!strcmp(n->type, "network")) {
            char bridge[64];
            int rc = network_bridge(n->source, bridge, sizeof(bridge), err, errlen);
            if (rc)
                return rc;
            add(b, "bridge=%s,mac=%s", bridge, n->mac);
        } else {
            errorf(err, errlen, "NIC %d of '%s' has unknown type '%s'", i, d->name, n->type);
            return -EINVAL;
        }
    }
    return 0;
}

static int build_run_argv(struct argv_builder *b, const struct vmdef *d, const struct run_paths *p, char *err,
                          size_t errlen)
{
    add(b, "vmm");
    add(b, "run");
    add(b, "--name=%s", d->name);
    if (d->uuid[0])
        add(b, "--uuid=%s", d->uuid);
    add(b, "--memory=%lluM", (unsigned long long)d->memory_mib);
    add(b, "--cpus=%d", d->vcpus);
    if (d->kernel[0]) {
        add(b, "--kernel=%s", d->kernel);
        if (d->initrd[0])
            add(b, "--initrd=%s", d->initrd);
        if (d->cmdline[0])
            add(b, "--append=%s", d->cmdline);
    } else if (d->loader[0]) {
        add(b, "--firmware=%s", d->loader);
    }
    add_disks(b, d);
    if (d->cdrom[0])
        add(b, "--cdrom=%s", d->cdrom);
    int rc = add_nics(b, d, err, errlen);
    if (rc)
        return rc;
    if (d->boot[0])
        add(b, "--boot=%s", !strcmp(d->boot, "hd") ? "disk" : d->boot);
    if (d->vnc) {
        char display[16];
        if (d->vnc_port < 0)
            snprintf(display, sizeof(display), "auto");
        else
            snprintf(display, sizeof(display), "%d", d->vnc_port - 5900);
        add(b, "--vnc=%s:%s%s%s", d->vnc_listen, display, d->vnc_password[0] ? ",password-file=" : "",
            d->vnc_password[0] ? p->vnc_pass : "");
    }
    add(b, "--serial=socket:%s,log=%s", p->console, p->console_log);
    add(b, "--control=%s", p->qmp);
    add(b, "--pidfile=%s", p->pidfile);
    return 0;
}

/* ---- starting ---- */

static void exec_daemon(char **argv, const char *log_path)
{
    setsid();
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
        _exit(127);
    if (chdir("/")) {
        /* paths in definitions are absolute */
    }
    signal(SIGPIPE, SIG_DFL);
    execv("/proc/self/exe", argv);
    dprintf(2, "vmm: error: cannot run /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
}

/* The "vmm: error:" lines this start appended to vmm.log, as one line. */
static void start_errors(const char *log_path, off_t from, char *err, size_t errlen)
{
    char buf[4096] = "";
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, from) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *line = strstr(buf, "vmm: error: ");
    if (!line) {
        errorf(err, errlen, "the VM stopped while starting (see %s)", log_path);
        return;
    }
    line += strlen("vmm: error: ");
    line[strcspn(line, "\n")] = 0;
    errorf(err, errlen, "%s", line);
}

static void log_start_line(const char *log_path, char **argv, off_t *offset)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
    dprintf(fd, "--- %s start:", when);
    for (int i = 0; argv[i]; i++)
        dprintf(fd, " %s", argv[i]);
    dprintf(fd, "\n");
    *offset = lseek(fd, 0, SEEK_END);
    close(fd);
}

/* A writable disk of d that another VM's linked clone uses as its backing file: writing it would
 * silently change (corrupt) that clone. Returns true with the message in err. */
static bool backs_a_linked_clone(const struct vmdef *d, char *err, size_t errlen)
{
    static char names[1024][64];
    static struct vmdef other;
    char e[512];
    int n = vmdef_list(names, 1024, e, sizeof(e));
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], d->name) || vmdef_load(names[i], &other, e, sizeof(e)))
            continue;
        for (int k = 0; k < other.ndisks; k++)
            for (int j = 0; j < d->ndisks; j++)
                if (other.disks[k].backing[0] && !d->disks[j].readonly &&
                    !strcmp(other.disks[k].backing, d->disks[j].path)) {
                    errorf(err, errlen, "disk %s of '%s' is the base of linked clone '%s': writing it would corrupt "
                           "the clone (make a full clone with vmm clone, or undefine '%s' first)",
                           d->disks[j].path, d->name, other.name, other.name);
                    return true;
                }
    }
    return false;
}

int runtime_start(const struct vmdef *d, char *err, size_t errlen)
{
    struct run_paths p;
    int rc = run_paths(d->name, &p, err, errlen);
    if (rc || (rc = mkdir_p(p.dir, 0700))) {
        if (rc != -EINVAL && rc != -ENAMETOOLONG)
            errorf(err, errlen, "cannot create %s: %s", p.dir, strerror(-rc));
        return rc;
    }
    if (pidfile_owner(p.pidfile)) {
        errorf(err, errlen, "VM '%s' is already running (pid %d)", d->name, (int)pidfile_owner(p.pidfile));
        return -EBUSY;
    }
    if (backs_a_linked_clone(d, err, errlen))
        return -EBUSY;
    if (d->vnc && d->vnc_password[0] &&
        (rc = write_file_atomic(p.vnc_pass, d->vnc_password, strlen(d->vnc_password), 0600, err, errlen)))
        return rc;
    static struct argv_builder b;
    memset(&b, 0, sizeof(b));
    if ((rc = build_run_argv(&b, d, &p, err, errlen)))
        return rc;
    off_t log_offset = 0;
    log_start_line(p.vmm_log, b.argv, &log_offset);
    pid_t child = fork();
    if (child < 0) {
        errorf(err, errlen, "cannot start a process: %s", strerror(errno));
        return -errno;
    }
    if (child == 0)
        exec_daemon(b.argv, p.vmm_log);
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            start_errors(p.vmm_log, log_offset, err, errlen);
            return -EIO;
        }
        if (pidfile_owner(p.pidfile) == child) {
            int fd = qmp_open(p.qmp, err, errlen);
            if (fd >= 0) {
                close(fd);
                return 0;
            }
        }
        usleep(50 * 1000);
    }
    errorf(err, errlen, "VM '%s' did not come up within %d s (see %s)", d->name, START_TIMEOUT_MS / 1000, p.vmm_log);
    return -ETIMEDOUT;
}
