/* Disk images: sizes and formats, backing chains (relative names, backing_fmt, loops, depth),
 * OFD locks against ourselves and qemu-img, and create/convert/resize/commit/rebase. */
#define _GNU_SOURCE
#include "tests/unit/check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/block/image.h"

#define SCRATCH_PREFIX "test_image"
#include "tests/unit/scratch.h"

static int write_file(const char *path, uint64_t size, uint8_t pattern)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        return -1;
    uint8_t buf[4096];
    memset(buf, pattern, sizeof(buf));
    for (uint64_t off = 0; off < size; off += 1 << 20)
        if (pwrite(fd, buf, sizeof(buf), (off_t)off) != sizeof(buf))
            return -1;
    close(fd);
    return 0;
}

static int create(const char *path, enum image_format f, uint64_t size, const char *backing, const char *bfmt)
{
    char err[512];
    struct image_create_opts o = { .format = f, .size = size, .backing = backing, .backing_format = bfmt };
    int rc = image_create(path, &o, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  create %s: %s\n", path, err);
    return rc;
}

TEST(sizes_and_formats)
{
    uint64_t v;
    CHECK_EQ(image_parse_size("10G", &v), 0);
    CHECK_EQ(v, 10ULL << 30);
    CHECK_EQ(image_parse_size("512", &v), 0);
    CHECK_EQ(v, 512);
    CHECK_EQ(image_parse_size("3k", &v), 0);
    CHECK_EQ(v, 3072);
    CHECK_EQ(image_parse_size("2T", &v), 0);
    CHECK_EQ(v, 2ULL << 40);
    CHECK_EQ(image_parse_size("1MiB", &v), 0);
    CHECK_EQ(v, 1 << 20);
    CHECK(image_parse_size("abc", &v) < 0);
    CHECK(image_parse_size("5Q", &v) < 0);
    CHECK(image_parse_size("-5", &v) < 0);
    CHECK(image_parse_size("99999999999T", &v) < 0);
    enum image_format f;
    CHECK_EQ(image_parse_format("qcow2", &f), 0);
    CHECK_EQ(f, IMAGE_QCOW2);
    CHECK(image_parse_format("vmdk", &f) < 0);
    char *r = image_resolve_backing("/a/b/over.qcow2", "base.raw");
    CHECK(!strcmp(r, "/a/b/base.raw"));
    free(r);
    r = image_resolve_backing("over.qcow2", "base.raw");
    CHECK(!strcmp(r, "base.raw"));
    free(r);
    r = image_resolve_backing("d/over.qcow2", "/abs/base.raw");
    CHECK(!strcmp(r, "/abs/base.raw"));
    free(r);
}

TEST(chain_with_relative_backing_reads_through)
{
    const char *base = tmp("base.raw");
    CHECK_EQ(write_file(base, 8 << 20, 0x42), 0);
    CHECK_EQ(mkdir(tmp("sub"), 0755), 0);
    const char *mid = tmp("sub/mid.qcow2"), *top = tmp("sub/top.qcow2");
    CHECK_EQ(create(mid, IMAGE_QCOW2, 0, "../base.raw", NULL), 0);   /* relative to sub/ */
    CHECK_EQ(create(top, IMAGE_QCOW2, 0, "mid.qcow2", "qcow2"), 0);
    char err[512];
    struct image *img;
    CHECK_EQ(image_open(&img, top, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    CHECK_EQ(img->size, 8 << 20);
    CHECK(img->backing && img->backing->backing && img->backing->backing->format == IMAGE_RAW);
    CHECK(!strcmp(img->backing->qcow2->backing_format, "raw"));    /* probed at create time */
    uint8_t buf[8192];
    CHECK_EQ(image_read(img, buf, sizeof(buf), (1 << 20) - 4096), 0);
    CHECK_EQ(buf[4095], 0);
    CHECK_EQ(buf[4096], 0x42);
    memset(buf, 0x99, 100);
    CHECK_EQ(image_write(img, buf, 100, (1 << 20) + 50), 0);       /* partial: copy-on-write from the base */
    CHECK_EQ(image_read(img, buf, 4096, 1 << 20), 0);
    CHECK_EQ(buf[49], 0x42);
    CHECK_EQ(buf[50], 0x99);
    CHECK_EQ(buf[150], 0x42);
    image_close(img);
    if (have_qemu_img()) {
        CHECK_EQ(run("qemu-img check -q %s", top), 0);
        CHECK_EQ(run("qemu-img info %s | grep -q 'backing file: mid.qcow2'", top), 0);
    }
}

TEST(backing_format_is_honoured)
{
    const char *real = tmp("fmt_base.qcow2"), *top = tmp("fmt_top.qcow2");
    CHECK_EQ(create(real, IMAGE_QCOW2, 4 << 20, NULL, NULL), 0);
    CHECK_EQ(create(top, IMAGE_QCOW2, 4 << 20, "fmt_base.qcow2", "raw"), 0);
    char err[512];
    struct image *img;
    CHECK_EQ(image_open(&img, top, NULL, 0, err, sizeof(err)), 0);
    CHECK_EQ(img->backing->format, IMAGE_RAW);
    uint8_t magic[4];
    CHECK_EQ(image_read(img, magic, 4, 0), 0);     /* the qcow2 header bytes, read as raw data */
    CHECK(!memcmp(magic, "QFI\xfb", 4));
    image_close(img);
    /* backing_fmt=qcow2 on a raw file: refused with the file named. */
    const char *raw = tmp("plain.raw"), *top2 = tmp("fmt_top2.qcow2");
    CHECK_EQ(write_file(raw, 1 << 20, 1), 0);
    CHECK_EQ(create(top2, IMAGE_QCOW2, 1 << 20, "plain.raw", "raw"), 0);
    struct image *t2;
    CHECK_EQ(image_open(&t2, top2, NULL, IMAGE_RDWR | IMAGE_NO_BACKING, err, sizeof(err)), 0);
    CHECK_EQ(qcow2_set_backing(t2->qcow2, "plain.raw", "qcow2"), 0);
    image_close(t2);
    CHECK(image_open(&img, top2, NULL, 0, err, sizeof(err)) < 0);
    CHECK(strstr(err, "plain.raw is not a qcow2 image"));
}

TEST(backing_loops_and_depth_are_refused)
{
    const char *a = tmp("loop_a.qcow2"), *b = tmp("loop_b.qcow2");
    CHECK_EQ(create(a, IMAGE_QCOW2, 1 << 20, NULL, NULL), 0);
    CHECK_EQ(create(b, IMAGE_QCOW2, 1 << 20, "loop_a.qcow2", "qcow2"), 0);
    char err[512];
    struct image *img;
    CHECK_EQ(image_open(&img, a, NULL, IMAGE_RDWR | IMAGE_NO_BACKING, err, sizeof(err)), 0);
    CHECK_EQ(qcow2_set_backing(img->qcow2, "loop_b.qcow2", "qcow2"), 0);
    image_close(img);
    CHECK(image_open(&img, b, NULL, 0, err, sizeof(err)) == -ELOOP);
    CHECK(strstr(err, "loops back"));
    /* A file that is its own backing file. */
    const char *self = tmp("self.qcow2");
    CHECK_EQ(create(self, IMAGE_QCOW2, 1 << 20, NULL, NULL), 0);
    CHECK_EQ(image_open(&img, self, NULL, IMAGE_RDWR | IMAGE_NO_BACKING, err, sizeof(err)), 0);
    CHECK_EQ(qcow2_set_backing(img->qcow2, "self.qcow2", NULL), 0);
    image_close(img);
    CHECK(image_open(&img, self, NULL, 0, err, sizeof(err)) == -ELOOP);
    /* 18 images deep. */
    char name[32], prev[32];
    CHECK_EQ(create(tmp("deep0.qcow2"), IMAGE_QCOW2, 1 << 20, NULL, NULL), 0);
    for (int i = 1; i < 18; i++) {
        snprintf(name, sizeof(name), "deep%d.qcow2", i);
        snprintf(prev, sizeof(prev), "deep%d.qcow2", i - 1);
        CHECK_EQ(create(tmp(name), IMAGE_QCOW2, 1 << 20, prev, "qcow2") == 0 || i > IMAGE_MAX_CHAIN, 1);
        if (i > IMAGE_MAX_CHAIN)
            break;
    }
    CHECK(image_open(&img, tmp("deep16.qcow2"), NULL, 0, err, sizeof(err)) < 0);
    CHECK(strstr(err, "deeper than 16"));
    CHECK_EQ(image_open(&img, tmp("deep15.qcow2"), NULL, 0, err, sizeof(err)), 0);
    image_close(img);
    /* A missing backing file is named. */
    const char *orphan = tmp("orphan.qcow2");
    CHECK_EQ(create(orphan, IMAGE_QCOW2, 1 << 20, NULL, NULL), 0);
    CHECK_EQ(image_open(&img, orphan, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    CHECK_EQ(qcow2_set_backing(img->qcow2, "gone.raw", "raw"), 0);
    image_close(img);
    CHECK(image_open(&img, orphan, NULL, 0, err, sizeof(err)) < 0);
    CHECK(strstr(err, "gone.raw does not exist"));
}

TEST(ofd_locks)
{
    const char *path = tmp("locked.qcow2");
    CHECK_EQ(create(path, IMAGE_QCOW2, 1 << 20, NULL, NULL), 0);
    char err[512];
    struct image *a, *b;
    CHECK_EQ(image_open(&a, path, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    CHECK(image_open(&b, path, NULL, IMAGE_RDWR, err, sizeof(err)) == -EBUSY);
    CHECK(strstr(err, "is in use by another process"));
    CHECK(strstr(err, path));
    CHECK(image_open(&b, path, NULL, 0, err, sizeof(err)) == -EBUSY);
    CHECK_EQ(image_open(&b, path, NULL, IMAGE_NO_LOCK, err, sizeof(err)), 0);
    image_close(b);
    if (have_qemu_img()) {
        CHECK(run("qemu-img info %s >/dev/null 2>&1", path) != 0);        /* QEMU sees our lock */
        CHECK_EQ(run("qemu-img info -U %s >/dev/null 2>&1", path), 0);
    }
    image_close(a);
    /* Two readers share; a writer then waits for both to go. */
    CHECK_EQ(image_open(&a, path, NULL, 0, err, sizeof(err)), 0);
    CHECK_EQ(image_open(&b, path, NULL, 0, err, sizeof(err)), 0);
    struct image *c;
    CHECK(image_open(&c, path, NULL, IMAGE_RDWR, err, sizeof(err)) == -EBUSY);
    image_close(a);
    image_close(b);
    /* Another process holding it: its pid is named. */
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct image *held;
        char e2[512];
        if (image_open(&held, path, NULL, IMAGE_RDWR, e2, sizeof(e2)))
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char x;
    CHECK_EQ(read(p[0], &x, 1), 1);
    int rc = image_open(&c, path, NULL, IMAGE_RDWR, err, sizeof(err));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(p[1]);
    CHECK(rc == -EBUSY);
    char want[64];
    snprintf(want, sizeof(want), "(pid %d)", (int)pid);
    if (!strstr(err, want))
        fprintf(stderr, "  message: %s\n", err);
    CHECK(strstr(err, want));
    /* And the other way round: a QEMU process holding it. */
    if (have_qemu_img() && run("qemu-io --version >/dev/null 2>&1") == 0) {
        int in[2];
        CHECK_EQ(pipe(in), 0);
        pid_t q = fork();
        if (q == 0) {     /* qemu-io keeps the image open while its input stays open */
            dup2(in[0], 0);
            close(in[1]);
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execlp("qemu-io", "qemu-io", path, (char *)NULL);
            _exit(127);
        }
        close(in[0]);
        int tries = 0;
        do {
            usleep(100000);
            rc = image_open(&c, path, NULL, IMAGE_RDWR, err, sizeof(err));
            if (!rc)
                image_close(c);
        } while (rc == 0 && ++tries < 20);
        close(in[1]);
        kill(q, SIGKILL);
        waitpid(q, NULL, 0);
        CHECK(rc == -EBUSY);
    }
    CHECK_EQ(image_open(&c, path, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    image_close(c);
}

TEST(create_convert_resize)
{
    const char *raw = tmp("src.raw"), *q = tmp("conv.qcow2"), *qc = tmp("convc.qcow2"), *back = tmp("back.raw");
    CHECK_EQ(write_file(raw, 6 << 20, 0x31), 0);
    char err[512];
    CHECK_EQ(image_convert(raw, NULL, q, IMAGE_QCOW2, 0, false, err, sizeof(err)), 0);
    CHECK_EQ(image_convert(raw, "raw", qc, IMAGE_QCOW2, 4096, true, err, sizeof(err)), 0);
    CHECK_EQ(image_convert(qc, NULL, back, IMAGE_RAW, 0, false, err, sizeof(err)), 0);
    CHECK_EQ(run("cmp -s %s %s", raw, back), 0);
    CHECK(image_convert(raw, NULL, tmp("x.raw"), IMAGE_RAW, 0, true, err, sizeof(err)) < 0);
    CHECK(image_convert(tmp("none.raw"), NULL, tmp("x.raw"), IMAGE_RAW, 0, false, err, sizeof(err)) < 0);
    CHECK(strstr(err, "none.raw does not exist"));
    if (have_qemu_img())
        CHECK_EQ(run("qemu-img check -q %s && qemu-img check -q %s && qemu-img compare -q %s %s && "
                     "qemu-img compare -q %s %s", q, qc, q, raw, qc, raw), 0);
    CHECK_EQ(image_resize(q, NULL, "+1G", false, err, sizeof(err)), 0);
    CHECK(image_resize(q, NULL, "1M", false, err, sizeof(err)) == -ENOTSUP);
    CHECK(strstr(err, "shrinking a qcow2 image is not supported"));
    CHECK(image_resize(q, NULL, "100T", false, err, sizeof(err)) < 0);
    CHECK_EQ(image_resize(raw, NULL, "8M", false, err, sizeof(err)), 0);
    CHECK(image_resize(raw, NULL, "-1M", false, err, sizeof(err)) < 0);
    CHECK_EQ(image_resize(raw, NULL, "-1M", true, err, sizeof(err)), 0);
    struct stat st;
    CHECK_EQ(stat(raw, &st), 0);
    CHECK_EQ(st.st_size, 7 << 20);
    struct image *img;
    CHECK_EQ(image_open(&img, q, NULL, 0, err, sizeof(err)), 0);
    CHECK_EQ(img->size, (6 << 20) + (1ULL << 30));
    image_close(img);
    if (have_qemu_img())
        CHECK_EQ(run("qemu-img check -q %s && qemu-img info %s | grep -q '1080033280 bytes'", q, q), 0);
    /* qcow2 with 512-byte clusters grown past the L1 table's first cluster. */
    const char *small = tmp("small.qcow2");
    struct image_create_opts o = { .format = IMAGE_QCOW2, .size = 1 << 20, .cluster_size = 512 };
    CHECK_EQ(image_create(small, &o, err, sizeof(err)), 0);
    CHECK_EQ(image_resize(small, "qcow2", "+300M", false, err, sizeof(err)), 0);
    CHECK_EQ(image_open(&img, small, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    uint8_t buf[1000];
    memset(buf, 0x12, sizeof(buf));
    CHECK_EQ(image_write(img, buf, sizeof(buf), 300 << 20), 0);
    image_close(img);
    if (have_qemu_img())
        CHECK_EQ(run("qemu-img check -q %s", small), 0);
}

TEST(commit_and_rebase)
{
    const char *base = tmp("cb.raw"), *over = tmp("co.qcow2"), *other = tmp("other.raw");
    CHECK_EQ(write_file(base, 4 << 20, 0x10), 0);
    CHECK_EQ(write_file(other, 4 << 20, 0x20), 0);
    CHECK_EQ(create(over, IMAGE_QCOW2, 0, "cb.raw", "raw"), 0);
    char err[512];
    struct image *img;
    uint8_t buf[4096];
    CHECK_EQ(image_open(&img, over, NULL, IMAGE_RDWR, err, sizeof(err)), 0);
    memset(buf, 0x77, sizeof(buf));
    CHECK_EQ(image_write(img, buf, sizeof(buf), 2 << 20), 0);
    image_close(img);
    /* Safe rebase onto other.raw: reads stay as they were. */
    CHECK_EQ(image_rebase(over, "other.raw", NULL, false, err, sizeof(err)), 0);
    CHECK_EQ(image_open(&img, over, NULL, 0, err, sizeof(err)), 0);
    CHECK(!strcmp(img->qcow2->backing_file, "other.raw") && !strcmp(img->qcow2->backing_format, "raw"));
    CHECK_EQ(image_read(img, buf, 4096, 0), 0);
    CHECK_EQ(buf[0], 0x10);
    CHECK_EQ(image_read(img, buf, 4096, 2 << 20), 0);
    CHECK_EQ(buf[0], 0x77);
    CHECK_EQ(image_read(img, buf, 4096, 5000), 0);     /* equal in both (zeroes): nothing copied */
    CHECK_EQ(buf[0], 0);
    image_close(img);
    /* Unsafe rebase back: only the header changes. */
    CHECK_EQ(image_rebase(over, "cb.raw", "raw", true, err, sizeof(err)), 0);
    /* Commit into cb.raw, which then holds the overlay's data; the overlay is emptied. */
    CHECK_EQ(image_commit(over, false, err, sizeof(err)), 0);
    int fd = open(base, O_RDONLY);
    CHECK_EQ(pread(fd, buf, 4096, 2 << 20), 4096);
    CHECK_EQ(buf[0], 0x77);
    CHECK_EQ(pread(fd, buf, 4096, 0), 4096);
    CHECK_EQ(buf[0], 0x10);
    close(fd);
    CHECK_EQ(image_open(&img, over, NULL, 0, err, sizeof(err)), 0);
    uint64_t len = 4096;
    bool allocated;
    CHECK_EQ(image_allocated(img, 2 << 20, &len, &allocated), 0);
    CHECK(!allocated);
    image_close(img);
    CHECK(image_commit(base, false, err, sizeof(err)) < 0);
    CHECK(strstr(err, "has no backing file"));
    /* Removing the backing file safely copies everything it provided. */
    CHECK_EQ(image_rebase(over, "", NULL, false, err, sizeof(err)), 0);
    CHECK_EQ(image_open(&img, over, NULL, 0, err, sizeof(err)), 0);
    CHECK(!img->qcow2->backing_file);
    CHECK_EQ(image_read(img, buf, 4096, 0), 0);
    CHECK_EQ(buf[0], 0x10);
    image_close(img);
    if (have_qemu_img())
        CHECK_EQ(run("qemu-img check -q %s && qemu-img compare -q %s %s", over, over, base), 0);
}

TEST_MAIN()
