/* The VM configuration: what to run and how, validated before any VM is built. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void config_defaults(struct vm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->name = "vmm";
    c->memory = CONFIG_DEFAULT_MEMORY;
    c->cpus = 1;
    c->cpu.base = CPU_MODEL_HOST;
    c->serial = CONSOLE_STDIO;
    c->shutdown_timeout = 30;
    const char *dev = getenv("VMM_KVM_DEVICE");
    c->kvm_device = (dev && *dev) ? dev : "/dev/kvm";
}

int config_parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -ERANGE;
    uint64_t unit = default_unit;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'B': unit = 1; break;
        case 'K': unit = 1ULL << 10; break;
        case 'M': unit = 1ULL << 20; break;
        case 'G': unit = 1ULL << 30; break;
        case 'T': unit = 1ULL << 40; break;
        default: return -EINVAL;
        }
        end++;
        if (unit != 1 && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
            end += strlen(end);
        if (*end)
            return -EINVAL;
    }
    if (v > UINT64_MAX / unit)
        return -ERANGE;
    *out = v * unit;
    return 0;
}

int config_parse_memory(struct vm_config *c, const char *s, char *err, size_t errlen)
{
    uint64_t v;
    if (config_parse_size(s, 1ULL << 20, &v)) {
        snprintf(err, errlen, "--memory '%s' is not a size: write e.g. 512M or 2G (a plain number means MiB)", s);
        return -EINVAL;
    }
    if (v < CONFIG_MIN_MEMORY || v > CONFIG_MAX_MEMORY) {
        snprintf(err, errlen, "--memory %s is out of range: give between 16M and 1T", s);
        return -ERANGE;
    }
    c->memory = v & ~0xfffULL;
    return 0;
}

int config_parse_cpus(struct vm_config *c, const char *s, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < 1 || n > CONFIG_MAX_CPUS) {
        snprintf(err, errlen, "--cpus '%s' is not a vCPU count: give a number from 1 to %d", s, CONFIG_MAX_CPUS);
        return -EINVAL;
    }
    c->cpus = (int)n;
    return 0;
}

int config_parse_serial(struct vm_config *c, const char *s, char *err, size_t errlen)
{
    if (!strcmp(s, "stdio"))
        c->serial = CONSOLE_STDIO;
    else if (!strcmp(s, "pty"))
        c->serial = CONSOLE_PTY;
    else if (!strcmp(s, "none") || !strcmp(s, "null"))
        c->serial = CONSOLE_NONE;
    else if (!strncmp(s, "file:", 5) && s[5]) {
        c->serial = CONSOLE_FILE;
        c->serial_path = s + 5;
    } else if (!strncmp(s, "socket:", 7) && s[7] && s[7] != ',') {
        /* socket:PATH[,log=FILE]: the socket `vmm console` attaches to, and a copy of the output. */
        c->serial = CONSOLE_SOCKET;
        snprintf(c->serial_socket, sizeof(c->serial_socket), "%s", s + 7);
        char *comma = strchr(c->serial_socket, ',');
        if (comma) {
            *comma = 0;
            if (strncmp(comma + 1, "log=", 4) || !comma[5]) {
                snprintf(err, errlen, "--serial '%s': after socket:PATH only log=FILE is understood", s);
                return -EINVAL;
            }
            c->serial_log = comma + 5;
        }
        c->serial_path = c->serial_socket;
    } else {
        snprintf(err, errlen, "--serial '%s' is not understood: use stdio, file:PATH, pty, socket:PATH[,log=FILE] or none", s);
        return -EINVAL;
    }
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int disk_option(struct disk_config *d, const char *key, const char *val, char *err, size_t errlen)
{
    if (!strcmp(key, "file")) {
        d->path = val;
    } else if (!strcmp(key, "readonly")) {
        if (parse_bool(val, &d->readonly)) {
            snprintf(err, errlen, "--disk readonly=%s: use readonly=on or readonly=off", val);
            return -EINVAL;
        }
    } else if (!strcmp(key, "format")) {
        if (strcmp(val, "raw") && strcmp(val, "qcow2")) {
            snprintf(err, errlen, "--disk format=%s is not supported: use format=raw or format=qcow2", val);
            return -EINVAL;
        }
        d->format = val;
    } else if (!strcmp(key, "cache")) {
        if (!strcmp(val, "none"))
            d->cache = BLK_CACHE_NONE;
        else if (!strcmp(val, "writeback"))
            d->cache = BLK_CACHE_WRITEBACK;
        else {
            snprintf(err, errlen, "--disk cache=%s: use cache=none or cache=writeback", val);
            return -EINVAL;
        }
    } else if (!strcmp(key, "serial")) {
        if (strlen(val) > 20) {
            snprintf(err, errlen, "--disk serial=%s is longer than 20 characters", val);
            return -EINVAL;
        }
        snprintf(d->serial, sizeof(d->serial), "%s", val);
    } else if (!strcmp(key, "queues")) {
        char *end;
        long n = strtol(val, &end, 10);
        if (!*val || *end || n < 1 || n > CONFIG_MAX_DISK_QUEUES) {
            snprintf(err, errlen, "--disk queues=%s: give a number of request queues from 1 to %d", val,
                     CONFIG_MAX_DISK_QUEUES);
            return -EINVAL;
        }
        d->queues = (int)n;
    } else {
        snprintf(err, errlen, "--disk option '%s' is unknown: use readonly=, format=, cache=, serial= or queues=", key);
        return -EINVAL;
    }
    return 0;
}

