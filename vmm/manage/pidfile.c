/* Pidfiles that prove a VM runs: the owner holds an OFD write lock for as long as it lives. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/pidfile.h"

static pid_t read_pid(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? (pid_t)pid : 0;
}

int pidfile_acquire(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        errorf(err, errlen, "cannot create pidfile %s: %s", path, strerror(errno));
        return -errno;
    }
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &l)) {
        int e = errno;
        pid_t owner = read_pid(fd);
        if (e == EAGAIN || e == EACCES)
            errorf(err, errlen, "pidfile %s is held by running process %d (the VM is already running)", path, (int)owner);
        else
            errorf(err, errlen, "cannot lock pidfile %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
        errorf(err, errlen, "cannot write pidfile %s: %s", path, strerror(errno));
        close(fd);
        return -EIO;
    }
    return fd;
}

void pidfile_release(int fd, const char *path)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}

pid_t pidfile_owner(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* F_OFD_GETLK reports l_pid -1 for OFD locks, so the pid comes from the file itself. */
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    pid_t pid = 0;
    if (fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK)
        pid = read_pid(fd);
    close(fd);
    return pid;
}
