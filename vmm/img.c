/* `vmm img`: the disk image tool, in qemu-img's vocabulary (create, info, check, convert, resize,
 * commit, rebase) on top of vmm/block/image.c and the qcow2 engine. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm/block/image.h"
#include "vmm/log.h"

int img_main(int argc, char **argv);

#define ERRLEN 1024

static void usage(FILE *f)
{
    fputs("usage: vmm img COMMAND [options]\n"
          "  create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o cluster_size=N,compat=0.10|1.1] FILE [SIZE]\n"
          "  info [-f FMT] [-U] [--output human|json] [--backing-chain] FILE\n"
          "  check [-f FMT] [-U] FILE          exit 0 clean, 2 corruptions, 3 leaked clusters\n"
          "  convert [-f FMT] -O raw|qcow2 [-c] SRC DST\n"
          "  resize [-f FMT] [--shrink] FILE [+|-]SIZE\n"
          "  commit [-d] FILE                   write FILE's data into its backing file\n"
          "  rebase [-u] -b NEW [-F FMT] FILE   (-b \"\" removes the backing file)\n"
          "SIZE takes K, M, G and T suffixes (powers of 1024).\n", f);
}

/* Options common to every command; unknown ones end the command with a message. */
struct opts {
    const char *format, *out_format, *backing, *backing_format, *output, *o_list;
    bool compress, force_share, unsafe, keep, shrink, chain;
};

enum { OPT_OUTPUT = 256, OPT_SHRINK, OPT_CHAIN };

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        { "output", required_argument, NULL, OPT_OUTPUT }, { "shrink", no_argument, NULL, OPT_SHRINK },
        { "backing-chain", no_argument, NULL, OPT_CHAIN }, { "force-share", no_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:O:b:F:o:cUudqph", longs, NULL)) != -1) {
        switch (c) {
        case 'f': o->format = optarg; break;
        case 'O': o->out_format = optarg; break;
        case 'b': o->backing = optarg; break;
        case 'F': o->backing_format = optarg; break;
        case 'o': o->o_list = optarg; break;
        case 'c': o->compress = true; break;
        case 'U': o->force_share = true; break;
        case 'u': o->unsafe = true; break;
        case 'd': o->keep = true; break;
        case 'q': case 'p': break;
        case OPT_OUTPUT: o->output = optarg; break;
        case OPT_SHRINK: o->shrink = true; break;
        case OPT_CHAIN: o->chain = true; break;
        case 'h': usage(stdout); exit(0);
        case ':': return log_fail("option %s needs a value (see vmm img --help)", argv[optind - 1]);
        default: return log_fail("unknown option '%s' for vmm img %s (see vmm img --help)", argv[optind - 1], argv[0]);
        }
    }
    return 0;
}

static int need_args(int argc, char **argv, int min, int max, const char *cmd)
{
    int n = argc - optind;
    if (n < min)
        return log_fail("vmm img %s needs %s (see vmm img --help)", cmd, min == 1 ? "a file name" : "more arguments");
    if (n > max)
        return log_fail("vmm img %s: unexpected argument '%s'", cmd, argv[optind + max]);
    return 0;
}

static int check_format(const char *name, const char *what)
{
    enum image_format f;
    if (name && image_parse_format(name, &f))
        return log_fail("%s '%s' is not supported: use raw or qcow2", what, name);
    return 0;
}

/* -o cluster_size=N,compat=0.10|1.1 */
static int parse_o_list(const char *list, struct image_create_opts *co)
{
    if (!list)
        return 0;
    char *copy = strdup(list), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        uint64_t v;
        if (eq)
            *eq++ = 0;
        if (eq && !strcmp(item, "cluster_size") && !image_parse_size(eq, &v) && v <= (1u << 21))
            co->cluster_size = (uint32_t)v;
        else if (eq && !strcmp(item, "compat") && (!strcmp(eq, "0.10") || !strcmp(eq, "v2")))
            co->qcow2_version = 2;
        else if (eq && !strcmp(item, "compat") && (!strcmp(eq, "1.1") || !strcmp(eq, "v3")))
            co->qcow2_version = 3;
        else if (eq && !strcmp(item, "backing_file"))
            co->backing = list + (eq - copy);
        else if (eq && !strcmp(item, "backing_fmt"))
            co->backing_format = list + (eq - copy);
        else
            rc = log_fail("-o %s%s%s is not understood: use cluster_size=SIZE or compat=0.10|1.1", item,
                           eq ? "=" : "", eq ? eq : "");
    }
    free(copy);
    return rc;
}