int config_parse_disk(struct vm_config *c, char *s, char *err, size_t errlen)
{
    if (c->ndisks == CONFIG_MAX_DISKS) {
        snprintf(err, errlen, "too many --disk options (at most %d)", CONFIG_MAX_DISKS);
        return -E2BIG;
    }
    struct disk_config *d = &c->disks[c->ndisks];
    memset(d, 0, sizeof(*d));
    d->cache = BLK_CACHE_WRITEBACK;
    char *save = NULL;
    int i = 0;
    for (char *item = strtok_r(s, ",", &save); item; item = strtok_r(NULL, ",", &save), i++) {
        char *eq = strchr(item, '=');
        if (!eq && i == 0) {
            d->path = item;
            continue;
        }
        if (!eq) {
            snprintf(err, errlen, "--disk option '%s' needs a value (KEY=VALUE)", item);
            return -EINVAL;
        }
        *eq = 0;
        int rc = disk_option(d, item, eq + 1, err, errlen);
        if (rc)
            return rc;
    }
    if (!d->path || !*d->path) {
        snprintf(err, errlen, "--disk needs an image file: --disk FILE[,readonly=on]");
        return -EINVAL;
    }
    if (!d->serial[0])
        snprintf(d->serial, sizeof(d->serial), "vmm-disk%d", c->ndisks);
    c->ndisks++;
    return 0;
}

/* Only a trailing ",bus=..." is an option, so ISO paths with commas keep working. */
int config_parse_cdrom(struct vm_config *c, char *s, char *err, size_t errlen)
{
    c->cdrom_bus = CDROM_BUS_SCSI;
    char *comma = strrchr(s, ',');
    if (comma && !strncmp(comma + 1, "bus=", 4)) {
        const char *bus = comma + 5;
        if (!strcmp(bus, "ide"))
            c->cdrom_bus = CDROM_BUS_IDE;
        else if (strcmp(bus, "scsi")) {
            snprintf(err, errlen, "--cdrom bus=%s is not supported: use bus=scsi (virtio-scsi) or bus=ide", bus);
            return -EINVAL;
        }
        *comma = 0;
    }
    if (!*s) {
        snprintf(err, errlen, "--cdrom needs an ISO file: --cdrom FILE[,bus=scsi|ide]");
        return -EINVAL;
    }
    c->cdrom = s;
    return 0;
}

static int parse_mac(const char *v, uint8_t mac[6])
{
    unsigned b[6];
    char tail;
    if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return (mac[0] & 1) ? -EINVAL : 0;   /* a multicast address cannot be a NIC's */
}

