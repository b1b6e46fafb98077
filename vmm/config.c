/* The VM configuration: what to run and how, validated before any VM is built. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_defaults(struct vm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->name = "vmm";
    c->memory = CONFIG_DEFAULT_MEMORY;
    c->cpus = 1;
    c->cpu.base = CPU_MODEL_HOST;
    c->serial = CONSOLE_STDIO;
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
    } else {
        snprintf(err, errlen, "--serial '%s' is not understood: use stdio, file:PATH, pty or none", s);
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
        if (strcmp(val, "raw")) {
            snprintf(err, errlen, "--disk format=%s is not supported: use format=raw", val);
            return -EINVAL;
        }
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
    } else {
        snprintf(err, errlen, "--disk option '%s' is unknown: use readonly=, format=, cache= or serial=", key);
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

int config_validate(const struct vm_config *c, char *err, size_t errlen)
{
    if ((c->initrd || c->append) && !c->kernel) {
        snprintf(err, errlen, "--initrd and --append need --kernel: name the kernel to boot");
        return -EINVAL;
    }
    if (c->kernel && c->firmware) {
        snprintf(err, errlen, "--kernel and --firmware exclude each other: boot a kernel directly or a firmware image");
        return -EINVAL;
    }
    if (!c->kernel && !c->firmware) {
        snprintf(err, errlen, "nothing to boot: give --kernel FILE or --firmware FILE (see vmm run --help)");
        return -EINVAL;
    }
    return 0;
}
