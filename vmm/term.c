/* Raw terminal mode for the serial console, restored on every exit path (exit, signals, crashes). */
#include "term.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_mode;
static int saved_fd = -1;

void term_restore(void)
{
    if (saved_fd >= 0) {
        tcsetattr(saved_fd, TCSAFLUSH, &saved_mode);
        saved_fd = -1;
    }
}

/* A crash must not leave the user's terminal raw: restore, then die of the same signal. */
static void on_fatal_signal(int sig)
{
    term_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

int term_raw_enter(int fd)
{
    struct termios raw;
    if (tcgetattr(fd, &saved_mode) < 0)
        return -errno;
    raw = saved_mode;
    cfmakeraw(&raw);
    /* Keep output post-processing off (raw bytes), but let the guest's CR/LF through unchanged. */
    if (tcsetattr(fd, TCSAFLUSH, &raw) < 0)
        return -errno;
    saved_fd = fd;
    atexit(term_restore);
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], on_fatal_signal);
    return 0;
}
