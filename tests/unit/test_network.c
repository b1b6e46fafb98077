/* Unit tests for vmm networks: subnet parsing and addresses, definition files and the bridge lookup
 * for --network network=NAME (no bridge is created here; the integration test does that). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/nethost.h"
#include "vmm/manage/network.h"
#include "tests/unit/check.h"

TEST_MAIN()

static char scratch[64];

static void scratch_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", scratch);
}

/* NAME in a private temporary directory removed at exit. */
static const char *tmp(const char *name)
{
    static char path[160];
    if (!scratch[0]) {
        snprintf(scratch, sizeof(scratch), "/tmp/vmm-network.XXXXXX");
        if (!mkdtemp(scratch))
            abort();
        atexit(scratch_remove);
    }
    snprintf(path, sizeof(path), "%s/%s", scratch, name);
    return path;
}

static int parse(const char *s, uint32_t *net, int *prefix, char *err)
{
    return netdef_parse_subnet(s, net, prefix, err, 256);
}

TEST(subnet_parsing)
{
    uint32_t net = 0;
    int prefix = 0;
    char err[256];
    CHECK_EQ(parse("10.10.0.0/24", &net, &prefix, err), 0);
    CHECK_EQ(net, 0x0a0a0000);
    CHECK_EQ(prefix, 24);
    CHECK_EQ(parse("192.168.100.0/30", &net, &prefix, err), 0);
    static const struct { const char *in, *msg; } bad[] = {
        { "10.10.0.0", "not an IPv4 subnet" },        { "10.10.0.0/", "not an IPv4 subnet" },
        { "10.10.0.0/24x", "not an IPv4 subnet" },    { "10.10.0.0/-8", "not an IPv4 subnet" },
        { "10.10.0/24", "not an IPv4 address" },      { "300.1.1.0/24", "not an IPv4 address" },
        { "10.0.0.0/7", "prefix must be 8 to 30" },   { "10.0.0.0/31", "prefix must be 8 to 30" },
        { "10.10.0.1/24", "write 10.10.0.0/24" },     { "127.0.0.0/8", "not a usable unicast range" },
        { "224.1.0.0/16", "not a usable unicast range" }, { "0.0.0.0/8", "not a usable unicast range" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ(parse(bad[i].in, &net, &prefix, err), -EINVAL);
        if (!strstr(err, bad[i].msg))
            fprintf(stderr, "  %s: %s\n", bad[i].in, err);
        CHECK(strstr(err, bad[i].msg));
    }
}

TEST(gateway_and_dhcp_range)
{
    struct net_def d = { .subnet = 0x0a0a0000, .prefix = 24 };
    uint32_t first, last;
    char ip[16];
    ip_format(netdef_gateway(&d), ip, sizeof(ip));
    CHECK(!strcmp(ip, "10.10.0.1"));
    netdef_dhcp_range(&d, &first, &last);
    ip_format(first, ip, sizeof(ip));
    CHECK(!strcmp(ip, "10.10.0.2"));
    ip_format(last, ip, sizeof(ip));
    CHECK(!strcmp(ip, "10.10.0.254"));
    d = (struct net_def){ .subnet = 0xc0a86400, .prefix = 30 };    /* 192.168.100.0/30: .1 gateway, .2 guest */
    netdef_dhcp_range(&d, &first, &last);
    CHECK_EQ(first, 0xc0a86402);
    CHECK_EQ(last, 0xc0a86402);
    CHECK_EQ(netdef_mask(8), 0xff000000);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* network_bridge: undefined, damaged and inactive networks each get a message with the fix. */
TEST(bridge_lookup_errors)
{
    char bridge[16] = "", err[1024] = "", path[512], home[200];
    snprintf(home, sizeof(home), "%s", tmp("home"));
    setenv("VMM_HOME", home, 1);
    CHECK_EQ(network_bridge("lab", bridge, sizeof(bridge), err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "network lab is not defined"));
    CHECK(strstr(err, "vmm net-create lab --subnet CIDR"));
    CHECK_EQ(network_bridge("../x", bridge, sizeof(bridge), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "is not a network name"));

    snprintf(path, sizeof(path), "%s/networks/gone.json", home);
    write_text(path, "{ \"name\": \"gone\", \"bridge\": \"vmmbr-gone\", \"subnet\": \"10.9.0.0/24\", "
                     "\"nat\": false, \"dhcp\": true }\n");
    CHECK_EQ(network_bridge("gone", bridge, sizeof(bridge), err, sizeof(err)), -ENETDOWN);
    CHECK(strstr(err, "network gone is not active (bridge vmmbr-gone does not exist): start it with vmm net-start gone"));

    snprintf(path, sizeof(path), "%s/networks/bad.json", home);
    write_text(path, "{ \"name\": \"bad\", \"bridge\": \"a-bridge-name-too-long\", \"subnet\": \"10.8.0.0/24\", "
                     "\"nat\": false, \"dhcp\": false }\n");
    CHECK_EQ(network_bridge("bad", bridge, sizeof(bridge), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "is damaged: bad or missing bridge"));
    write_text(path, "{ \"name\": \"other\" ");
    CHECK_EQ(network_bridge("bad", bridge, sizeof(bridge), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "cannot be read"));
    unsetenv("VMM_HOME");
}

/* The verbs refuse bad input before touching the host: no root is needed to see these errors. */
TEST(create_refuses_bad_input_without_side_effects)
{
    char path[512], home[200];
    snprintf(home, sizeof(home), "%s", tmp("home2"));
    setenv("VMM_HOME", home, 1);
    snprintf(path, sizeof(path), "%s/networks/lab.json", home);
    char *a1[] = { "net-create", "lab", NULL }, *a2[] = { "net-create", "lab", "--subnet", "10.0.0.1/8", NULL },
         *a3[] = { "net-create", "-x", "--subnet", "10.0.0.0/8", NULL }, *a4[] = { "net-destroy", "nope", NULL },
         *a5[] = { "net-bogus", NULL };
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    int r1 = network_main(2, a1), r2 = network_main(4, a2), r3 = network_main(4, a3), r4 = network_main(2, a4),
        r5 = network_main(1, a5);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    CHECK_EQ(r1, 1);
    CHECK_EQ(r2, 1);
    CHECK_EQ(r3, 1);
    CHECK_EQ(r4, 1);
    CHECK_EQ(r5, 1);
    CHECK(access(path, F_OK) != 0);
    unsetenv("VMM_HOME");
}
