/* Private networks: vmm net-create, net-list, net-info, net-start, net-destroy; definitions in networks/NAME.json. */
#define _GNU_SOURCE
#include "vmm/manage/network.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/manage/home.h"
#include "vmm/manage/nethost.h"
#include "vmm/manage/runtime.h"
#include "vmm/manage/vmdef.h"

#define ERRLEN 2048
#define PATHLEN 1024
#define BRIDGE_PREFIX "vmmbr-"

static void usage(FILE *f)
{
    fputs("usage: vmm net-create NAME --subnet CIDR [--nat] [--dhcp]\n"
          "                              a Linux bridge " BRIDGE_PREFIX "NAME holding the subnet's first address;\n"
          "                              --nat masquerades the subnet to the host's other networks,\n"
          "                              --dhcp serves the rest of the subnet with dnsmasq (root)\n"
          "       vmm net-list            defined networks and whether their bridge exists\n"
          "       vmm net-info NAME\n"
          "       vmm net-start NAME      make a defined network's bridge again (e.g. after a reboot)\n"
          "       vmm net-destroy NAME    stop DHCP and NAT, delete the bridge and the definition\n"
          "VMs join with --network bridge=BRIDGE (vmm run) or --network network=NAME.\n", f);
}

/* ---- definitions ---- */

static int def_path(const char *name, char *buf, char *err)
{
    return home_path(buf, PATHLEN, err, ERRLEN, "networks/%s.json", name);
}

static int run_dir(const char *name, char *buf, char *err)
{
    return home_path(buf, PATHLEN, err, ERRLEN, "run/net-%s", name);
}

static void subnet_format(const struct net_def *d, char *buf, size_t len)
{
    char net[16];
    ip_format(d->subnet, net, sizeof(net));
    snprintf(buf, len, "%s/%d", net, d->prefix);
}

static json_object *def_to_json(const struct net_def *d)
{
    char subnet[32], ip[16];
    json_object *o = json_object_new_object();
    subnet_format(d, subnet, sizeof(subnet));
    json_object_object_add(o, "name", json_object_new_string(d->name));
    json_object_object_add(o, "bridge", json_object_new_string(d->bridge));
    json_object_object_add(o, "subnet", json_object_new_string(subnet));
    ip_format(netdef_gateway(d), ip, sizeof(ip));
    json_object_object_add(o, "gateway", json_object_new_string(ip));
    json_object_object_add(o, "nat", json_object_new_boolean(d->nat));
    json_object_object_add(o, "dhcp", json_object_new_boolean(d->dhcp));
    if (d->dhcp) {
        uint32_t first, last;
        json_object *r = json_object_new_object();
        netdef_dhcp_range(d, &first, &last);
        ip_format(first, ip, sizeof(ip));
        json_object_object_add(r, "start", json_object_new_string(ip));
        ip_format(last, ip, sizeof(ip));
        json_object_object_add(r, "end", json_object_new_string(ip));
        json_object_object_add(o, "dhcp_range", r);
    }
    return o;
}

static int def_save(const struct net_def *d, char *err)
{
    char path[PATHLEN];
    int rc = def_path(d->name, path, err);
    if (rc)
        return rc;
    json_object *o = def_to_json(d);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *data = NULL;
    if (asprintf(&data, "%s\n", text) < 0)
        data = NULL;
    json_object_put(o);
    if (!data) {
        snprintf(err, ERRLEN, "out of memory writing %s", path);
        return -ENOMEM;
    }
    rc = write_file_atomic(path, data, strlen(data), 0600, err, ERRLEN);
    free(data);
    return rc;
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

static int json_flag(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v);
}

static bool bridge_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < IFNAMSIZ && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Fills d from a parsed definition; every field is checked (the file may have been edited). */
static int def_from_json(json_object *o, const char *name, const char *path, struct net_def *d, char *err)
{
    const char *jname = json_str(o, "name"), *bridge = json_str(o, "bridge"), *subnet = json_str(o, "subnet");
    int nat = json_flag(o, "nat"), dhcp = json_flag(o, "dhcp");
    char why[ERRLEN];
    const char *bad = !jname || strcmp(jname, name) ? "name (must match the file name)"
                    : !bridge || !bridge_name_ok(bridge) ? "bridge (an interface name of 1-15 characters)"
                    : !subnet || netdef_parse_subnet(subnet, &d->subnet, &d->prefix, why, sizeof(why)) ? "subnet"
                    : nat < 0 ? "nat (true or false)"
                    : dhcp < 0 ? "dhcp (true or false)" : NULL;
    if (bad) {
        snprintf(err, ERRLEN, "network definition %s is damaged: bad or missing %s; fix the file or delete it", path,
                 bad);
        return -EINVAL;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->bridge, sizeof(d->bridge), "%s", bridge);
    d->nat = nat;
    d->dhcp = dhcp;
    return 0;
}

