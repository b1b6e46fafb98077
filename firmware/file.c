/* Reading whole boot files (kernel, initrd, firmware) with one clear error line on failure. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"

#define FILE_MAX (1ULL << 31)

int file_read_all(const char *path, const char *what, struct file_data *out)
{
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            log_error("%s file %s does not exist: check the path", what, path);
        else if (e == EACCES)
            log_error("cannot read %s file %s: permission denied (check its mode or run as its owner)", what, path);
        else
            log_error("cannot open %s file %s: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > FILE_MAX || st.st_size == 0) {
        log_error("%s file %s is not a regular, non-empty file under 2 GiB", what, path);
        close(fd);
        return -EINVAL;
    }
    out->data = malloc((size_t)st.st_size);
    if (!out->data) {
        close(fd);
        log_error("out of memory reading %s file %s", what, path);
        return -ENOMEM;
    }
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, out->data + done, (size_t)st.st_size - done);
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            if (e == EINTR)
                continue;
            log_error("cannot read %s file %s: %s", what, path, strerror(e));
            close(fd);
            file_free(out);
            return -e;
        }
        done += (size_t)n;
    }
    close(fd);
    out->size = done;
    return 0;
}

void file_free(struct file_data *f)
{
    free(f->data);
    f->data = NULL;
    f->size = 0;
}
