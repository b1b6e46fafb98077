/* Raw terminal mode for the serial console, restored on every exit path (exit, signals, crashes). */
#ifndef VMM_TERM_H
#define VMM_TERM_H

/* Puts `fd` (a tty) into raw mode and arranges its restoration. */
int term_raw_enter(int fd);
/* Restores the saved mode; async-signal-safe, idempotent. */
void term_restore(void);

#endif
