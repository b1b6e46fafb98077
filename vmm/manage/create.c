/* vmm create / vmm define: a VM from virt-install's options, written as a definition (and started). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/block/image.h"
#include "vmm/log.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/home.h"
#include "vmm/manage/kvlist.h"
#include "vmm/manage/network.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/vmdef.h"

void undo_created(const struct created *c)
{
    for (int i = 0; i < c->n; i++)
        unlink(c->paths[i]);
}

int save_or_undo(const struct vmdef *d, int rc, const struct created *made, char *err, size_t errlen)
{
    if (rc == 0)
        rc = vmdef_save(d, err, errlen);
    if (rc == 0)
        return 0;
    undo_created(made);
    log_error("%s", err);
    return 1;
}

/* An existing file's absolute path into out; err names what it is for. */
static int existing_file(const char *what, const char *path, char *out, size_t len, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    struct stat st;
    if (!realpath(path, abs) || stat(abs, &st)) {
        errorf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -ENOENT;
    }
    if (S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s %s is a directory, not a file", what, path);
        return -EISDIR;
    }
    if (strlen(abs) >= len || strchr(abs, ',')) {
        errorf(err, errlen, "%s %s: the path must be shorter than %zu characters and hold no ','", what, path, len);
        return -EINVAL;
    }
    snprintf(out, len, "%s", abs);
    return 0;
}

/* A new image's absolute path: as given (its directory must exist), else $STATE/images/NAME-vdX.qcow2. */
static int new_image_path(const struct vmdef *d, const char *given, const char *target, const char *format,
                          char *out, size_t len, char *err, size_t errlen)
{
    if (!given)
        return home_path(out, len, err, errlen, "images/%s-%s.%s", d->name, target, format);
    char dir[PATH_MAX], copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", given);
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    if (slash)
        *slash = 0;
    if (!*base || !realpath(slash ? (copy[0] ? copy : "/") : ".", dir)) {
        errorf(err, errlen, "cannot create disk %s: its directory does not exist", given);
        return -ENOENT;
    }
    if ((size_t)snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "", base) >= len || strchr(out, ',')) {
        errorf(err, errlen, "disk path %s is too long or holds a ','", given);
        return -EINVAL;
    }
    return 0;
}

static const char *format_for(const char *path, const char *format)
{
    if (format)
        return format;
    const char *dot = path ? strrchr(path, '.') : NULL;
    return dot && (!strcmp(dot, ".img") || !strcmp(dot, ".raw") || !strcmp(dot, ".iso")) ? "raw" : "qcow2";
}

/* size= in GiB (virt-install's unit, fractions allowed), or with a K/M/G/T suffix. */
static int parse_gib(const char *s, uint64_t *bytes)
{
    char *end;
    double g = strtod(s, &end);
    if (end != s && *end && image_parse_size(s, bytes) == 0 && *bytes > 0) {
        *bytes = (*bytes + 511) & ~511ULL;
        return 0;
    }
    if (end == s || *end || !(g > 0) || g > 65536)
        return -EINVAL;
    *bytes = ((uint64_t)(g * (1 << 30)) + 511) & ~511ULL;
    return 0;
}

