/* Host side of the serial console: stdio (raw tty, Ctrl-A escapes), file, pty, a unix socket or none. */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/term.h"

#define CTRL_A 0x01

static int open_pty(struct console *c)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        log_error("cannot create a pseudo-terminal for the serial console: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    snprintf(c->pty_name, sizeof(c->pty_name), "%s", ptsname(fd));
    /* Hold the slave side open so the master never reports hang-up while no client is attached. */
    c->pty_slave_fd = open(c->pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    log_info("serial console on %s", c->pty_name);
    return fd;
}

/* A listening unix socket at path, mode 0600 (a stale socket from a dead VM is replaced). */
static int open_socket(struct console *c, const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(a.sun_path) || strlen(path) >= sizeof(c->socket_path)) {
        log_error("console socket path %s is too long (at most %zu characters)", path, sizeof(a.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (rc || listen(fd, 4)) {
        int e = errno;
        log_error("cannot serve the console socket %s: %s (choose a writable path)", path, strerror(e));
        close(fd);
        return -e;
    }
    snprintf(c->socket_path, sizeof(c->socket_path), "%s", path);
    c->listen_fd = fd;
    return 0;
}

int console_open(struct console *c, enum console_mode mode, const char *path, const char *log_path)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->in_fd = c->out_fd = -1;
    c->space_efd = -1;
    c->pty_slave_fd = -1;
    c->listen_fd = -1;
    c->log_fd = -1;
    pthread_mutex_init(&c->out_lock, NULL);
    if (log_path) {
        c->log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (c->log_fd < 0) {
            log_error("cannot write the console log to %s: %s (choose a writable path)", log_path, strerror(errno));
            return -errno;
        }
    }
    switch (mode) {
    case CONSOLE_STDIO:
        c->in_fd = STDIN_FILENO;
        c->out_fd = STDOUT_FILENO;
        if (isatty(STDIN_FILENO))
            term_raw_enter(STDIN_FILENO);
        break;
    case CONSOLE_FILE:
        c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->out_fd < 0) {
            log_error("cannot write the serial log to %s: %s (choose a writable path)", path, strerror(errno));
            return -errno;
        }
        break;
    case CONSOLE_PTY:
        c->in_fd = c->out_fd = open_pty(c);
        if (c->in_fd < 0)
            return -EIO;
        break;
    case CONSOLE_SOCKET:
        return open_socket(c, path);
    case CONSOLE_NONE:
        break;
    }
    return 0;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                usleep(1000);
                continue;
            }
            return; /* reader gone (EPIPE, EIO on a closed pty): the guest's bytes are dropped */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* A socket client that stops reading must not stall the vCPU: wait briefly, then drop bytes. */
static void send_to_client(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, 100) == 1)
                continue;
        }
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Runs on the vCPU thread that drives the UART. */
static void console_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct console *c = ctx;
    if (c->log_fd >= 0)
        write_all(c->log_fd, buf, len);
    if (c->mode == CONSOLE_SOCKET) {
        pthread_mutex_lock(&c->out_lock);
        if (c->out_fd >= 0)
            send_to_client(c->out_fd, buf, len);
        pthread_mutex_unlock(&c->out_lock);
    } else if (c->out_fd >= 0) {
        write_all(c->out_fd, buf, len);
    }
}

static void console_rx_space(void *ctx)
{
    struct console *c = ctx;
    if (c->input_paused && c->space_efd >= 0) {
        uint64_t one = 1;
        if (write(c->space_efd, &one, sizeof(one)) < 0) {
            /* the counter is saturated: a wake-up is already pending */
        }
    }
}

struct serial_backend console_backend(struct console *c)
{
    return (struct serial_backend){ console_write, console_rx_space, c };
}

/* Ctrl-A escapes on stdio, like QEMU's mux: x quits, Ctrl-A sends a literal Ctrl-A. */
static size_t filter_escapes(struct console *c, uint8_t *buf, size_t len)
{
    if (c->mode != CONSOLE_STDIO)
        return len;
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = buf[i];
        if (c->escape) {
            c->escape = false;
            if (ch == 'x' || ch == 'X') {
                if (c->quit)
                    c->quit(c->quit_ctx);
                return out;
            }
            if (ch == 'h' || ch == 'H') {
                static const char help[] = "\r\nC-a x    exit vmm\r\nC-a C-a  send C-a\r\n";
                console_write(c, (const uint8_t *)help, sizeof(help) - 1);
                continue;
            }
            if (ch == CTRL_A)
                buf[out++] = ch;
            continue;
        }
        if (ch == CTRL_A) {
            c->escape = true;
            continue;
        }
        buf[out++] = ch;
    }
    return out;
}

