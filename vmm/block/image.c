/* Disk image files of any format: probing, backing chains (qcow2 or raw, relative names resolved
 * against the overlay's directory, loops refused), QEMU-compatible OFD locks, and the
 * create/convert/resize/commit/rebase operations behind `vmm img`. */
#define _GNU_SOURCE
#include "vmm/block/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* QEMU block/file-posix.c: byte 100+bit is read-locked for each permission held, 200+bit for each
 * permission not shared with others (bits: 0 consistent read, 1 write, 2 write unchanged, 3 resize). */
#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
#define PERM_READ 0
#define PERM_WRITE 1
#define PERM_RESIZE 3

static const char *const perm_names[] = { "consistent read", "write", "write unchanged", "resize" };

const char *image_format_name(enum image_format f)
{
    return f == IMAGE_QCOW2 ? "qcow2" : "raw";
}

int image_parse_format(const char *name, enum image_format *f)
{
    if (!strcmp(name, "raw"))
        *f = IMAGE_RAW;
    else if (!strcmp(name, "qcow2"))
        *f = IMAGE_QCOW2;
    else
        return -EINVAL;
    return 0;
}

int image_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    case 'b': case 'B': end++; break;
    default: break;
    }
    if (*end == 'i' && shift)
        end++;
    if ((*end == 'B' || *end == 'b') && shift)
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

char *image_resolve_backing(const char *overlay, const char *backing)
{
    if (backing[0] == '/' || !strchr(overlay, '/'))
        return strdup(backing);
    const char *slash = strrchr(overlay, '/');
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)(slash - overlay), overlay, backing) < 0)
        return NULL;
    return out;
}

int image_probe(int fd, enum image_format *format)
{
    uint8_t buf[8] = { 0 };
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    if (n < 0)
        return -errno;
    *format = qcow2_probe(buf, (size_t)n) ? IMAGE_QCOW2 : IMAGE_RAW;
    return 0;
}

/* ---- OFD locks ---- */

static bool byte_locked_by_other(int fd, int byte)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return false;
    return fl.l_type != F_UNLCK;
}

/* Does this /proc/PID/fdinfo file show an OFD lock on our inode covering byte? */
static bool fdinfo_holds(const char *path, const char *dev_ino, int byte)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, dev_ino);
        unsigned long long start;
        char end[32];
        if (!strstr(line, "OFDLCK") || !p || sscanf(p + strlen(dev_ino), " %llu %31s", &start, end) != 2)
            continue;
        unsigned long long last = strcmp(end, "EOF") ? strtoull(end, NULL, 10) : UINT64_MAX;
        found = (unsigned long long)byte >= start && (unsigned long long)byte <= last;
    }
    fclose(f);
    return found;
}

/* The holder's pid: OFD locks report none (F_OFD_GETLK and /proc/locks say -1), but the holder's
 * /proc/PID/fdinfo lists the lock. */