int disk_add(struct vmdef *d, char *spec, struct created *made, char *err, size_t errlen)
{
    char *path = NULL, *size = NULL, *format = NULL, *target = NULL, *key, *val, *cur = spec;
    bool readonly = false;
    while (kv_next(&cur, &key, &val)) {
        if (!val && !path && key == spec)
            path = key;                            /* a bare FILE first */
        else if (!strcmp(key, "path") && val)
            path = val;
        else if (!strcmp(key, "size") && val)
            size = val;
        else if (!strcmp(key, "format") && val)
            format = val;
        else if (!strcmp(key, "target") && val)
            target = val;
        else if ((!strcmp(key, "readonly") && (!val || !strcmp(val, "on") || !strcmp(val, "yes"))))
            readonly = true;
        else if (!strcmp(key, "bus") || !strcmp(key, "cache") || !strcmp(key, "device"))
            continue;                              /* virtio is the only bus; cache is vmm run's */
        else {
            errorf(err, errlen, "--disk option '%s' is not understood: use path=FILE[,size=GB][,format=qcow2|raw][,target=vdX][,readonly=on]", key);
            return -EINVAL;
        }
    }
    if (format && strcmp(format, "raw") && strcmp(format, "qcow2")) {
        errorf(err, errlen, "--disk format=%s is not supported: use qcow2 or raw", format);
        return -EINVAL;
    }
    if (d->ndisks >= VMDEF_MAX_DISKS) {
        errorf(err, errlen, "at most %d disks", VMDEF_MAX_DISKS);
        return -E2BIG;
    }
    struct vmdef_disk *k = &d->disks[d->ndisks];
    memset(k, 0, sizeof(*k));
    if (target) {
        if (strlen(target) != 3 || strncmp(target, "vd", 2) || target[2] < 'a' || target[2] > 'z') {
            errorf(err, errlen, "--disk target=%s is not a virtio disk name (vda..vdz)", target);
            return -EINVAL;
        }
        for (int i = 0; i < d->ndisks; i++)
            if (!strcmp(d->disks[i].target, target)) {
                errorf(err, errlen, "target %s is already used by %s", target, d->disks[i].path);
                return -EEXIST;
            }
        snprintf(k->target, sizeof(k->target), "%s", target);
    } else {
        vmdef_next_target(d, k->target);
    }
    k->readonly = readonly;
    if (!size) {
        if (!path) {
            errorf(err, errlen, "--disk needs path=FILE, size=GB or both");
            return -EINVAL;
        }
        int rc = existing_file("disk", path, k->path, sizeof(k->path), err, errlen);
        if (rc)
            return rc;
        if (format)
            snprintf(k->format, sizeof(k->format), "%s", format);
        d->ndisks++;
        return 0;
    }
    struct image_create_opts o = { 0 };
    const char *fmt = format_for(path, format);
    int rc = parse_gib(size, &o.size) ? -EINVAL : 0;
    if (rc) {
        errorf(err, errlen, "--disk size=%s is not a size in GiB (e.g. size=10, size=0.5 or size=512M)", size);
        return rc;
    }
    if ((rc = new_image_path(d, path, k->target, fmt, k->path, sizeof(k->path), err, errlen)))
        return rc;
    if (access(k->path, F_OK) == 0) {
        errorf(err, errlen, "disk %s already exists: drop size= to use it as it is, or choose another path", k->path);
        return -EEXIST;
    }
    image_parse_format(fmt, &o.format);
    if ((rc = image_create(k->path, &o, err, errlen)))
        return rc;
    snprintf(made->paths[made->n++], VMDEF_PATH, "%s", k->path);
    snprintf(k->format, sizeof(k->format), "%s", fmt);
    d->ndisks++;
    return 0;
}