/* -ENOENT (with a message) when the network is not defined. */
static int def_load(const char *name, struct net_def *d, char *err)
{
    char path[PATHLEN];
    if (!name_valid(name)) {
        snprintf(err, ERRLEN, "'%s' is not a network name: 1-32 characters of A-Z a-z 0-9 _ . -, not starting with . or -",
                 name);
        return -EINVAL;
    }
    int rc = def_path(name, path, err);
    if (rc)
        return rc;
    if (access(path, F_OK) != 0) {
        snprintf(err, ERRLEN, "network %s is not defined (see vmm net-list; create it with vmm net-create %s --subnet CIDR)",
                 name, name);
        return -ENOENT;
    }
    json_object *o = json_object_from_file(path);
    if (!o) {
        snprintf(err, ERRLEN, "network definition %s cannot be read: %s", path, json_util_get_last_err());
        return -EINVAL;
    }
    rc = def_from_json(o, name, path, d, err);
    json_object_put(o);
    return rc;
}

static int def_compare(const void *a, const void *b)
{
    return strcmp(((const struct net_def *)a)->name, ((const struct net_def *)b)->name);
}

/* Every definition, sorted by name (*out is malloc'ed); a damaged one is an error. */
static int def_list(struct net_def **out, int *count, char *err)
{
    char dir_path[PATHLEN];
    *out = NULL;
    *count = 0;
    int rc = home_path(dir_path, sizeof(dir_path), err, ERRLEN, "networks");
    if (rc)
        return rc;
    DIR *dir = opendir(dir_path);
    if (!dir) {
        snprintf(err, ERRLEN, "cannot read %s: %s", dir_path, strerror(errno));
        return -errno;
    }
    struct dirent *e;
    while (!rc && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        char name[64];
        if (n <= 5 || n - 5 >= sizeof(name) || strcmp(e->d_name + n - 5, ".json"))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
        struct net_def *grown = realloc(*out, (size_t)(*count + 1) * sizeof(**out));
        if (!grown) {
            rc = -ENOMEM;
            snprintf(err, ERRLEN, "out of memory listing %s", dir_path);
            break;
        }
        *out = grown;
        rc = def_load(name, &grown[*count], err);
        if (!rc)
            (*count)++;
    }
    closedir(dir);
    if (rc) {
        free(*out);
        *out = NULL;
        *count = 0;
        return rc;
    }
    qsort(*out, (size_t)*count, sizeof(**out), def_compare);
    return 0;
}

/* ---- net-create ---- */

static bool bridge_taken(const char *bridge, const struct net_def *defs, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(defs[i].bridge, bridge))
            return true;
    return if_nametoindex(bridge) != 0;
}

/* "vmmbr-" + the name when it fits and is free, else "vmmbr-" + its first 7 characters + 2 digits. */
static int choose_bridge(struct net_def *d, const struct net_def *defs, int n, char *err)
{
    if (strlen(d->name) <= IFNAMSIZ - 1 - strlen(BRIDGE_PREFIX)) {
        snprintf(d->bridge, sizeof(d->bridge), BRIDGE_PREFIX "%.9s", d->name);
        if (!bridge_taken(d->bridge, defs, n))
            return 0;
    }
    for (int i = 0; i < 100; i++) {
        snprintf(d->bridge, sizeof(d->bridge), BRIDGE_PREFIX "%.7s%02u", d->name, (unsigned)i % 100u);
        if (!bridge_taken(d->bridge, defs, n))
            return 0;
    }
    snprintf(err, ERRLEN, "no free bridge name for network %s: pick a different name", d->name);
    return -EEXIST;
}

static bool overlap(const struct net_def *a, const struct net_def *b)
{
    int p = a->prefix < b->prefix ? a->prefix : b->prefix;
    return ((a->subnet ^ b->subnet) & netdef_mask(p)) == 0;
}

/* Name, subnet and flags from the command line; 0 or an exit status (message printed). */
static int parse_create(int argc, char **argv, struct net_def *d)
{
    const char *subnet = NULL;
    char err[ERRLEN];
    memset(d, 0, sizeof(*d));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--nat"))
            d->nat = true;
        else if (!strcmp(a, "--dhcp"))
            d->dhcp = true;
        else if (!strcmp(a, "--subnet") && i + 1 < argc)
            subnet = argv[++i];
        else if (!strncmp(a, "--subnet=", 9))
            subnet = a + 9;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout), -1;
        else if (a[0] == '-')
            return log_fail("net-create: unknown option '%s' (usage: vmm net-create NAME --subnet CIDR [--nat] [--dhcp])", a);
        else if (d->name[0])
            return log_fail("net-create: unexpected argument '%s': give one network name", a);
        else if (!name_valid(a))
            return log_fail("'%s' is not a network name: 1-32 characters of A-Z a-z 0-9 _ . -, not starting with . or -", a);
        else
            snprintf(d->name, sizeof(d->name), "%s", a);
    }
    if (!d->name[0] || !subnet)
        return log_fail("net-create needs a name and a subnet: vmm net-create NAME --subnet CIDR [--nat] [--dhcp]");
    if (netdef_parse_subnet(subnet, &d->subnet, &d->prefix, err, sizeof(err)))
        return log_fail("%s", err);
    return 0;
}