static long lock_holder_pid(int fd, int byte)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    char dev_ino[64];
    snprintf(dev_ino, sizeof(dev_ino), " %02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
             (unsigned long long)st.st_ino);
    DIR *proc = opendir("/proc");
    long found = -1;
    struct dirent *d;
    while (proc && found < 0 && (d = readdir(proc))) {
        long pid = strtol(d->d_name, NULL, 10);
        if (pid <= 0 || pid == getpid())
            continue;
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%ld/fdinfo", pid);
        DIR *fds = opendir(dir);
        struct dirent *e;
        while (fds && found < 0 && (e = readdir(fds))) {
            char path[384];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (fdinfo_holds(path, dev_ino, byte))
                found = pid;
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return found;
}

static int lock_conflict(int fd, const char *path, int byte, const char *why, char *err, size_t errlen)
{
    long pid = lock_holder_pid(fd, byte);
    char who[32] = "";
    if (pid > 0)
        snprintf(who, sizeof(who), " (pid %ld)", pid);
    snprintf(err, errlen, "image %s is in use by another process%s: %s (stop it, or use -U for a read-only look)",
             path, who, why);
    return -EBUSY;
}

int image_lock(int fd, const char *path, bool write, char *err, size_t errlen)
{
    int perms[3] = { PERM_READ, PERM_WRITE, PERM_RESIZE }, nperms = write ? 3 : 1;
    int unshared[2] = { PERM_WRITE, PERM_RESIZE }, nunshared = write ? 2 : 1;
    char why[128];
    for (int i = 0; i < nperms; i++)
        if (byte_locked_by_other(fd, LOCK_SHARED_BASE + perms[i])) {
            snprintf(why, sizeof(why), "it does not share the \"%s\" permission", perm_names[perms[i]]);
            return lock_conflict(fd, path, LOCK_SHARED_BASE + perms[i], why, err, errlen);
        }
    for (int i = 0; i < nunshared; i++)
        if (byte_locked_by_other(fd, LOCK_PERM_BASE + unshared[i])) {
            snprintf(why, sizeof(why), "it holds the \"%s\" permission", perm_names[unshared[i]]);
            return lock_conflict(fd, path, LOCK_PERM_BASE + unshared[i], why, err, errlen);
        }
    for (int i = 0; i < nperms + nunshared; i++) {
        int byte = i < nperms ? LOCK_PERM_BASE + perms[i] : LOCK_SHARED_BASE + unshared[i - nperms];
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            if (errno == EAGAIN || errno == EACCES)
                return lock_conflict(fd, path, byte, "it holds a conflicting lock", err, errlen);
            if (errno == EINVAL || errno == ENOLCK || errno == EOPNOTSUPP)
                return 0;      /* no OFD locks on this file system */
            snprintf(err, errlen, "cannot lock image %s: %s", path, strerror(errno));
            return -errno;
        }
    }
    return 0;
}

/* ---- opening chains ---- */

struct chain_state {
    dev_t dev[IMAGE_MAX_CHAIN + 1];
    ino_t ino[IMAGE_MAX_CHAIN + 1];
    int depth;
};

static int chain_backing_read(void *ctx, void *buf, uint64_t len, uint64_t offset)
{
    return image_read(ctx, buf, len, offset);
}