static void on_input(void *ctx, uint32_t events);

/* The attached client went away: the console waits for the next one; pending input is dropped. */
static void drop_client(struct console *c)
{
    loop_remove(c->loop, c->in_fd);
    pthread_mutex_lock(&c->out_lock);
    close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    pthread_mutex_unlock(&c->out_lock);
    c->npending = c->pending_off = 0;
    c->input_paused = false;
}

/* One client at a time, like virsh console: a second one is told so and closed. */
static void on_connect(void *ctx, uint32_t events)
{
    struct console *c = ctx;
    (void)events;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (c->in_fd >= 0) {
        static const char busy[] = "vmm: error: another client is attached to this console (detach it first)\r\n";
        send_to_client(fd, (const uint8_t *)busy, sizeof(busy) - 1);
        close(fd);
        return;
    }
    pthread_mutex_lock(&c->out_lock);
    c->in_fd = c->out_fd = fd;
    pthread_mutex_unlock(&c->out_lock);
    if (loop_add(c->loop, fd, EPOLLIN, on_input, c))
        drop_client(c);
}

/* Hands buffered input to the UART; stops reading the host fd while the UART is full. */
static void push_pending(struct console *c)
{
    while (c->pending_off < c->npending) {
        size_t n = serial_receive(c->uart, c->pending + c->pending_off, c->npending - c->pending_off);
        if (n == 0)
            break;
        c->pending_off += n;
    }
    bool leftover = c->pending_off < c->npending;
    if (c->in_fd < 0)
        return;
    if (leftover && !c->input_paused) {
        loop_remove(c->loop, c->in_fd);
        c->input_paused = true;
    } else if (!leftover && c->input_paused && !c->input_closed) {
        c->input_paused = false;
        loop_add(c->loop, c->in_fd, EPOLLIN, on_input, c);
    }
}

static void on_input(void *ctx, uint32_t events)
{
    struct console *c = ctx;
    (void)events;
    ssize_t n = read(c->in_fd, c->pending, sizeof(c->pending));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (c->mode == CONSOLE_SOCKET) {
            drop_client(c);
            return;
        }
        /* End of input (stdin closed): the guest keeps running without it. */
        loop_remove(c->loop, c->in_fd);
        c->input_closed = true;
        return;
    }
    c->npending = filter_escapes(c, c->pending, (size_t)n);
    c->pending_off = 0;
    push_pending(c);
}

static void on_space(void *ctx, uint32_t events)
{
    struct console *c = ctx;
    uint64_t v;
    (void)events;
    if (read(c->space_efd, &v, sizeof(v)) < 0)
        return;
    push_pending(c);
}

int console_attach(struct console *c, struct serial *uart, struct event_loop *loop, void (*quit)(void *), void *ctx)
{
    c->uart = uart;
    c->loop = loop;
    c->quit = quit;
    c->quit_ctx = ctx;
    if (c->in_fd < 0 && c->listen_fd < 0)
        return 0;
    c->space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->space_efd < 0)
        return -errno;
    int rc = loop_add(loop, c->space_efd, EPOLLIN, on_space, c);
    if (rc == 0 && c->listen_fd >= 0)
        return loop_add(loop, c->listen_fd, EPOLLIN, on_connect, c);
    if (rc == 0)
        rc = loop_add(loop, c->in_fd, EPOLLIN, on_input, c);
    if (rc == -EPERM) {
        /* stdin is a regular file or /dev/null: epoll cannot watch it; read it all now. */
        c->input_closed = true;
        rc = 0;
    }
    return rc;
}

void console_close(struct console *c)
{
    if (c->space_efd >= 0)
        close(c->space_efd);
    if (c->mode == CONSOLE_FILE || c->mode == CONSOLE_PTY)
        close(c->out_fd);
    if (c->pty_slave_fd >= 0)
        close(c->pty_slave_fd);
    if (c->mode == CONSOLE_SOCKET) {
        if (c->in_fd >= 0)
            close(c->in_fd);
        if (c->listen_fd >= 0) {
            close(c->listen_fd);
            unlink(c->socket_path);
        }
        c->listen_fd = -1;
    }
    if (c->log_fd >= 0)
        close(c->log_fd);
    c->log_fd = -1;
    term_restore();
    c->in_fd = c->out_fd = c->space_efd = -1;
}
