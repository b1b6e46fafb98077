/* Disk image files of any format: probing (raw, qcow2), backing chains, OFD locks compatible with
 * QEMU's, and the create/convert/resize/commit/rebase operations behind `vmm img`. */
#ifndef VMM_BLOCK_IMAGE_H
#define VMM_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/block/qcow2.h"

#define IMAGE_MAX_CHAIN 16

enum image_format { IMAGE_RAW, IMAGE_QCOW2 };

enum image_flags {
    IMAGE_RDWR = 1,            /* open the top image read-write (backing files stay read-only) */
    IMAGE_NO_LOCK = 2,         /* take no OFD locks (qemu-img -U) */
    IMAGE_NO_BACKING = 4,      /* do not open the backing chain (unallocated reads as zeroes) */
};

struct image {
    char *path;
    int fd;
    enum image_format format;
    bool readonly;
    uint64_t size;             /* virtual size in bytes */
    struct qcow2 *qcow2;       /* IMAGE_QCOW2 */
    struct image *backing;     /* next image down the chain, or NULL */
    char *backing_path;        /* the backing file as resolved (relative names: against our directory) */
};

/* Opens an image and its backing chain. format: "raw", "qcow2" or NULL to probe. Errors name the
 * file and the problem ("image X is in use by another process (pid N): ..."). */
int image_open(struct image **out, const char *path, const char *format, unsigned flags, char *err, size_t errlen);
void image_close(struct image *img);

/* Guest-view reads and writes through the chain; zeroes past the end of a shorter backing image. */
int image_read(struct image *img, void *buf, uint64_t len, uint64_t offset);
int image_write(struct image *img, const void *buf, uint64_t len, uint64_t offset);
int image_flush(struct image *img);
/* Is [offset, offset+len) allocated in this image itself? *len is cut to a run of the same answer. */
int image_allocated(struct image *img, uint64_t offset, uint64_t *len, bool *allocated);

/* Takes QEMU-compatible OFD locks on fd (QEMU block/file-posix.c: bytes 100+perm held for the
 * permissions we use, 200+perm for the ones we do not share). */
/* Size in bytes of an image file or block device; a message naming `path` on failure. */
int image_file_size(int fd, const char *path, uint64_t *size, char *err, size_t errlen);
int image_lock(int fd, const char *path, bool write, char *err, size_t errlen);
/* The whole buffer read or written at offset (EINTR and short transfers retried); a read past the
 * end of the file gives zeroes. 0 or -errno. */
int image_rw_full(int fd, void *buf, uint64_t len, uint64_t offset, bool write);
/* "raw" / "qcow2" from the first bytes of fd. */
int image_probe(int fd, enum image_format *format);
const char *image_format_name(enum image_format f);
int image_parse_format(const char *name, enum image_format *f);
/* Sizes with K/M/G/T suffixes (powers of 1024); returns -EINVAL if not a size. */
int image_parse_size(const char *s, uint64_t *out);
/* backing as named in overlay, resolved against overlay's directory when relative (malloc'd). */
char *image_resolve_backing(const char *overlay, const char *backing);

struct image_create_opts {
    enum image_format format;
    uint64_t size;             /* 0 with a backing file: the backing file's size */
    const char *backing, *backing_format;
    uint32_t cluster_size;     /* 0 = 64 KiB */
    uint32_t qcow2_version;    /* 0 = 3 */
};
int image_create(const char *path, const struct image_create_opts *o, char *err, size_t errlen);
/* cluster_size: of a qcow2 destination, 0 = 64 KiB. */
int image_convert(const char *src, const char *src_format, const char *dst, enum image_format dst_format,
                  uint32_t cluster_size, bool compress, char *err, size_t errlen);
/* size: "N" absolute, "+N" grow or "-N" shrink (raw only, and only with allow_shrink). */
int image_resize(const char *path, const char *format, const char *size, bool allow_shrink, char *err,
                 size_t errlen);
/* Writes the overlay's data into its backing file, then empties the overlay (unless keep). */
int image_commit(const char *path, bool keep, char *err, size_t errlen);
/* unsafe: header only; safe: clusters that differ between old and new backing are copied in first. */
int image_rebase(const char *path, const char *new_backing, const char *new_format, bool unsafe,
                 char *err, size_t errlen);

#endif