static int nic_option(struct nic_config *n, const char *key, const char *val, char *err, size_t errlen)
{
    if (!strcmp(key, "mac")) {
        if (parse_mac(val, n->mac)) {
            snprintf(err, errlen, "--network mac=%s is not a unicast MAC address: write e.g. 52:54:00:12:34:56", val);
            return -EINVAL;
        }
        n->mac_set = true;
    } else if (!strcmp(key, "bootfile") && n->kind == NIC_USER) {
        if (strlen(val) >= sizeof(n->bootfile)) {
            snprintf(err, errlen, "--network bootfile= is longer than %zu characters", sizeof(n->bootfile) - 1);
            return -EINVAL;
        }
        snprintf(n->bootfile, sizeof(n->bootfile), "%s", val);
    } else if (!strcmp(key, "hostfwd") && n->kind == NIC_USER) {
        size_t used = strlen(n->hostfwd);
        if (used + strlen(val) + 2 > sizeof(n->hostfwd)) {
            snprintf(err, errlen, "--network: too many hostfwd rules");
            return -E2BIG;
        }
        snprintf(n->hostfwd + used, sizeof(n->hostfwd) - used, "%s%s", used ? "," : "", val);
    } else {
        snprintf(err, errlen, "--network option '%s' is unknown here: use mac=%s", key,
                 n->kind == NIC_USER ? ", hostfwd=tcp:127.0.0.1:PORT-:GUESTPORT or bootfile=URL" : "");
        return -EINVAL;
    }
    return 0;
}

int config_parse_network(struct vm_config *c, char *s, char *err, size_t errlen)
{
    if (!strcmp(s, "none"))
        return 0;
    if (c->nnics == CONFIG_MAX_NICS) {
        snprintf(err, errlen, "too many --network options (at most %d)", CONFIG_MAX_NICS);
        return -E2BIG;
    }
    struct nic_config *n = &c->nics[c->nnics];
    memset(n, 0, sizeof(*n));
    char *save = NULL;
    char *first = strtok_r(s, ",", &save);
    if (first && !strcmp(first, "user")) {
        n->kind = NIC_USER;
    } else if (first && !strncmp(first, "tap=", 4) && first[4]) {
        n->kind = NIC_TAP;
        n->tap = first + 4;
    } else if (first && !strncmp(first, "bridge=", 7) && first[7]) {
        n->kind = NIC_BRIDGE;
        if (strlen(first + 7) >= sizeof(n->bridge)) {
            snprintf(err, errlen, "--network bridge=%s: a bridge name has at most %zu characters", first + 7,
                     sizeof(n->bridge) - 1);
            return -EINVAL;
        }
        snprintf(n->bridge, sizeof(n->bridge), "%s", first + 7);
    } else {
        snprintf(err, errlen, "--network '%s' is not understood: use user, tap=NAME, bridge=BR or none",
                 first ? first : "");
        return -EINVAL;
    }
    for (char *item = strtok_r(NULL, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(err, errlen, "--network option '%s' needs a value (KEY=VALUE)", item);
            return -EINVAL;
        }
        *eq = 0;
        int rc = nic_option(n, item, eq + 1, err, errlen);
        if (rc)
            return rc;
    }
    c->nnics++;
    return 0;
}

int config_parse_vnc(struct vm_config *c, char *s, char *err, size_t errlen)
{
    struct vnc_config *v = &c->vnc;
    char *save = NULL;
    char *addr = strtok_r(s, ",", &save);
    char *colon = addr ? strrchr(addr, ':') : NULL;
    char *end = NULL;
    long display = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon && !strcmp(colon + 1, "auto")) {
        display = -1;   /* the first free display from :0 up */
        end = colon + 5;
    }
    if (!colon || end == colon + 1 || *end || display < -1 || display > 59635 ||
        (size_t)(colon - addr) >= sizeof(v->listen)) {
        snprintf(err, errlen, "--vnc '%s' is not understood: write [ADDRESS]:DISPLAY, e.g. :0, 127.0.0.1:1 or 127.0.0.1:auto", addr ? addr : "");
        return -EINVAL;
    }
    snprintf(v->listen, sizeof(v->listen), "%.*s", (int)(colon - addr), addr);
    if (!v->listen[0])
        snprintf(v->listen, sizeof(v->listen), "127.0.0.1");
    v->display = (int)display;
    v->enabled = true;
    for (char *item = strtok_r(NULL, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (!strncmp(item, "password=", 9) && item[9]) {
            v->password = item + 9;
        } else if (!strncmp(item, "password-file=", 14) && item[14]) {
            /* Keeps the secret out of the command line, which other users can read in /proc. */
            FILE *f = fopen(item + 14, "r");
            size_t n = f ? fread(v->password_buf, 1, sizeof(v->password_buf) - 1, f) : 0;
            if (f)
                fclose(f);
            while (n && (v->password_buf[n - 1] == '\n' || v->password_buf[n - 1] == '\r'))
                n--;
            v->password_buf[n] = 0;
            if (!n) {
                snprintf(err, errlen, "--vnc password-file=%s: %s", item + 14, f ? "the file is empty" : strerror(errno));
                return -EINVAL;
            }
            v->password = v->password_buf;
        } else {
            snprintf(err, errlen, "--vnc option '%s' is unknown: use password=SECRET or password-file=FILE", item);
            return -EINVAL;
        }
    }
    return 0;
}