/* Refuses a duplicate name or a subnet that overlaps another network; picks the bridge name. */
static int check_new(struct net_def *d, char *err)
{
    struct net_def *defs;
    int n, rc = def_list(&defs, &n, err);
    for (int i = 0; !rc && i < n; i++) {
        char subnet[32];
        subnet_format(&defs[i], subnet, sizeof(subnet));
        if (!strcmp(defs[i].name, d->name)) {
            snprintf(err, ERRLEN, "network %s already exists (bridge %s, subnet %s): pick another name or "
                     "vmm net-destroy %s first", d->name, defs[i].bridge, subnet, d->name);
            rc = -EEXIST;
        } else if (overlap(&defs[i], d)) {
            snprintf(err, ERRLEN, "subnet overlaps network %s (%s): pick a different --subnet", defs[i].name, subnet);
            rc = -EEXIST;
        }
    }
    if (!rc)
        rc = choose_bridge(d, defs, n, err);
    free(defs);
    return rc;
}

static int cmd_create(int argc, char **argv)
{
    struct net_def d;
    char err[ERRLEN], rundir[PATHLEN], ignore[ERRLEN];
    int rc = parse_create(argc, argv, &d);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (check_new(&d, err) || nethost_tools_check(&d, err, sizeof(err)) || run_dir(d.name, rundir, err))
        return log_fail("%s", err);
    if (nethost_start(&d, rundir, err, sizeof(err)))
        return log_fail("%s", err);
    if (def_save(&d, err)) {
        nethost_stop(&d, rundir, false, ignore, sizeof(ignore));
        return log_fail("%s", err);
    }
    char subnet[32];
    subnet_format(&d, subnet, sizeof(subnet));
    printf("network %s created: bridge %s, subnet %s%s%s\n", d.name, d.bridge, subnet, d.nat ? ", NAT" : "",
           d.dhcp ? ", DHCP" : "");
    return 0;
}

/* ---- net-list, net-info ---- */

static int cmd_list(int argc, char **argv)
{
    struct net_def *defs;
    char err[ERRLEN];
    int n;
    if (argc > 1)
        return log_fail("net-list takes no arguments (got '%s')", argv[1]);
    if (def_list(&defs, &n, err))
        return log_fail("%s", err);
    printf("%-32s %-15s %-18s %-4s %-4s %s\n", "NAME", "BRIDGE", "SUBNET", "NAT", "DHCP", "ACTIVE");
    for (int i = 0; i < n; i++) {
        char subnet[32];
        subnet_format(&defs[i], subnet, sizeof(subnet));
        printf("%-32s %-15s %-18s %-4s %-4s %s\n", defs[i].name, defs[i].bridge, subnet, defs[i].nat ? "yes" : "no",
               defs[i].dhcp ? "yes" : "no", nethost_active(&defs[i]) ? "yes" : "no");
    }
    free(defs);
    return 0;
}

/* Loads the network named by the verb's single argument; 0 or an exit status (message printed). */
static int load_arg(int argc, char **argv, struct net_def *d, char *rundir)
{
    char err[ERRLEN];
    if (argc != 2)
        return log_fail("%s needs exactly one network name: vmm %s NAME", argv[0], argv[0]);
    if (def_load(argv[1], d, err) || run_dir(d->name, rundir, err))
        return log_fail("%s", err);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    struct net_def d;
    char rundir[PATHLEN], subnet[32], ip[16], first[16], last[16];
    int rc = load_arg(argc, argv, &d, rundir);
    if (rc)
        return rc;
    subnet_format(&d, subnet, sizeof(subnet));
    ip_format(netdef_gateway(&d), ip, sizeof(ip));
    printf("Name:    %s\nBridge:  %s\nSubnet:  %s\nGateway: %s\nNAT:     %s\n", d.name, d.bridge, subnet, ip,
           d.nat ? "yes" : "no");
    if (d.dhcp) {
        uint32_t lo, hi;
        pid_t pid = nethost_dhcp_pid(rundir);
        netdef_dhcp_range(&d, &lo, &hi);
        ip_format(lo, first, sizeof(first));
        ip_format(hi, last, sizeof(last));
        printf("DHCP:    %s - %s", first, last);
        if (pid)
            printf(" (dnsmasq pid %d)\n", (int)pid);
        else
            printf(" (dnsmasq not running)\n");
    } else {
        printf("DHCP:    no\n");
    }
    printf("Active:  %s\n", nethost_active(&d) ? "yes" : "no");
    return 0;
}