static int cmd_create(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 1, 2, "create") || check_format(o.format, "format") ||
        check_format(o.backing_format, "backing format"))
        return 1;
    struct image_create_opts co = { .format = IMAGE_RAW, .backing = o.backing, .backing_format = o.backing_format };
    if (o.format)
        image_parse_format(o.format, &co.format);
    if (parse_o_list(o.o_list, &co))
        return 1;
    if (co.backing && strchr(co.backing, ','))   /* from -o: cut at the next option */
        co.backing = strndup(co.backing, strcspn(co.backing, ","));
    const char *file = argv[optind];
    if (argc - optind == 2 && image_parse_size(argv[optind + 1], &co.size))
        return log_fail("'%s' is not a size: write e.g. 10G or 512M", argv[optind + 1]);
    if (argc - optind == 1 && !co.backing)
        return log_fail("vmm img create %s needs a size (e.g. 10G)", file);
    char err[ERRLEN] = "";
    if (image_create(file, &co, err, sizeof(err)))
        return log_fail("%s", err);
    printf("Formatting '%s', fmt=%s", file, image_format_name(co.format));
    if (co.size)
        printf(" size=%llu", (unsigned long long)co.size);
    printf("%s%s\n", co.backing ? " backing_file=" : "", co.backing ? co.backing : "");
    return 0;
}

static void human_size(uint64_t v, char *out, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 5)
        d /= 1024, u++;
    if (u == 0)
        snprintf(out, len, "%llu B", (unsigned long long)v);
    else
        snprintf(out, len, "%0.3g %s", d, units[u]);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static uint64_t actual_size(const struct image *img)
{
    struct stat st;
    return fstat(img->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static void info_json(const struct image *img, bool last)
{
    const struct qcow2 *q = img->qcow2;
    printf("{\n    \"virtual-size\": %llu,\n    \"filename\": ", (unsigned long long)img->size);
    json_string(img->path);
    printf(",\n");
    if (q)
        printf("    \"cluster-size\": %llu,\n", (unsigned long long)q->cluster_size);
    printf("    \"format\": \"%s\",\n    \"actual-size\": %llu,\n", image_format_name(img->format),
           (unsigned long long)actual_size(img));
    if (q) {
        printf("    \"format-specific\": {\n        \"type\": \"qcow2\",\n        \"data\": {\n"
               "            \"compat\": \"%s\",\n", q->version == 2 ? "0.10" : "1.1");
        if (q->version == 3)
            printf("            \"compression-type\": \"zlib\",\n            \"lazy-refcounts\": %s,\n"
                   "            \"refcount-bits\": %u,\n            \"corrupt\": %s,\n"
                   "            \"extended-l2\": false\n", (q->compat & 1) ? "true" : "false",
                   1u << q->refcount_order, (q->incompat & 2) ? "true" : "false");
        else
            printf("            \"refcount-bits\": 16\n");
        printf("        }\n    },\n");
        if (q->backing_file) {
            printf("    \"backing-filename\": ");
            json_string(q->backing_file);
            printf(",\n    \"full-backing-filename\": ");
            json_string(img->backing_path ? img->backing_path : q->backing_file);
            printf(",\n");
            if (q->backing_format) {
                printf("    \"backing-filename-format\": ");
                json_string(q->backing_format);
                printf(",\n");
            }
        }
    }
    printf("    \"dirty-flag\": %s\n}%s\n", q && (q->incompat & 1) ? "true" : "false", last ? "" : ",");
}

static void info_human(const struct image *img)
{
    const struct qcow2 *q = img->qcow2;
    char vs[32], ds[32];
    human_size(img->size, vs, sizeof(vs));
    human_size(actual_size(img), ds, sizeof(ds));
    printf("image: %s\nfile format: %s\nvirtual size: %s (%llu bytes)\ndisk size: %s\n", img->path,
           image_format_name(img->format), vs, (unsigned long long)img->size, ds);
    if (!q)
        return;
    printf("cluster_size: %llu\n", (unsigned long long)q->cluster_size);
    if (q->backing_file) {
        printf("backing file: %s", q->backing_file);
        if (img->backing_path && strcmp(img->backing_path, q->backing_file))
            printf(" (actual path: %s)", img->backing_path);
        printf("\n");
        if (q->backing_format)
            printf("backing file format: %s\n", q->backing_format);
    }
    printf("Format specific information:\n    compat: %s\n", q->version == 2 ? "0.10" : "1.1");
    if (q->version == 3)
        printf("    compression type: zlib\n    lazy refcounts: %s\n", (q->compat & 1) ? "true" : "false");
    printf("    refcount bits: %u\n    corrupt: %s\n", 1u << q->refcount_order, (q->incompat & 2) ? "true" : "false");
    if (q->version == 3)
        printf("    extended l2: false\n");
}

static int cmd_info(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 1, 1, "info") || check_format(o.format, "format"))
        return 1;
    bool json = o.output && !strcmp(o.output, "json");
    if (o.output && !json && strcmp(o.output, "human"))
        return log_fail("--output %s: use human or json", o.output);
    char err[ERRLEN];
    struct image *img;
    unsigned flags = (o.force_share ? IMAGE_NO_LOCK : 0) | (o.chain ? 0 : IMAGE_NO_BACKING);
    if (image_open(&img, argv[optind], o.format, flags, err, sizeof(err)))
        return log_fail("%s", err);
    if (json && o.chain)
        printf("[\n");
    for (struct image *i = img; i; i = o.chain ? i->backing : NULL) {
        if (json)
            info_json(i, !(o.chain && i->backing));
        else
            info_human(i);
        if (!json && o.chain && i->backing)
            printf("\n");
    }
    if (json && o.chain)
        printf("]\n");
    image_close(img);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 1, 1, "check") || check_format(o.format, "format"))
        return 1;
    char err[ERRLEN];
    struct image *img;
    if (image_open(&img, argv[optind], o.format, IMAGE_NO_BACKING | (o.force_share ? IMAGE_NO_LOCK : 0), err,
                   sizeof(err)))
        return log_fail("%s", err);
    if (img->format != IMAGE_QCOW2) {
        image_close(img);
        fprintf(stderr, "vmm: error: %s: raw images have no metadata to check\n", argv[optind]);
        return 63;
    }
    struct qcow2_check_result r;
    int rc = qcow2_check(img->qcow2, &r, stderr);
    if (rc) {
        log_fail("%s", img->qcow2->err);
        image_close(img);
        return 1;
    }
    if (!r.corruptions && !r.leaks)
        printf("No errors were found on the image.\n");
    if (r.corruptions)
        printf("\n%llu errors were found on the image.\nData may be corrupted, or further writes to the image "
               "may corrupt it.\n", (unsigned long long)r.corruptions);
    if (r.leaks)
        printf("\n%llu leaked clusters were found on the image.\nThis means waste of disk space, but no harm "
               "to data.\n", (unsigned long long)r.leaks);
    if (r.total_clusters)
        printf("%llu/%llu = %0.2f%% allocated\n", (unsigned long long)r.allocated_clusters,
               (unsigned long long)r.total_clusters, 100.0 * (double)r.allocated_clusters / (double)r.total_clusters);
    printf("Image end offset: %llu\n", (unsigned long long)r.image_end);
    image_close(img);
    return r.corruptions ? 2 : r.leaks ? 3 : 0;
}