int config_parse_uuid(struct vm_config *c, const char *s, char *err, size_t errlen)
{
    static const int dashes[] = { 8, 13, 18, 23 };
    bool ok = strlen(s) == 36;
    for (int i = 0, d = 0, n = 0; ok && i < 36; i++) {
        if (d < 4 && i == dashes[d]) {
            ok = s[i] == '-';
            d++;
            continue;
        }
        int v = isdigit((unsigned char)s[i]) ? s[i] - '0' : isxdigit((unsigned char)s[i]) ? (tolower((unsigned char)s[i]) - 'a' + 10) : -1;
        ok = v >= 0;
        if (ok) {
            c->uuid_bytes[n / 2] = (uint8_t)(n % 2 ? (c->uuid_bytes[n / 2] | v) : (v << 4));
            n++;
        }
    }
    if (!ok) {
        snprintf(err, errlen, "--uuid '%s' is not a UUID (8-4-4-4-12 hex digits, e.g. from uuidgen)", s);
        return -EINVAL;
    }
    c->uuid = s;
    return 0;
}

int config_parse_boot(struct vm_config *c, const char *s, char *err, size_t errlen)
{
    if (!strcmp(s, "cdrom") || !strcmp(s, "d"))
        c->boot = BOOT_CDROM;
    else if (!strcmp(s, "disk") || !strcmp(s, "hd") || !strcmp(s, "c"))
        c->boot = BOOT_DISK;
    else {
        snprintf(err, errlen, "--boot '%s' is not understood: use cdrom or disk", s);
        return -EINVAL;
    }
    return 0;
}

void config_default_mac(const char *name, int index, uint8_t mac[6])
{
    /* FNV-1a over the name and the NIC index: the same VM gets the same MACs every run. */
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ (uint32_t)index) * 16777619u;
    mac[0] = 0x52; mac[1] = 0x54; mac[2] = 0x00;
    mac[3] = (uint8_t)(h >> 16); mac[4] = (uint8_t)(h >> 8); mac[5] = (uint8_t)h;
}

int config_validate(struct vm_config *c, char *err, size_t errlen)
{
    /* Nothing given: boot the PC firmware, as QEMU does. */
    if (!c->kernel && !c->firmware) {
        c->firmware = CONFIG_DEFAULT_FIRMWARE;
        if (access(c->firmware, R_OK) != 0) {
            snprintf(err, errlen, "no firmware at %s: install Debian's seabios package, or give --kernel FILE "
                     "or --firmware FILE", c->firmware);
            return -ENOENT;
        }
    }
    if ((c->initrd || c->append) && !c->kernel) {
        snprintf(err, errlen, "--initrd and --append need --kernel: name the kernel to boot");
        return -EINVAL;
    }
    /* A CD with a directly booted kernel is just a drive (as with QEMU's -kernel -cdrom); a boot order
     * only means something to firmware. */
    if (c->kernel && c->boot != BOOT_DEFAULT) {
        snprintf(err, errlen, "--boot needs the firmware, not --kernel: drop --kernel to boot through SeaBIOS");
        return -EINVAL;
    }
    if (c->kernel && c->firmware) {
        snprintf(err, errlen, "--kernel and --firmware exclude each other: boot a kernel directly or a firmware image");
        return -EINVAL;
    }
    return 0;
}
