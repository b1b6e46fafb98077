/* vmm autostart: a systemd unit per VM that starts it at boot and shuts it down with the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/manage/autostart.h"
#include "vmm/manage/home.h"
#include "vmm/manage/runtime.h"

/* /etc/systemd/system for root, ~/.config/systemd/user otherwise; $VMM_SYSTEMD_DIR overrides. */
static bool unit_dir(char *buf, size_t len, bool *user)
{
    const char *env = getenv("VMM_SYSTEMD_DIR"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    *user = geteuid() != 0;
    if (env && *env)
        return snprintf(buf, len, "%s", env) < (int)len;
    if (!*user)
        return snprintf(buf, len, "/etc/systemd/system") < (int)len;
    if (xdg && *xdg)
        return snprintf(buf, len, "%s/systemd/user", xdg) < (int)len;
    return home && snprintf(buf, len, "%s/.config/systemd/user", home) < (int)len;
}

/* systemctl [--user] ARGS when systemd manages this machine; false when it does not run here. */
static bool systemctl(bool user, const char *verb, const char *unit)
{
    if (access("/run/systemd/system", F_OK) || getenv("VMM_SYSTEMD_DIR"))
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        if (user)
            execlp("systemctl", "systemctl", "--user", verb, unit, (char *)NULL);
        else
            execlp("systemctl", "systemctl", verb, unit, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int write_unit(const char *path, const struct vmdef *d, bool user, char *err, size_t errlen)
{
    char exe[PATH_MAX] = "/usr/local/bin/vmm", home[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0)
        exe[n] = 0;
    int rc = home_dir(home, sizeof(home), err, errlen);
    if (rc)
        return rc;
    struct run_paths p;
    if ((rc = run_paths(d->name, &p, err, errlen)))
        return rc;
    char text[16384];
    int len = snprintf(text, sizeof(text),
        "# Written by vmm autostart %s; removed by vmm autostart %s --disable.\n"
        "[Unit]\n"
        "Description=vmm virtual machine %s\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=forking\n"
        "Environment=VMM_HOME=%s\n"
        "PIDFile=%s\n"
        "ExecStart=%s start %s\n"
        "ExecStop=%s shutdown %s --timeout 60\n"
        "TimeoutStopSec=90\n"
        "KillMode=mixed\n"
        "\n"
        "[Install]\n"
        "WantedBy=%s\n",
        d->name, d->name, d->name, home, p.pidfile, exe, d->name, exe, d->name,
        user ? "default.target" : "multi-user.target");
    return write_file_atomic(path, text, (size_t)len, 0644, err, errlen);
}

int autostart_set(struct vmdef *d, bool on, char *err, size_t errlen)
{
    char dir[4096], path[4300], unit[128];
    bool user;
    if (!unit_dir(dir, sizeof(dir), &user)) {
        errorf(err, errlen, "no directory for systemd units: set HOME or VMM_SYSTEMD_DIR");
        return -ENOENT;
    }
    snprintf(unit, sizeof(unit), "vmm-%s.service", d->name);
    snprintf(path, sizeof(path), "%s/%s", dir, unit);
    int rc;
    if (on) {
        if ((rc = mkdir_p(dir, 0755))) {
            errorf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
            return rc;
        }
        if ((rc = write_unit(path, d, user, err, errlen)))
            return rc;
        systemctl(user, "daemon-reload", NULL);
        systemctl(user, "enable", unit);
    } else {
        systemctl(user, "disable", unit);
        if (unlink(path) && errno != ENOENT) {
            errorf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            return -errno;
        }
        systemctl(user, "daemon-reload", NULL);
    }
    d->autostart = on;
    return vmdef_save(d, err, errlen);
}

int cmd_autostart(int argc, char **argv)
{
    static struct vmdef d;
    char err[1024];
    bool disable = argc == 3 && !strcmp(argv[2], "--disable");
    if ((argc != 2 && !disable) || argv[1][0] == '-') {
        log_error("usage: vmm autostart NAME [--disable]");
        return 1;
    }
    if (vmdef_load(argv[1], &d, err, sizeof(err)) || autostart_set(&d, !disable, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    printf("VM '%s' %s\n", d.name, disable ? "will no longer start at boot" : "will start at boot (systemd unit vmm-<name>.service)");
    return 0;
}
