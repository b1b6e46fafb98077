/* VM definitions: one human-readable JSON file per VM under the state directory's vms/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/vmdef.h"

static void random_bytes(uint8_t *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, len) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)len) /* no urandom: still unique enough per host and moment */
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(rand() ^ getpid() ^ (int)i);
}

void vmdef_new_uuid(char out[37])
{
    uint8_t b[16];
    random_bytes(b, sizeof(b));
    b[6] = (b[6] & 0x0f) | 0x40; /* RFC 4122 §4.4: version 4, variant 10 */
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void vmdef_new_mac(char out[18])
{
    uint8_t b[3];
    random_bytes(b, sizeof(b));
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

bool vmdef_mac_valid(const char *mac)
{
    unsigned v[6];
    char tail;
    if (strlen(mac) != 17 || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (mac[i * 3 + 2] != (i < 5 ? ':' : 0))
            return false;
    return (v[0] & 1) == 0; /* a multicast address cannot be a NIC's own */
}

void vmdef_next_target(const struct vmdef *d, char out[8])
{
    for (char c = 'a'; c <= 'z'; c++) {
        char t[8];
        snprintf(t, sizeof(t), "vd%c", c);
        bool used = false;
        for (int i = 0; i < d->ndisks; i++)
            used |= !strcmp(d->disks[i].target, t);
        if (!used) {
            memcpy(out, t, sizeof(t));
            return;
        }
    }
    out[0] = 0;
}

void vmdef_init(struct vmdef *d, const char *name)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    vmdef_new_uuid(d->uuid);
    d->memory_mib = 512;
    d->vcpus = 1;
    d->vnc = true;
    snprintf(d->vnc_listen, sizeof(d->vnc_listen), "127.0.0.1");
    d->vnc_port = -1;
}

int vmdef_path(const char *name, char *buf, size_t len, char *err, size_t errlen)
{
    if (!name_valid(name)) {
        errorf(err, errlen, "'%s' is not a valid VM name: use 1-32 letters, digits, '_', '.' or '-'", name);
        return -EINVAL;
    }
    return home_path(buf, len, err, errlen, "vms/%s.json", name);
}

bool vmdef_exists(const char *name)
{
    char path[4200], err[256];
    return vmdef_path(name, path, sizeof(path), err, sizeof(err)) == 0 && access(path, F_OK) == 0;
}

/* ---- JSON <-> struct ---- */

static void put_str(struct json_object *o, const char *key, const char *v)
{
    if (v && v[0])
        json_object_object_add(o, key, json_object_new_string(v));
}

static struct json_object *disks_to_json(const struct vmdef *d)
{
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < d->ndisks; i++) {
        struct json_object *o = json_object_new_object();
        put_str(o, "target", d->disks[i].target);
        put_str(o, "path", d->disks[i].path);
        put_str(o, "format", d->disks[i].format);
        put_str(o, "backing", d->disks[i].backing);
        json_object_object_add(o, "readonly", json_object_new_boolean(d->disks[i].readonly));
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *nics_to_json(const struct vmdef *d)
{
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < d->nnics; i++) {
        struct json_object *o = json_object_new_object();
        put_str(o, "type", d->nics[i].type);
        put_str(o, "source", d->nics[i].source);
        put_str(o, "mac", d->nics[i].mac);
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *to_json(const struct vmdef *d)
{
    struct json_object *o = json_object_new_object();
    put_str(o, "name", d->name);
    put_str(o, "uuid", d->uuid);
    json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)d->memory_mib));
    json_object_object_add(o, "vcpus", json_object_new_int(d->vcpus));
    struct json_object *boot = json_object_new_object();
    put_str(boot, "order", d->boot);
    put_str(boot, "kernel", d->kernel);
    put_str(boot, "initrd", d->initrd);
    put_str(boot, "kernel_args", d->cmdline);
    put_str(boot, "loader", d->loader);
    json_object_object_add(o, "boot", boot);
    json_object_object_add(o, "disks", disks_to_json(d));
    put_str(o, "cdrom", d->cdrom);
    json_object_object_add(o, "nics", nics_to_json(d));
    struct json_object *g = json_object_new_object();
    put_str(g, "type", d->vnc ? "vnc" : "none");
    if (d->vnc) {
        put_str(g, "listen", d->vnc_listen);
        json_object_object_add(g, "port", json_object_new_int(d->vnc_port));
        put_str(g, "password", d->vnc_password);
    }
    json_object_object_add(o, "graphics", g);
    json_object_object_add(o, "autostart", json_object_new_boolean(d->autostart));
    return o;
}

/* Copies string member `key` of `o` into buf; false when present but not a string or too long. */
static bool get_str(struct json_object *o, const char *key, char *buf, size_t len)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) >= len)
        return false;
    memcpy(buf, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    return true;
}

static bool get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_int))
        return false;
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max)
        return false;
    *out = x;
    return true;
}

static bool get_bool(struct json_object *o, const char *key, bool *out)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_boolean))
        return false;
    *out = json_object_get_boolean(v);
    return true;
}

