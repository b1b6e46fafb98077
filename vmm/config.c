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