/* ---- net-start, net-destroy ---- */

static int cmd_start(int argc, char **argv)
{
    struct net_def d;
    char rundir[PATHLEN], err[ERRLEN];
    int rc = load_arg(argc, argv, &d, rundir);
    if (rc)
        return rc;
    if (nethost_active(&d))
        return log_fail("network %s is already active (bridge %s exists)", d.name, d.bridge);
    if (if_nametoindex(d.bridge))
        return log_fail("network %s cannot start: interface %s exists and is not its bridge; remove it first",
                         d.name, d.bridge);
    if (nethost_start(&d, rundir, err, sizeof(err)))
        return log_fail("%s", err);
    printf("network %s started: bridge %s\n", d.name, d.bridge);
    return 0;
}

/* True when another active NAT network may rely on IPv4 forwarding. */
static bool others_forward(const struct net_def *d)
{
    struct net_def *defs;
    char err[ERRLEN];
    int n;
    bool need = false;
    if (def_list(&defs, &n, err))
        return true;
    for (int i = 0; i < n; i++)
        if (strcmp(defs[i].name, d->name) && defs[i].nat && nethost_active(&defs[i]))
            need = true;
    free(defs);
    return need;
}

/* The first running managed VM with a NIC on network `name` ("" when none), so that destroying the
 * bridge does not cut a live VM off. */
static void running_user(const char *name, char *vm, size_t len)
{
    static char names[1024][64];
    static struct vmdef def;
    char err[ERRLEN];
    vm[0] = 0;
    if (len < 64)
        return;
    int n = vmdef_list(names, 1024, err, sizeof(err));
    for (int i = 0; i < n && !vm[0]; i++) {
        if (!runtime_pid(names[i]) || vmdef_load(names[i], &def, err, sizeof(err)))
            continue;
        for (int k = 0; k < def.nnics; k++)
            if (!strcmp(def.nics[k].type, "network") && !strcmp(def.nics[k].source, name))
                memcpy(vm, names[i], strnlen(names[i], len - 1) + 1);
    }
}

static int cmd_destroy(int argc, char **argv)
{
    struct net_def d;
    char rundir[PATHLEN], path[PATHLEN], err[ERRLEN], user[64];
    int rc = load_arg(argc, argv, &d, rundir);
    if (rc)
        return rc;
    running_user(d.name, user, sizeof(user));
    if (user[0])
        return log_fail("network %s is in use by running VM %s: stop it first (vmm shutdown %s)", d.name, user, user);
    if (nethost_stop(&d, rundir, others_forward(&d), err, sizeof(err)))
        return log_fail("%s", err);
    if (def_path(d.name, path, err))
        return log_fail("%s", err);
    if (unlink(path) < 0 && errno != ENOENT)
        return log_fail("cannot remove %s: %s", path, strerror(errno));
    printf("network %s destroyed\n", d.name);
    return 0;
}

/* ---- entry points ---- */

int network_main(int argc, char **argv)
{
    static const struct { const char *verb; int (*fn)(int, char **); } cmds[] = {
        { "net-create", cmd_create }, { "net-list", cmd_list }, { "net-info", cmd_info },
        { "net-start", cmd_start }, { "net-destroy", cmd_destroy },
    };
    if (argc < 1)
        return usage(stderr), 1;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[0], cmds[i].verb))
            continue;
        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
            return usage(stdout), 0;
        int rc = cmds[i].fn(argc, argv);
        fflush(stdout);
        return rc;
    }
    return log_fail("unknown command '%s': use net-create, net-list, net-info, net-start or net-destroy", argv[0]);
}

int network_bridge(const char *name, char *bridge, size_t len, char *err, size_t errlen)
{
    struct net_def d;
    char msg[ERRLEN];
    int rc = def_load(name, &d, msg);
    if (!rc && !nethost_active(&d)) {
        snprintf(msg, sizeof(msg), "network %s is not active (bridge %s does not exist): start it with "
                 "vmm net-start %s", name, d.bridge, name);
        rc = -ENETDOWN;
    }
    if (!rc && strlen(d.bridge) >= len) {
        snprintf(msg, sizeof(msg), "bridge name %s does not fit in %zu bytes", d.bridge, len);
        rc = -ENAMETOOLONG;
    }
    if (rc) {
        snprintf(err, errlen, "%s", msg);
        return rc;
    }
    snprintf(bridge, len, "%s", d.bridge);
    return 0;
}