static int cmd_convert(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 2, 2, "convert") || check_format(o.format, "format") ||
        check_format(o.out_format, "output format"))
        return 1;
    struct image_create_opts co = { .format = IMAGE_RAW };
    if (o.out_format)
        image_parse_format(o.out_format, &co.format);
    if (parse_o_list(o.o_list, &co))
        return 1;
    char err[ERRLEN];
    if (image_convert(argv[optind], o.format, argv[optind + 1], co.format, co.cluster_size, o.compress, err,
                      sizeof(err)))
        return log_fail("%s", err);
    return 0;
}

static int cmd_resize(int argc, char **argv)
{
    struct opts o = { 0 };
    /* "-1G" would look like an option: take it as the size when it comes last. */
    const char *neg = NULL;
    if (argc >= 3 && argv[argc - 1][0] == '-' && argv[argc - 1][1] >= '0' && argv[argc - 1][1] <= '9')
        neg = argv[--argc];
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, neg ? 1 : 2, neg ? 1 : 2, "resize") ||
        check_format(o.format, "format"))
        return 1;
    char err[ERRLEN];
    if (image_resize(argv[optind], o.format, neg ? neg : argv[optind + 1], o.shrink, err, sizeof(err)))
        return log_fail("%s", err);
    printf("Image resized.\n");
    return 0;
}

static int cmd_commit(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 1, 1, "commit"))
        return 1;
    char err[ERRLEN];
    if (image_commit(argv[optind], o.keep, err, sizeof(err)))
        return log_fail("%s", err);
    printf("Image committed.\n");
    return 0;
}

static int cmd_rebase(int argc, char **argv)
{
    struct opts o = { 0 };
    if (parse_opts(argc, argv, &o) || need_args(argc, argv, 1, 1, "rebase") || check_format(o.backing_format, "backing format"))
        return 1;
    if (!o.backing)
        return log_fail("vmm img rebase needs -b NEW_BACKING (-b \"\" to remove it)");
    char err[ERRLEN];
    if (image_rebase(argv[optind], o.backing, o.backing_format, o.unsafe, err, sizeof(err)))
        return log_fail("%s", err);
    return 0;
}

/* argv[0] is "img", argv[1] the command. */
int img_main(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        { "create", cmd_create }, { "info", cmd_info }, { "check", cmd_check }, { "convert", cmd_convert },
        { "resize", cmd_resize }, { "commit", cmd_commit }, { "rebase", cmd_rebase },
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            int rc = cmds[i].fn(argc - 1, argv + 1);
            fflush(stdout);
            return rc;
        }
    return log_fail("unknown vmm img command '%s': use create, info, check, convert, resize, commit or rebase",
                     argv[1]);
}
