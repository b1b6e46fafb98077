/* The state directory: where VM definitions, networks, images and running-VM state live. */
#ifndef VMM_MANAGE_HOME_H
#define VMM_MANAGE_HOME_H

#include <stddef.h>
#include <sys/types.h>

/* $VMM_HOME, else /var/lib/vmm for root, else $XDG_DATA_HOME/vmm (~/.local/share/vmm). Creates it
 * (mode 0700) with its vms/, networks/, images/ and run/ subdirectories. Returns 0 or -errno with
 * one line in err. */
int home_dir(char *buf, size_t len, char *err, size_t errlen);
/* home_dir() joined with a relative path built from fmt. */
int home_path(char *buf, size_t len, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* mkdir -p with `mode` for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);
/* Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename,
 * fsync of the directory. Readers see the old file or the new one, never half of one. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, char *err, size_t errlen);
/* snprintf into an error buffer; long paths are cut rather than refused. */
void errorf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A VM or network name: 1-32 characters of [A-Za-z0-9_.-], not starting with '.' or '-'. */
int name_valid(const char *name);

#endif