static int open_file(struct image *img, unsigned flags, char *err, size_t errlen)
{
    img->fd = open(img->path, ((flags & IMAGE_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (img->fd >= 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        snprintf(err, errlen, "image %s does not exist", img->path);
    else if (e == EACCES || e == EROFS)
        snprintf(err, errlen, "no permission to open image %s %s", img->path,
                 (flags & IMAGE_RDWR) ? "read-write" : "for reading");
    else
        snprintf(err, errlen, "cannot open image %s: %s", img->path, strerror(e));
    return -e;
}

int image_file_size(int fd, const char *path, uint64_t *size, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat image %s: %s", path, strerror(errno));
        return -errno;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes;
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
            snprintf(err, errlen, "cannot get the size of block device %s: %s", path, strerror(errno));
            return -errno;
        }
        *size = bytes;
    } else if (S_ISREG(st.st_mode)) {
        *size = (uint64_t)st.st_size;
    } else {
        snprintf(err, errlen, "image %s is neither a file nor a block device", path);
        return -EINVAL;
    }
    return 0;
}

static int raw_size(struct image *img, char *err, size_t errlen)
{
    return image_file_size(img->fd, img->path, &img->size, err, errlen);
}

static int open_chain(struct image **out, const char *path, const char *format, unsigned flags,
                      struct chain_state *cs, char *err, size_t errlen);

static int open_backing(struct image *img, unsigned flags, struct chain_state *cs, char *err, size_t errlen)
{
    struct qcow2 *q = img->qcow2;
    img->backing_path = image_resolve_backing(img->path, q->backing_file);
    if (!img->backing_path)
        return -ENOMEM;
    if (cs->depth >= IMAGE_MAX_CHAIN) {
        snprintf(err, errlen, "the backing chain is deeper than %d images (at %s)", IMAGE_MAX_CHAIN, img->path);
        return -ELOOP;
    }
    char sub[512];
    int level = cs->depth;        /* 1 for the top image */
    int rc = open_chain(&img->backing, img->backing_path, q->backing_format, flags & IMAGE_NO_LOCK, cs, sub, sizeof(sub));
    if (rc) {
        if (level > 1)            /* name the top image once, not every link of the chain */
            snprintf(err, errlen, "%s", sub);
        else
            snprintf(err, errlen, "image %s: cannot open its backing file: %s", img->path, sub);
        return rc;
    }
    q->backing_read = chain_backing_read;
    q->backing_ctx = img->backing;
    return 0;
}

static int open_chain(struct image **out, const char *path, const char *format, unsigned flags,
                      struct chain_state *cs, char *err, size_t errlen)
{
    struct image *img = calloc(1, sizeof(*img));
    *out = NULL;
    if (!img)
        return -ENOMEM;
    img->fd = -1;
    img->path = strdup(path);
    img->readonly = !(flags & IMAGE_RDWR);
    int rc = open_file(img, flags, err, errlen);
    struct stat st;
    if (!rc && fstat(img->fd, &st) == 0) {
        for (int i = 0; i < cs->depth; i++)
            if (cs->dev[i] == st.st_dev && cs->ino[i] == st.st_ino) {
                snprintf(err, errlen, "image %s: the backing chain loops back to a file already in it", path);
                rc = -ELOOP;
            }
        cs->dev[cs->depth] = st.st_dev;
        cs->ino[cs->depth] = st.st_ino;
        cs->depth++;
    }
    if (!rc && !(flags & IMAGE_NO_LOCK))
        rc = image_lock(img->fd, path, flags & IMAGE_RDWR, err, errlen);
    enum image_format probed = IMAGE_RAW;
    if (!rc && (rc = image_probe(img->fd, &probed)))
        snprintf(err, errlen, "cannot read image %s: %s", path, strerror(-rc));
    img->format = probed;
    if (!rc && format) {
        if (image_parse_format(format, &img->format)) {
            snprintf(err, errlen, "image %s: format '%s' is not supported (use raw or qcow2)", path, format);
            rc = -EINVAL;
        } else if (img->format == IMAGE_QCOW2 && probed != IMAGE_QCOW2) {
            snprintf(err, errlen, "image %s is not a qcow2 image (no qcow2 magic)", path);
            rc = -EINVAL;
        }
    }
    if (!rc && img->format == IMAGE_RAW)
        rc = raw_size(img, err, errlen);
    if (!rc && img->format == IMAGE_QCOW2) {
        rc = qcow2_open(&img->qcow2, img->fd, path, img->readonly, err, errlen);
        if (!rc) {
            img->size = img->qcow2->size;
            if (img->qcow2->backing_file && !(flags & IMAGE_NO_BACKING))
                rc = open_backing(img, flags, cs, err, errlen);
            else if (img->qcow2->backing_file)
                img->backing_path = image_resolve_backing(path, img->qcow2->backing_file);
        }
    }
    if (rc) {
        image_close(img);
        return rc;
    }
    *out = img;
    return 0;
}

int image_open(struct image **out, const char *path, const char *format, unsigned flags, char *err, size_t errlen)
{
    struct chain_state cs = { .depth = 0 };
    return open_chain(out, path, format, flags, &cs, err, errlen);
}

void image_close(struct image *img)
{
    if (!img)
        return;
    image_close(img->backing);
    qcow2_close(img->qcow2);
    if (img->fd >= 0)
        close(img->fd);
    free(img->backing_path);
    free(img->path);
    free(img);
}

/* ---- data ---- */

int image_rw_full(int fd, void *buf, uint64_t len, uint64_t offset, bool write)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = write ? pwrite(fd, p, len, (off_t)offset) : pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            if (write)
                return -EIO;
            memset(p, 0, len);
            return 0;
        }
        p += n, offset += (uint64_t)n, len -= (uint64_t)n;
    }
    return 0;
}

int image_read(struct image *img, void *buf, uint64_t len, uint64_t offset)
{
    uint64_t inside = offset >= img->size ? 0 : (len < img->size - offset ? len : img->size - offset);
    memset((uint8_t *)buf + inside, 0, len - inside);
    if (!inside)
        return 0;
    if (img->format == IMAGE_QCOW2)
        return qcow2_read(img->qcow2, buf, inside, offset);
    return image_rw_full(img->fd, buf, inside, offset, false);
}

int image_write(struct image *img, const void *buf, uint64_t len, uint64_t offset)
{
    if (img->readonly)
        return -EROFS;
    if (offset > img->size || len > img->size - offset)
        return -EINVAL;
    if (img->format == IMAGE_QCOW2)
        return qcow2_write(img->qcow2, buf, len, offset);
    return image_rw_full(img->fd, (void *)buf, len, offset, true);
}

