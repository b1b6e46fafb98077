/* Pidfiles that prove a VM runs: the owner holds an OFD write lock for as long as it lives. */
#ifndef VMM_MANAGE_PIDFILE_H
#define VMM_MANAGE_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Creates/locks `path` and writes our pid. Returns the fd to keep open, or -errno with one line in
 * err (e.g. another live process holds it). */
int pidfile_acquire(const char *path, char *err, size_t errlen);
/* Unlinks and closes a pidfile from pidfile_acquire. */
void pidfile_release(int fd, const char *path);
/* The pid of the live process that holds `path`, or 0 when none does (a stale file after a crash
 * or kill is not "running": the kernel dropped its lock). */
pid_t pidfile_owner(const char *path);

#endif
