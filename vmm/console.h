/* Host side of the serial console: stdio (raw tty, Ctrl-A escapes), file, pty, a unix socket or none. */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "devices/serial.h"
#include "vmm/loop.h"

enum console_mode { CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_PTY, CONSOLE_SOCKET, CONSOLE_NONE };

struct console {
    enum console_mode mode;
    int in_fd, out_fd;
    bool escape;                 /* saw Ctrl-A, waiting for the command key */
    bool input_paused, input_closed;
    int space_efd;               /* eventfd: the UART has room for more input */
    uint8_t pending[512];        /* input read but not yet taken by the UART */
    size_t npending, pending_off;
    struct serial *uart;
    struct event_loop *loop;
    void (*quit)(void *ctx);     /* Ctrl-A x */
    void *quit_ctx;
    char pty_name[64];
    int pty_slave_fd;            /* kept open so the master never sees hang-up */
    int listen_fd;               /* CONSOLE_SOCKET: the unix socket clients attach through */
    char socket_path[108];
    int log_fd;                  /* a copy of all output (socket mode's log=FILE), or -1 */
    pthread_mutex_t out_lock;    /* guards out_fd/in_fd while a socket client comes and goes */
};

/* Opens the backend: for CONSOLE_FILE `path` is the output file, for CONSOLE_SOCKET the unix socket
 * (mode 0600) that one client at a time attaches to (vmm console); `log_path` (NULL: none) gets a
 * copy of everything the guest prints. Prints one error line on failure. */
int console_open(struct console *c, enum console_mode mode, const char *path, const char *log_path);
/* The serial backend that writes to this console. */
struct serial_backend console_backend(struct console *c);
/* Starts feeding input into `uart` from the event loop. */
int console_attach(struct console *c, struct serial *uart, struct event_loop *loop, void (*quit)(void *), void *ctx);
void console_close(struct console *c);

#endif