int image_flush(struct image *img)
{
    if (img->readonly)
        return 0;
    if (img->format == IMAGE_QCOW2)
        return qcow2_flush(img->qcow2);
    return fdatasync(img->fd) < 0 ? -errno : 0;
}

int image_allocated(struct image *img, uint64_t offset, uint64_t *len, bool *allocated)
{
    if (img->format == IMAGE_RAW) {
        *allocated = true;
        return 0;
    }
    struct qcow2_extent ext;
    int rc = qcow2_map(img->qcow2, offset, *len, false, &ext);
    if (rc)
        return rc;
    *allocated = ext.kind != QCOW2_BACKING;
    *len = ext.length;
    return 0;
}

/* ---- operations ---- */

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static int cluster_bits_of(uint32_t cluster_size, uint32_t *bits)
{
    if (!cluster_size) {
        *bits = 16;
        return 0;
    }
    for (uint32_t b = 9; b <= 21; b++)
        if (cluster_size == 1u << b) {
            *bits = b;
            return 0;
        }
    return -EINVAL;
}

int image_create(const char *path, const struct image_create_opts *o, char *err, size_t errlen)
{
    uint64_t size = o->size;
    const char *bfmt = o->backing_format;
    char *resolved = NULL;
    struct image *base = NULL;
    int rc = 0;
    err[0] = 0;
    if (o->backing && o->format != IMAGE_QCOW2) {
        snprintf(err, errlen, "%s: only qcow2 images have backing files", path);
        return -EINVAL;
    }
    if (o->backing) {
        char sub[512];
        resolved = image_resolve_backing(path, o->backing);
        rc = resolved ? image_open(&base, resolved, bfmt, IMAGE_NO_LOCK, sub, sizeof(sub)) : -ENOMEM;
        if (rc) {
            snprintf(err, errlen, "%s: cannot open backing file %s: %s", path, o->backing, rc == -ENOMEM ? "out of memory" : sub);
            free(resolved);
            return rc;
        }
        if (!size)
            size = base->size;
        if (!bfmt)
            bfmt = image_format_name(base->format);
    }
    size = (size + 511) & ~511ULL;
    uint32_t bits = 16;
    if (cluster_bits_of(o->cluster_size, &bits)) {
        snprintf(err, errlen, "%s: cluster size %u is not a power of two from 512 to 2M", path, o->cluster_size);
        rc = -EINVAL;
    }
    int fd = rc ? -1 : open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!rc && fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    }
    if (!rc && o->format == IMAGE_RAW && ftruncate(fd, (off_t)size) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot size %s: %s", path, strerror(errno));
    }
    if (!rc && o->format == IMAGE_QCOW2) {
        struct qcow2_create_opts qo = { .size = size, .cluster_bits = bits, .version = o->qcow2_version,
                                        .backing_file = o->backing, .backing_format = o->backing ? bfmt : NULL };
        char sub[400] = "";
        if ((rc = qcow2_create(fd, &qo, sub, sizeof(sub))))
            snprintf(err, errlen, "%s: %s", path, sub);
    }
    if (fd >= 0 && !rc && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    image_close(base);
    free(resolved);
    return rc;
}

static int open_top(struct image **img, const char *path, const char *format, unsigned flags, char *err, size_t errlen)
{
    return image_open(img, path, format, flags, err, errlen);
}

static int fail_io(struct image *img, int rc, const char *what, char *err, size_t errlen)
{
    if (img->format == IMAGE_QCOW2 && img->qcow2->err[0])
        snprintf(err, errlen, "%s", img->qcow2->err);
    else
        snprintf(err, errlen, "%s: %s failed: %s", img->path, what, strerror(-rc));
    return rc;
}