int nic_add(struct vmdef *d, char *spec, char *err, size_t errlen)
{
    char *key, *val, *cur = spec;
    if (d->nnics >= VMDEF_MAX_NICS) {
        errorf(err, errlen, "at most %d NICs", VMDEF_MAX_NICS);
        return -E2BIG;
    }
    struct vmdef_nic *n = &d->nics[d->nnics];
    memset(n, 0, sizeof(*n));
    while (kv_next(&cur, &key, &val)) {
        if (!strcmp(key, "user") && !val) {
            snprintf(n->type, sizeof(n->type), "user");
        } else if ((!strcmp(key, "bridge") || !strcmp(key, "network") || !strcmp(key, "tap")) && val && *val) {
            snprintf(n->type, sizeof(n->type), "%s", key);
            if (strlen(val) >= sizeof(n->source) || (strcmp(key, "network") ? strlen(val) > 15 : !name_valid(val))) {
                errorf(err, errlen, "--network %s=%s: not a valid name", key, val);
                return -EINVAL;
            }
            snprintf(n->source, sizeof(n->source), "%s", val);
        } else if (!strcmp(key, "mac") && val) {
            if (!vmdef_mac_valid(val)) {
                errorf(err, errlen, "--network mac=%s is not a unicast MAC address like 52:54:00:12:34:56", val);
                return -EINVAL;
            }
            snprintf(n->mac, sizeof(n->mac), "%s", val);
        } else if (!strcmp(key, "model")) {
            continue;                              /* always virtio */
        } else {
            errorf(err, errlen, "--network '%s' is not understood: use user, bridge=BR, network=NAME or tap=NAME, with [,mac=M]", key);
            return -EINVAL;
        }
    }
    if (!n->type[0]) {
        errorf(err, errlen, "--network needs user, bridge=BR, network=NAME or tap=NAME");
        return -EINVAL;
    }
    if (!strcmp(n->type, "network")) {
        char bridge[64];
        int rc = network_bridge(n->source, bridge, sizeof(bridge), err, errlen);
        if (rc)
            return rc;
    }
    if (!n->mac[0])
        vmdef_new_mac(n->mac);
    d->nnics++;
    return 0;
}

static int parse_graphics(struct vmdef *d, char *spec, char *err, size_t errlen)
{
    char *key, *val, *cur = spec;
    while (kv_next(&cur, &key, &val)) {
        if (!strcmp(key, "none") && !val) {
            d->vnc = false;
        } else if (!strcmp(key, "vnc") && !val) {
            d->vnc = true;
        } else if (!strcmp(key, "listen") && val && strlen(val) < sizeof(d->vnc_listen)) {
            snprintf(d->vnc_listen, sizeof(d->vnc_listen), "%s", val);
        } else if (!strcmp(key, "port") && val) {
            char *end;
            long port = strtol(val, &end, 10);
            if (*end || (port != -1 && (port < 5900 || port > 65535))) {
                errorf(err, errlen, "--graphics port=%s: use a TCP port from 5900, or -1 for the first free one", val);
                return -EINVAL;
            }
            d->vnc_port = (int)port;
        } else if (!strcmp(key, "password") && val && strlen(val) < sizeof(d->vnc_password) && !strchr(val, ',')) {
            snprintf(d->vnc_password, sizeof(d->vnc_password), "%s", val);
        } else {
            errorf(err, errlen, "--graphics '%s' is not understood: use vnc[,listen=ADDR][,port=N][,password=P] or none", key);
            return -EINVAL;
        }
    }
    return 0;
}

static int parse_boot(struct vmdef *d, char *spec, char *err, size_t errlen)
{
    char *key, *val, *cur = spec;
    while (kv_next(&cur, &key, &val)) {
        char *dst = NULL;
        const char *what = key;
        size_t len = VMDEF_PATH;
        if (!val && (!strcmp(key, "cdrom") || !strcmp(key, "hd") || !strcmp(key, "disk"))) {
            snprintf(d->boot, sizeof(d->boot), "%s", strcmp(key, "cdrom") ? "hd" : "cdrom");
            continue;
        }
        if (!val || !*val) {
            errorf(err, errlen, "--boot '%s' is not understood: use cdrom, hd, kernel=PATH[,initrd=PATH][,kernel_args=\"...\"] or loader=FILE", key);
            return -EINVAL;
        }
        if (!strcmp(key, "kernel_args") || !strcmp(key, "cmdline")) {
            if (strlen(val) >= len) {
                errorf(err, errlen, "--boot kernel_args is too long");
                return -EINVAL;
            }
            snprintf(d->cmdline, sizeof(d->cmdline), "%s", val);
            continue;
        }
        if (!strcmp(key, "kernel"))
            dst = d->kernel;
        else if (!strcmp(key, "initrd"))
            dst = d->initrd;
        else if (!strcmp(key, "loader"))
            dst = d->loader;
        if (!dst) {
            errorf(err, errlen, "--boot '%s' is not understood: use cdrom, hd, kernel=, initrd=, kernel_args= or loader=", key);
            return -EINVAL;
        }
        int rc = existing_file(what, val, dst, len, err, errlen);
        if (rc)
            return rc;
    }
    if (d->initrd[0] && !d->kernel[0]) {
        errorf(err, errlen, "--boot initrd= needs kernel=");
        return -EINVAL;
    }
    return 0;
}