static bool disks_from_json(struct json_object *a, struct vmdef *d)
{
    if (!a)
        return true;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > VMDEF_MAX_DISKS)
        return false;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *o = json_object_array_get_idx(a, i);
        struct vmdef_disk *k = &d->disks[d->ndisks++];
        if (!json_object_is_type(o, json_type_object) || !get_str(o, "path", k->path, sizeof(k->path)) ||
            !get_str(o, "format", k->format, sizeof(k->format)) || !get_str(o, "target", k->target, sizeof(k->target)) ||
            !get_str(o, "backing", k->backing, sizeof(k->backing)) ||
            !get_bool(o, "readonly", &k->readonly) || !k->path[0])
            return false;
    }
    return true;
}

static bool nics_from_json(struct json_object *a, struct vmdef *d)
{
    if (!a)
        return true;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > VMDEF_MAX_NICS)
        return false;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *o = json_object_array_get_idx(a, i);
        struct vmdef_nic *n = &d->nics[d->nnics++];
        if (!json_object_is_type(o, json_type_object) || !get_str(o, "type", n->type, sizeof(n->type)) ||
            !get_str(o, "source", n->source, sizeof(n->source)) || !get_str(o, "mac", n->mac, sizeof(n->mac)))
            return false;
    }
    return true;
}

static bool from_json(struct json_object *o, struct vmdef *d)
{
    struct json_object *boot = NULL, *g = NULL, *disks = NULL, *nics = NULL;
    int64_t mem = (int64_t)d->memory_mib, cpus = d->vcpus, port = d->vnc_port;
    char gtype[8] = "vnc";
    json_object_object_get_ex(o, "boot", &boot);
    json_object_object_get_ex(o, "graphics", &g);
    json_object_object_get_ex(o, "disks", &disks);
    json_object_object_get_ex(o, "nics", &nics);
    bool ok = get_str(o, "uuid", d->uuid, sizeof(d->uuid)) && get_int(o, "memory_mib", 16, 1 << 20, &mem) &&
              get_int(o, "vcpus", 1, 255, &cpus) && get_str(o, "cdrom", d->cdrom, sizeof(d->cdrom)) &&
              get_bool(o, "autostart", &d->autostart) && get_str(boot, "order", d->boot, sizeof(d->boot)) &&
              get_str(boot, "kernel", d->kernel, sizeof(d->kernel)) &&
              get_str(boot, "initrd", d->initrd, sizeof(d->initrd)) &&
              get_str(boot, "kernel_args", d->cmdline, sizeof(d->cmdline)) &&
              get_str(boot, "loader", d->loader, sizeof(d->loader)) && get_str(g, "type", gtype, sizeof(gtype)) &&
              get_str(g, "listen", d->vnc_listen, sizeof(d->vnc_listen)) &&
              get_str(g, "password", d->vnc_password, sizeof(d->vnc_password)) &&
              (!g || get_int(g, "port", -1, 65535, &port)) && disks_from_json(disks, d) && nics_from_json(nics, d);
    d->memory_mib = (uint64_t)mem;
    d->vcpus = (int)cpus;
    d->vnc_port = (int)port;
    d->vnc = !strcmp(gtype, "vnc");
    return ok;
}

int vmdef_load(const char *name, struct vmdef *d, char *err, size_t errlen)
{
    char path[4200];
    int rc = vmdef_path(name, path, sizeof(path), err, errlen);
    if (rc)
        return rc;
    if (access(path, F_OK)) {
        errorf(err, errlen, "no VM named '%s' (see vmm list --all)", name);
        return -ENOENT;
    }
    struct json_object *o = json_object_from_file(path);
    vmdef_init(d, name);
    if (!o || !json_object_is_type(o, json_type_object) || !from_json(o, d)) {
        errorf(err, errlen, "the definition %s is not valid: fix or remove it", path);
        json_object_put(o);
        return -EINVAL;
    }
    json_object_put(o);
    return 0;
}

int vmdef_save(const struct vmdef *d, char *err, size_t errlen)
{
    char path[4200];
    int rc = vmdef_path(d->name, path, sizeof(path), err, errlen);
    if (rc)
        return rc;
    struct json_object *o = to_json(d);
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *buf = malloc(len + 2);
    if (!buf) {
        json_object_put(o);
        return -ENOMEM;
    }
    memcpy(buf, text, len);
    buf[len] = '\n';
    rc = write_file_atomic(path, buf, len + 1, 0600, err, errlen);
    free(buf);
    json_object_put(o);
    return rc;
}

int vmdef_remove(const char *name, char *err, size_t errlen)
{
    char path[4200];
    int rc = vmdef_path(name, path, sizeof(path), err, errlen);
    if (rc)
        return rc;
    if (unlink(path) && errno != ENOENT) {
        errorf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

int vmdef_list(char names[][64], int max, char *err, size_t errlen)
{
    char dir[4200];
    int rc = home_path(dir, sizeof(dir), err, errlen, "vms");
    if (rc)
        return rc;
    DIR *dp = opendir(dir);
    if (!dp) {
        errorf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
        return -errno;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < max;) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || len - 5 >= 64 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        snprintf(names[n], 64, "%.*s", (int)(len - 5), e->d_name);
        if (name_valid(names[n]))
            n++;
    }
    closedir(dp);
    qsort(names, (size_t)n, 64, compare_names);
    return n;
}