int image_convert(const char *src, const char *src_format, const char *dst, enum image_format dst_format,
                  uint32_t cluster_size, bool compress, char *err, size_t errlen)
{
    struct image *in = NULL, *out = NULL;
    int rc = open_top(&in, src, src_format, 0, err, errlen);
    if (rc)
        return rc;
    if (compress && dst_format != IMAGE_QCOW2) {
        snprintf(err, errlen, "%s: compression (-c) needs -O qcow2", dst);
        image_close(in);
        return -EINVAL;
    }
    struct image_create_opts co = { .format = dst_format, .size = in->size, .cluster_size = cluster_size };
    if (!(rc = image_create(dst, &co, err, errlen)))
        rc = open_top(&out, dst, image_format_name(dst_format), IMAGE_RDWR, err, errlen);
    if (rc) {
        image_close(in);
        return rc;
    }
    if (out->qcow2)
        out->qcow2->sync = false;          /* a new file: only the final flush matters */
    uint64_t chunk = out->qcow2 ? out->qcow2->cluster_size : 1 << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf)
        rc = -ENOMEM;
    for (uint64_t off = 0; !rc && off < in->size; off += chunk) {
        uint64_t len = in->size - off < chunk ? in->size - off : chunk;
        if ((rc = image_read(in, buf, len, off))) {
            fail_io(in, rc, "read", err, errlen);
            break;
        }
        if (all_zero(buf, len))
            continue;
        if (compress) {
            memset(buf + len, 0, chunk - len);
            rc = qcow2_write_compressed(out->qcow2, buf, off);
        } else {
            rc = image_write(out, buf, len, off);
        }
        if (rc)
            fail_io(out, rc, "write", err, errlen);
    }
    free(buf);
    if (!rc && (rc = image_flush(out)))
        fail_io(out, rc, "flush", err, errlen);
    image_close(in);
    image_close(out);
    return rc;
}

int image_resize(const char *path, const char *format, const char *size, bool allow_shrink, char *err, size_t errlen)
{
    int sign = size[0] == '+' ? 1 : size[0] == '-' ? -1 : 0;
    uint64_t n;
    if (image_parse_size(size + (sign != 0), &n)) {
        snprintf(err, errlen, "'%s' is not a size: write e.g. 10G, +1G or -512M", size);
        return -EINVAL;
    }
    struct image *img;
    int rc = open_top(&img, path, format, IMAGE_RDWR | IMAGE_NO_BACKING, err, errlen);
    if (rc)
        return rc;
    uint64_t new_size = sign > 0 ? img->size + n : sign < 0 ? (n > img->size ? 0 : img->size - n) : n;
    new_size = (new_size + 511) & ~511ULL;
    if (new_size < img->size && img->format == IMAGE_QCOW2) {
        snprintf(err, errlen, "%s: shrinking a qcow2 image is not supported (it would drop data): convert it instead",
                 path);
        rc = -ENOTSUP;
    } else if (new_size < img->size && !allow_shrink) {
        snprintf(err, errlen, "%s: shrinking loses the data past %llu bytes: add --shrink to confirm", path,
                 (unsigned long long)new_size);
        rc = -EINVAL;
    } else if (img->format == IMAGE_QCOW2) {
        if ((rc = qcow2_resize(img->qcow2, new_size)))
            snprintf(err, errlen, "%s", img->qcow2->err);
    } else if (ftruncate(img->fd, (off_t)new_size) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot resize %s: %s", path, strerror(errno));
    }
    image_close(img);
    return rc;
}

static int grow_to(struct image *img, uint64_t size, char *err, size_t errlen)
{
    if (img->size >= size)
        return 0;
    int rc = img->format == IMAGE_QCOW2 ? qcow2_resize(img->qcow2, size)
                                         : (ftruncate(img->fd, (off_t)size) < 0 ? -errno : 0);
    if (rc)
        return fail_io(img, rc, "resize", err, errlen);
    img->size = size;
    return 0;
}