static int parse_memory(struct vmdef *d, const char *s, char *err, size_t errlen)
{
    char *end;
    unsigned long long mib = strtoull(s, &end, 10);
    if (end != s && (*end == 'G' || *end == 'g') && !end[1])
        mib <<= 10;
    else if (end != s && (*end == 'M' || *end == 'm') && !end[1])
        ;
    else if (end == s || *end)
        mib = 0;
    if (mib < 16 || mib > (1ULL << 20)) {
        errorf(err, errlen, "--memory %s is not a size in MiB from 16 (e.g. --memory 2048 or 2G)", s);
        return -EINVAL;
    }
    d->memory_mib = mib;
    return 0;
}

static int parse_vcpus(struct vmdef *d, const char *s, char *err, size_t errlen)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (end == s || (*end && *end != ',') || n < 1 || n > 255) {
        errorf(err, errlen, "--vcpus %s is not a number of vCPUs from 1 to 255", s);
        return -EINVAL;
    }
    d->vcpus = (int)n;
    return 0;
}

enum { O_NAME = 300, O_MEMORY, O_VCPUS, O_CDROM, O_DISK, O_NETWORK, O_GRAPHICS, O_BOOT, O_NOAUTOCONSOLE,
       O_IGNORED, O_HELP };

static const struct option create_options[] = {
    { "name", required_argument, NULL, O_NAME },
    { "memory", required_argument, NULL, O_MEMORY },
    { "ram", required_argument, NULL, O_MEMORY },
    { "vcpus", required_argument, NULL, O_VCPUS },
    { "cdrom", required_argument, NULL, O_CDROM },
    { "disk", required_argument, NULL, O_DISK },
    { "network", required_argument, NULL, O_NETWORK },
    { "graphics", required_argument, NULL, O_GRAPHICS },
    { "boot", required_argument, NULL, O_BOOT },
    { "noautoconsole", no_argument, NULL, O_NOAUTOCONSOLE },
    { "os-variant", required_argument, NULL, O_IGNORED },
    { "osinfo", required_argument, NULL, O_IGNORED },
    { "import", no_argument, NULL, O_IGNORED },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 },
};

static void create_usage(void)
{
    printf("usage: vmm create NAME [options]   define a VM and start it (vmm define: only define it)\n"
           "  --memory MiB               RAM (default 512; 2G also works)\n"
           "  --vcpus N                  vCPUs (default 1)\n"
           "  --cdrom ISO                installer or live CD\n"
           "  --disk path=FILE[,size=GB][,format=qcow2|raw][,target=vdX][,readonly=on]\n"
           "                             an existing image, or a new one with size= (without path=:\n"
           "                             $STATE/images/NAME-vdX.qcow2); repeatable\n"
           "  --network user|bridge=BR|network=NAME|tap=NAME[,mac=M]   a virtio NIC; repeatable\n"
           "  --graphics vnc[,listen=ADDR][,port=N][,password=P]|none   (default vnc on 127.0.0.1, first free port)\n"
           "  --boot cdrom|hd | kernel=PATH[,initrd=PATH][,kernel_args=\"...\"] | loader=FILE\n"
           "  --noautoconsole            do not attach to the serial console after starting\n");
}

struct create_request {
    struct vmdef *def;
    struct created made;
    bool autoconsole;
    char err[1024];
};

