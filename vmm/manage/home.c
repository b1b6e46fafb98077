/* The state directory: where VM definitions, networks, images and running-VM state live. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/manage/home.h"

int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST)
        return -errno;
    return 0;
}

static int base_dir(char *buf, size_t len)
{
    const char *env = getenv("VMM_HOME");
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (env && *env)
        n = snprintf(buf, len, "%s", env);
    else if (geteuid() == 0)
        n = snprintf(buf, len, "/var/lib/vmm");
    else if (xdg && *xdg)
        n = snprintf(buf, len, "%s/vmm", xdg);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.local/share/vmm", home);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int home_dir(char *buf, size_t len, char *err, size_t errlen)
{
    int rc = base_dir(buf, len);
    if (rc) {
        snprintf(err, errlen, "no state directory: set VMM_HOME (or HOME) to a writable directory");
        return rc;
    }
    static const char *const subdirs[] = { "", "/vms", "/networks", "/images", "/run" };
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s%s", buf, subdirs[i]);
        rc = mkdir_p(dir, 0700);
        if (rc) {
            snprintf(err, errlen, "cannot create state directory %s: %s (set VMM_HOME to a writable directory)",
                     dir, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int home_path(char *buf, size_t len, char *err, size_t errlen, const char *fmt, ...)
{
    char home[4096], rel[1024];
    int rc = home_dir(home, sizeof(home), err, errlen);
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    int n = snprintf(buf, len, "%s/%s", home, rel);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "path under %s is too long", home);
        return -ENAMETOOLONG;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -errno;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
            close(fd);
            unlink(tmp);
            return -e;
        }
        off += (size_t)n;
    }
    if (fsync(fd) || close(fd)) {
        int e = errno;
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        unlink(tmp);
        return -e;
    }
    if (rename(tmp, path)) {
        int e = errno;
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(e));
        unlink(tmp);
        return -e;
    }
    fsync_dir_of(path);
    return 0;
}

int name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 32 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

void errorf(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}