int image_commit(const char *path, bool keep, char *err, size_t errlen)
{
    struct image *top, *base = NULL;
    int rc = open_top(&top, path, NULL, IMAGE_RDWR | IMAGE_NO_BACKING, err, errlen);
    if (rc)
        return rc;
    if (top->format != IMAGE_QCOW2 || !top->qcow2->backing_file) {
        snprintf(err, errlen, "%s has no backing file to commit into", path);
        image_close(top);
        return -EINVAL;
    }
    char *bpath = image_resolve_backing(path, top->qcow2->backing_file);
    rc = bpath ? open_top(&base, bpath, top->qcow2->backing_format, IMAGE_RDWR, err, errlen) : -ENOMEM;
    free(bpath);
    if (!rc)
        rc = grow_to(base, top->size, err, errlen);
    uint8_t *buf = rc ? NULL : malloc(top->qcow2->cluster_size);
    if (!rc && !buf)
        rc = -ENOMEM;
    for (uint64_t off = 0; !rc && off < top->size;) {
        uint64_t len = top->size - off;
        bool allocated;
        if ((rc = image_allocated(top, off, &len, &allocated))) {
            fail_io(top, rc, "map", err, errlen);
            break;
        }
        if (allocated) {
            if ((rc = image_read(top, buf, len, off)))
                fail_io(top, rc, "read", err, errlen);
            else if ((rc = image_write(base, buf, len, off)))
                fail_io(base, rc, "write", err, errlen);
        }
        off += len;
    }
    free(buf);
    if (!rc && (rc = image_flush(base)))
        fail_io(base, rc, "flush", err, errlen);
    if (!rc && !keep && (rc = qcow2_discard(top->qcow2, 0, top->size, QCOW2_DISCARD_UNMAP)))
        fail_io(top, rc, "emptying", err, errlen);
    if (!rc && (rc = image_flush(top)))
        fail_io(top, rc, "flush", err, errlen);
    image_close(base);
    image_close(top);
    return rc;
}

/* Safe rebase: wherever the overlay does not hold data and old and new backing differ, the old
 * backing data is copied into the overlay first. */
static int copy_differences(struct image *top, struct image *new_base, char *err, size_t errlen)
{
    uint64_t cs = top->qcow2->cluster_size;
    uint8_t *a = malloc(cs), *b = malloc(cs);
    int rc = a && b ? 0 : -ENOMEM;
    for (uint64_t off = 0; !rc && off < top->size;) {
        uint64_t len = top->size - off;
        bool allocated;
        if ((rc = image_allocated(top, off, &len, &allocated))) {
            fail_io(top, rc, "map", err, errlen);
            break;
        }
        if (!allocated) {
            if ((rc = image_read(top, a, len, off)))
                fail_io(top, rc, "read", err, errlen);
            else if (new_base && (rc = image_read(new_base, b, len, off)))
                fail_io(new_base, rc, "read", err, errlen);
            else if (!new_base)
                memset(b, 0, len);
            if (!rc && memcmp(a, b, len) && (rc = image_write(top, a, len, off)))
                fail_io(top, rc, "write", err, errlen);
        }
        off += len;
    }
    free(a);
    free(b);
    return rc;
}

int image_rebase(const char *path, const char *new_backing, const char *new_format, bool unsafe,
                 char *err, size_t errlen)
{
    struct image *top, *new_base = NULL;
    bool none = !new_backing || !*new_backing;
    int rc = open_top(&top, path, NULL, IMAGE_RDWR | (unsafe ? IMAGE_NO_BACKING : 0), err, errlen);
    if (rc)
        return rc;
    if (top->format != IMAGE_QCOW2) {
        snprintf(err, errlen, "%s is not a qcow2 image: only qcow2 images have backing files", path);
        image_close(top);
        return -EINVAL;
    }
    char *resolved = none ? NULL : image_resolve_backing(path, new_backing);
    if (!none && (!unsafe || !new_format)) {
        char sub[512];
        rc = resolved ? image_open(&new_base, resolved, new_format, 0, sub, sizeof(sub)) : -ENOMEM;
        if (rc && !unsafe)
            snprintf(err, errlen, "%s: cannot open the new backing file %s: %s", path, new_backing, sub);
        else if (rc)
            rc = 0;        /* unsafe rebase onto a file that is not there (yet): no format recorded */
        if (!rc && new_base && !new_format)
            new_format = image_format_name(new_base->format);
    }
    if (!rc && !unsafe)
        rc = copy_differences(top, new_base, err, errlen);
    if (!rc && (rc = qcow2_set_backing(top->qcow2, none ? NULL : new_backing, none ? NULL : new_format)))
        snprintf(err, errlen, "%s", top->qcow2->err);
    if (!rc && (rc = image_flush(top)))
        fail_io(top, rc, "flush", err, errlen);
    free(resolved);
    image_close(new_base);
    image_close(top);
    return rc;
}
