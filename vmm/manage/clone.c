/* vmm clone SRC NEW [--linked]: a copy of a shut-off VM with new name, UUID, MACs and disks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/block/image.h"
#include "vmm/log.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/home.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/vmdef.h"

/* Copies src to dst keeping holes (SEEK_DATA/SEEK_HOLE + copy_file_range), fsynced. */
static int sparse_copy(const char *src, const char *dst, char *err, size_t errlen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        errorf(err, errlen, "cannot read %s: %s", src, strerror(errno));
        return -errno;
    }
    struct stat st;
    fstat(in, &st);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        errorf(err, errlen, "cannot create %s: %s", dst, strerror(errno));
        close(in);
        return -errno;
    }
    int rc = ftruncate(out, st.st_size) ? -errno : 0;
    for (off_t pos = 0; rc == 0 && pos < st.st_size;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break; /* only a hole is left */
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            hole = st.st_size;
        off_t a = data, b = data;
        while (rc == 0 && a < hole) {
            ssize_t n = copy_file_range(in, &a, out, &b, (size_t)(hole - a), 0);
            if (n <= 0)
                rc = n < 0 ? -errno : -EIO;
        }
        pos = hole;
    }
    if (rc == 0 && fsync(out))
        rc = -errno;
    close(in);
    close(out);
    if (rc) {
        errorf(err, errlen, "cannot copy %s to %s: %s", src, dst, strerror(-rc));
        unlink(dst);
    }
    return rc;
}

static const char *disk_format(const struct vmdef_disk *k)
{
    if (k->format[0])
        return k->format;
    enum image_format f = IMAGE_RAW;
    int fd = open(k->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        image_probe(fd, &f);
        close(fd);
    }
    return image_format_name(f);
}

/* Gives NEW's copy of disk k: a sparse copy, or a qcow2 overlay on it when linked. */
static int clone_disk(const char *new_name, struct vmdef_disk *k, bool linked, struct created *made, char *err,
                      size_t errlen)
{
    const char *fmt = disk_format(k);
    char dst[VMDEF_PATH];
    int rc = home_path(dst, sizeof(dst), err, errlen, "images/%s-%s.%s", new_name, k->target, linked ? "qcow2" : fmt);
    if (rc)
        return rc;
    if (access(dst, F_OK) == 0) {
        errorf(err, errlen, "%s already exists: remove it or choose another name", dst);
        return -EEXIST;
    }
    if (linked) {
        struct image_create_opts o = { .format = IMAGE_QCOW2, .backing = k->path, .backing_format = fmt };
        rc = image_create(dst, &o, err, errlen);
    } else {
        rc = sparse_copy(k->path, dst, err, errlen);
    }
    if (rc)
        return rc;
    if (linked)
        memcpy(k->backing, k->path, sizeof(k->backing));
    else
        k->backing[0] = 0;
    snprintf(made->paths[made->n++], VMDEF_PATH, "%s", dst);
    snprintf(k->path, sizeof(k->path), "%s", dst);
    snprintf(k->format, sizeof(k->format), "%s", linked ? "qcow2" : fmt);
    return 0;
}

int cmd_clone(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL;
    bool linked = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--linked"))
            linked = true;
        else if ((!strcmp(argv[i], "--original") || !strcmp(argv[i], "-o")) && i + 1 < argc)
            src = argv[++i];
        else if ((!strcmp(argv[i], "--name") || !strcmp(argv[i], "-n")) && i + 1 < argc)
            dst = argv[++i];
        else if (!strcmp(argv[i], "--auto-clone"))
            continue;
        else if (argv[i][0] != '-' && !src)
            src = argv[i];
        else if (argv[i][0] != '-' && !dst)
            dst = argv[i];
        else {
            log_error("usage: vmm clone SRC NEW [--linked] ('%s' is not understood)", argv[i]);
            return 1;
        }
    }
    if (!src || !dst) {
        log_error("usage: vmm clone SRC NEW [--linked]");
        return 1;
    }
    static struct vmdef d;
    static struct created made;
    char err[1024];
    memset(&made, 0, sizeof(made));
    if (vmdef_load(src, &d, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    if (runtime_pid(src)) {
        log_error("VM '%s' is running: shut it down before cloning (vmm shutdown %s)", src, src);
        return 1;
    }
    if (!name_valid(dst) || vmdef_exists(dst)) {
        log_error(name_valid(dst) ? "a VM named '%s' already exists: choose another name"
                                  : "'%s' is not a valid VM name: use 1-32 letters, digits, '_', '.' or '-'", dst);
        return 1;
    }
    snprintf(d.name, sizeof(d.name), "%s", dst);
    vmdef_new_uuid(d.uuid);
    for (int i = 0; i < d.nnics; i++)
        vmdef_new_mac(d.nics[i].mac);
    d.autostart = false;
    if (d.vnc_port >= 0)
        d.vnc_port = -1; /* the original keeps its fixed port */
    int rc = 0;
    for (int i = 0; rc == 0 && i < d.ndisks; i++)
        if (!d.disks[i].readonly)
            rc = clone_disk(dst, &d.disks[i], linked, &made, err, sizeof(err));
    if (save_or_undo(&d, rc, &made, err, sizeof(err)))
        return 1;
    printf("VM '%s' cloned from '%s'%s (%s)\n", dst, src, linked ? " with linked qcow2 overlays" : "", d.uuid);
    return 0;
}
