/* Host side of the serial console: stdio (raw tty, Ctrl-A escapes), file, pty or none. */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

int console_open(struct console *c, enum console_mode mode, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->in_fd = c->out_fd = -1;
    c->space_efd = -1;
    c->pty_slave_fd = -1;
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

static void console_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct console *c = ctx;
    if (c->out_fd >= 0)
        write_all(c->out_fd, buf, len);
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
    if (c->in_fd < 0)
        return 0;
    c->space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->space_efd < 0)
        return -errno;
    int rc = loop_add(loop, c->space_efd, EPOLLIN, on_space, c);
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
    term_restore();
    c->in_fd = c->out_fd = c->space_efd = -1;
}
