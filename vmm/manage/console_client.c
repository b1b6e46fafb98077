/* vmm console NAME: this terminal on a running VM's serial console, detached with Ctrl-]. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/runtime.h"
#include "vmm/term.h"

#define DETACH_KEY 0x1d /* Ctrl-], as virsh console */

static int connect_console(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(a.sun_path))
        return -ENAMETOOLONG;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    int e = errno;
    if (fd >= 0)
        close(fd);
    return -e;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Keyboard to guest; false once Ctrl-] was typed (bytes before it are still sent). */
static bool forward_input(int sock, bool *stdin_open)
{
    char buf[512];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n <= 0) {
        *stdin_open = false; /* input ended: keep showing the guest's output */
        return true;
    }
    char *detach = memchr(buf, DETACH_KEY, (size_t)n);
    size_t len = detach ? (size_t)(detach - buf) : (size_t)n;
    if (len && !write_all(sock, buf, len))
        return false;
    return !detach;
}

#define BUSY_PREFIX "vmm: error: another client"

/* Relays until Ctrl-] or the VM's end. Returns 0 on detach, 1 when the console closed, 2 when
 * another client holds it (the console says so in its only line). */
static int relay(int sock)
{
    bool stdin_open = true;
    char first[sizeof(BUSY_PREFIX)] = "";
    size_t nfirst = 0;
    for (;;) {
        struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
        if (poll(p, stdin_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents) {
            char buf[4096];
            ssize_t n = read(sock, buf, sizeof(buf));
            if (n <= 0)
                return !strcmp(first, BUSY_PREFIX) ? 2 : 1;
            for (ssize_t i = 0; i < n && nfirst < sizeof(first) - 1; i++)
                first[nfirst++] = buf[i];
            if (!write_all(STDOUT_FILENO, buf, (size_t)n))
                return 1;
        }
        if (stdin_open && p[1].revents && !forward_input(sock, &stdin_open))
            return 0;
    }
}

int console_attach_vm(const char *name)
{
    struct run_paths p;
    char err[512];
    if (run_paths(name, &p, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    if (!runtime_pid(name)) {
        log_error("VM '%s' is not running (start it with vmm start %s)", name, name);
        return 1;
    }
    int sock = connect_console(p.console);
    if (sock < 0) {
        log_error("cannot attach to the console of '%s' (%s): %s", name, p.console, strerror(-sock));
        return 1;
    }
    fprintf(stderr, "Connected to VM '%s'\nEscape character is ^] (Ctrl + ])\n", name);
    if (isatty(STDIN_FILENO))
        term_raw_enter(STDIN_FILENO);
    int rc = relay(sock);
    term_restore();
    close(sock);
    if (rc == 2)
        return 1;
    fprintf(stderr, rc ? "\nThe console of '%s' closed (the VM stopped)\n" : "\nDetached from '%s'\n", name);
    return 0;
}

int cmd_console(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        log_error("usage: vmm console NAME");
        return 1;
    }
    return console_attach_vm(argv[1]);
}