static int parse_create(int argc, char **argv, struct create_request *r)
{
    const char *name = NULL;
    int opt, rc = 0;
    optind = 1;
    opterr = 0;
    if (argc > 1 && argv[1][0] != '-')
        name = argv[1], optind = 2;
    /* The name first, so generated image names can use it. */
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--name"))
            name = argv[i + 1];
        else if (!strncmp(argv[i], "--name=", 7))
            name = argv[i] + 7;
    if (argc > 1 && !strncmp(argv[argc - 1], "--name=", 7))
        name = argv[argc - 1] + 7;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            return create_usage(), 1;
    if (!name) {
        errorf(r->err, sizeof(r->err), "a VM name is needed: vmm create NAME [options] (see vmm create --help)");
        return -EINVAL;
    }
    if (!name_valid(name)) {
        errorf(r->err, sizeof(r->err), "'%s' is not a valid VM name: use 1-32 letters, digits, '_', '.' or '-'", name);
        return -EINVAL;
    }
    if (vmdef_exists(name)) {
        errorf(r->err, sizeof(r->err), "a VM named '%s' already exists (choose another name, or vmm undefine %s)", name, name);
        return -EEXIST;
    }
    vmdef_init(r->def, name);
    while (rc == 0 && (opt = getopt_long(argc, argv, ":", create_options, NULL)) != -1) {
        switch (opt) {
        case O_NAME: break;
        case O_MEMORY: rc = parse_memory(r->def, optarg, r->err, sizeof(r->err)); break;
        case O_VCPUS: rc = parse_vcpus(r->def, optarg, r->err, sizeof(r->err)); break;
        case O_CDROM: rc = existing_file("cdrom", optarg, r->def->cdrom, sizeof(r->def->cdrom), r->err, sizeof(r->err)); break;
        case O_DISK: rc = strcmp(optarg, "none") ? disk_add(r->def, optarg, &r->made, r->err, sizeof(r->err)) : 0; break;
        case O_NETWORK: rc = strcmp(optarg, "none") ? nic_add(r->def, optarg, r->err, sizeof(r->err)) : 0; break;
        case O_GRAPHICS: rc = parse_graphics(r->def, optarg, r->err, sizeof(r->err)); break;
        case O_BOOT: rc = parse_boot(r->def, optarg, r->err, sizeof(r->err)); break;
        case O_NOAUTOCONSOLE: r->autoconsole = false; break;
        case O_IGNORED: break;
        case ':':
            errorf(r->err, sizeof(r->err), "option %s needs a value (see vmm create --help)", argv[optind - 1]);
            rc = -EINVAL;
            break;
        default:
            errorf(r->err, sizeof(r->err), "unknown option '%s' (see vmm create --help)", argv[optind - 1]);
            rc = -EINVAL;
        }
    }
    if (rc == 0 && optind < argc) {
        errorf(r->err, sizeof(r->err), "unexpected argument '%s' (see vmm create --help)", argv[optind]);
        rc = -EINVAL;
    }
    return rc;
}

int cmd_create(int argc, char **argv, bool start)
{
    static struct create_request r;
    static struct vmdef def;
    memset(&r, 0, sizeof(r));
    r.def = &def;
    r.autoconsole = true;
    int rc = parse_create(argc, argv, &r);
    if (rc > 0)
        return 0;
    if (save_or_undo(&def, rc, &r.made, r.err, sizeof(r.err)))
        return 1;
    if (!start) {
        printf("VM '%s' defined (%s)\n", def.name, def.uuid);
        return 0;
    }
    if (runtime_start(&def, r.err, sizeof(r.err))) {
        char ignore[256];
        vmdef_remove(def.name, ignore, sizeof(ignore));
        undo_created(&r.made);
        log_error("VM '%s' did not start, nothing was kept: %s", def.name, r.err);
        return 1;
    }
    printf("VM '%s' started (%s)\n", def.name, def.uuid);
    fflush(stdout);
    return r.autoconsole ? console_attach_vm(def.name) : 0;
}
