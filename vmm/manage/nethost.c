/* The host side of a vmm network: its Linux bridge, NAT table (nftables) and DHCP server (dnsmasq). */
#define _GNU_SOURCE
#include "vmm/manage/nethost.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/net/net.h"

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"
#define FORWARD_MARK "ip_forward-enabled"   /* in rundir: we switched forwarding on */
#define DHCP_LEASE "1h"

/* ---- addresses ---- */

uint32_t netdef_mask(int prefix)
{
    return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

uint32_t netdef_gateway(const struct net_def *d)
{
    return d->subnet + 1;
}

void netdef_dhcp_range(const struct net_def *d, uint32_t *first, uint32_t *last)
{
    *first = d->subnet + 2;
    *last = (d->subnet | ~netdef_mask(d->prefix)) - 1;
}

void ip_format(uint32_t ip, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

int netdef_parse_subnet(const char *s, uint32_t *subnet, int *prefix, char *err, size_t errlen)
{
    char addr[32], tail;
    int p;
    struct in_addr in;
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(addr) || sscanf(slash + 1, "%d%c", &p, &tail) != 1 ||
        !isdigit((unsigned char)slash[1])) {
        snprintf(err, errlen, "--subnet '%s' is not an IPv4 subnet: write ADDRESS/PREFIX, e.g. 10.10.0.0/24", s);
        return -EINVAL;
    }
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
    if (inet_pton(AF_INET, addr, &in) != 1) {
        snprintf(err, errlen, "--subnet '%s': '%s' is not an IPv4 address (e.g. 10.10.0.0/24)", s, addr);
        return -EINVAL;
    }
    if (p < NETDEF_MIN_PREFIX || p > NETDEF_MAX_PREFIX) {
        snprintf(err, errlen, "--subnet '%s': the prefix must be %d to %d (a gateway and at least one guest)", s,
                 NETDEF_MIN_PREFIX, NETDEF_MAX_PREFIX);
        return -EINVAL;
    }
    uint32_t ip = ntohl(in.s_addr), mask = netdef_mask(p);
    if (ip & ~mask) {
        char net[16];
        ip_format(ip & mask, net, sizeof(net));
        snprintf(err, errlen, "--subnet '%s' has host bits set: write %s/%d", s, net, p);
        return -EINVAL;
    }
    if ((ip >> 24) == 0 || (ip >> 24) == 127 || (ip >> 28) >= 14) {
        snprintf(err, errlen, "--subnet '%s' is not a usable unicast range: use a private one, e.g. 10.10.0.0/24", s);
        return -EINVAL;
    }
    *subnet = ip;
    *prefix = p;
    return 0;
}

/* ---- running helper programs ---- */

/* Full path of an installed program: $PATH, then the sbin directories root's PATH has. */
static bool find_tool(const char *name, char *path, size_t len)
{
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", env && *env ? env : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, len, "%s/%s", d, name);
        if (access(path, X_OK) == 0)
            return true;
    }
    return false;
}

static const char *tool_package(const char *name)
{
    return !strcmp(name, "nft") ? "nftables" : !strcmp(name, "dnsmasq") ? "dnsmasq-base" : name;
}

int nethost_tools_check(const struct net_def *d, char *err, size_t errlen)
{
    char path[4200];
    const char *need[2] = { d->nat ? "nft" : NULL, d->dhcp ? "dnsmasq" : NULL };
    for (int i = 0; i < 2; i++) {
        if (need[i] && !find_tool(need[i], path, sizeof(path))) {
            snprintf(err, errlen, "network %s needs %s, which is not installed: apt-get install %s", d->name,
                     need[i], tool_package(need[i]));
            return -ENOENT;
        }
    }
    return 0;
}

/* First non-empty line of out, without its newline. */
static void first_line(char *out)
{
    char *p = out + strspn(out, "\n ");
    memmove(out, p, strlen(p) + 1);
    out[strcspn(out, "\n")] = 0;
}

/* Runs argv[0] (found by find_tool) with `input` on its stdin; its exit status, or -errno. Its
 * output (first line) goes to out. Waits only for the program itself: a daemon it leaves
 * behind may keep the output pipe open. */
static int run_tool(char *const argv[], const char *input, char *out, size_t outlen)
{
    char path[4200];
    int in[2], res[2];
    out[0] = 0;
    if (!find_tool(argv[0], path, sizeof(path)))
        return -ENOENT;
    if (pipe2(in, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(res, O_CLOEXEC) < 0) {
        close(in[0]), close(in[1]);
        return -errno;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0), dup2(res[1], 1), dup2(res[1], 2);
        execv(path, argv);
        _exit(127);
    }
    close(in[0]), close(res[1]);
    if (pid > 0 && input)
        (void)!write(in[1], input, strlen(input));   /* a few hundred bytes: fits the pipe */
    close(in[1]);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    fcntl(res[0], F_SETFL, O_NONBLOCK);
    ssize_t n = read(res[0], out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    first_line(out);
    close(res[0]);
    if (pid < 0)
        return -EAGAIN;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the bridge (ioctls of linux/sockios.h) ---- */

static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    int rc = ioctl(sock, req, ifr) < 0 ? -errno : 0;
    close(sock);
    return rc;
}

static int set_inet(const char *ifname, unsigned long req, uint32_t ip)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(ip);
    return if_ioctl(req, &ifr);
}

static int set_up(const char *ifname, bool up)
{
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int rc = if_ioctl(SIOCGIFFLAGS, &ifr);
    if (rc)
        return rc;
    ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

static int bridge_ioctl(unsigned long req, const char *name)
{
    char buf[IFNAMSIZ];
    snprintf(buf, sizeof(buf), "%s", name);
    int sock = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    int rc = ioctl(sock, req, buf) < 0 ? -errno : 0;
    close(sock);
    return rc;
}

static int bridge_delete(const char *name)
{
    if (!if_nametoindex(name))
        return 0;
    set_up(name, false);        /* the kernel refuses to delete a bridge that is up */
    return bridge_ioctl(SIOCBRDELBR, name);
}

static int bridge_create(const struct net_def *d, char *err, size_t errlen)
{
    int rc = bridge_ioctl(SIOCBRADDBR, d->bridge);
    if (rc == -EPERM || rc == -EACCES) {
        snprintf(err, errlen, "creating bridge %s needs root (CAP_NET_ADMIN): run vmm net-create as root", d->bridge);
        return rc;
    }
    if (rc) {
        snprintf(err, errlen, "cannot create bridge %s: %s", d->bridge, strerror(-rc));
        return rc;
    }
    uint32_t mask = netdef_mask(d->prefix);
    rc = set_inet(d->bridge, SIOCSIFADDR, netdef_gateway(d));
    if (!rc)
        rc = set_inet(d->bridge, SIOCSIFNETMASK, mask);
    if (!rc)
        rc = set_inet(d->bridge, SIOCSIFBRDADDR, d->subnet | ~mask);
    if (!rc)
        rc = set_up(d->bridge, true);
    if (rc) {
        snprintf(err, errlen, "cannot give bridge %s its address and bring it up: %s", d->bridge, strerror(-rc));
        bridge_delete(d->bridge);
    }
    return rc;
}

bool nethost_active(const struct net_def *d)
{
    return if_nametoindex(d->bridge) != 0 && net_is_bridge(d->bridge);
}

/* ---- NAT: an nftables table of the network's own, and IPv4 forwarding ---- */

static int read_forwarding(void)
{
    char c = 0;
    int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 ? c == '1' : -EIO;
}

static int write_forwarding(bool on)
{
    int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = write(fd, on ? "1\n" : "0\n", 2) == 2 ? 0 : -errno;
    close(fd);
    return rc;
}

static void run_file(const char *rundir, const char *leaf, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", rundir, leaf);
}

static int nat_table(const struct net_def *d, bool add, char *err, size_t errlen)
{
    char rules[1024], net[16], out[512];
    ip_format(d->subnet, net, sizeof(net));
    if (add)
        snprintf(rules, sizeof(rules),
                 "table ip vmm-%s {\n"
                 "  chain postrouting {\n"
                 "    type nat hook postrouting priority srcnat; policy accept;\n"
                 "    ip saddr %s/%d ip daddr != %s/%d masquerade\n"
                 "  }\n"
                 "}\n", d->name, net, d->prefix, net, d->prefix);
    else
        snprintf(rules, sizeof(rules), "delete table ip vmm-%s\n", d->name);
    char *argv[] = { "nft", "-f", "-", NULL };
    int rc = run_tool(argv, rules, out, sizeof(out));
    if (rc)
        snprintf(err, errlen, "nft could not %s table ip vmm-%s: %s", add ? "add" : "delete", d->name,
                 out[0] ? out : rc < 0 ? strerror(-rc) : "it failed");
    return rc ? -EIO : 0;
}

static bool nat_table_exists(const struct net_def *d)
{
    char table[64], out[256];
    snprintf(table, sizeof(table), "vmm-%s", d->name);
    char *argv[] = { "nft", "list", "table", "ip", table, NULL };
    return run_tool(argv, NULL, out, sizeof(out)) == 0;
}

static int nat_start(const struct net_def *d, const char *rundir, char *err, size_t errlen)
{
    char mark[4200];
    int was = read_forwarding();
    if (was == 0) {
        int rc = write_forwarding(true);
        if (rc) {
            snprintf(err, errlen, "cannot turn on IPv4 forwarding (%s): %s", IP_FORWARD, strerror(-rc));
            return rc;
        }
        run_file(rundir, FORWARD_MARK, mark, sizeof(mark));
        int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    int rc = nat_table(d, true, err, errlen);
    if (rc && was == 0) {
        write_forwarding(false);
        unlink(mark);
    }
    return rc;
}

/* Forwarding goes back off only if this network turned it on and no other needs it. */
static int nat_stop(const struct net_def *d, const char *rundir, bool keep_forwarding, char *err, size_t errlen)
{
    char mark[4200];
    run_file(rundir, FORWARD_MARK, mark, sizeof(mark));
    if (access(mark, F_OK) == 0) {
        if (!keep_forwarding)
            write_forwarding(false);
        unlink(mark);
    }
    return nat_table_exists(d) ? nat_table(d, false, err, errlen) : 0;
}

/* ---- DHCP: dnsmasq on the bridge alone ---- */

pid_t nethost_dhcp_pid(const char *rundir)
{
    char path[4200], cmdline[4096], want[4300];
    run_file(rundir, "dnsmasq.pid", path, sizeof(path));
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 1 || pid > 0x7fffffff)
        pid = 0;
    fclose(f);
    if (!pid)
        return 0;
    /* The pid is ours only if that process is a dnsmasq with this very pidfile. */
    snprintf(cmdline, sizeof(cmdline), "/proc/%ld/cmdline", pid);
    int fd = open(cmdline, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (!cmdline[i])
            cmdline[i] = ' ';
    cmdline[n] = 0;
    snprintf(want, sizeof(want), "--pid-file=%s ", path);
    return strstr(cmdline, "dnsmasq") && strstr(cmdline, want) ? (pid_t)pid : 0;
}

static int dhcp_start(const struct net_def *d, const char *rundir, char *err, size_t errlen)
{
    char gw[16], first[16], last[16], mask[16], out[512];
    char a_if[64], a_listen[64], a_range[128], a_pid[4300], a_lease[4300];
    uint32_t lo, hi;
    netdef_dhcp_range(d, &lo, &hi);
    ip_format(netdef_gateway(d), gw, sizeof(gw));
    ip_format(lo, first, sizeof(first));
    ip_format(hi, last, sizeof(last));
    ip_format(netdef_mask(d->prefix), mask, sizeof(mask));
    snprintf(a_if, sizeof(a_if), "--interface=%s", d->bridge);
    snprintf(a_listen, sizeof(a_listen), "--listen-address=%s", gw);
    snprintf(a_range, sizeof(a_range), "--dhcp-range=%s,%s,%s,%s", first, last, mask, DHCP_LEASE);
    snprintf(a_pid, sizeof(a_pid), "--pid-file=%s/dnsmasq.pid", rundir);
    snprintf(a_lease, sizeof(a_lease), "--dhcp-leasefile=%s/dnsmasq.leases", rundir);
    char *argv[] = { "dnsmasq", "--conf-file=/dev/null", "--bind-interfaces", a_if, "--except-interface=lo",
                     a_listen, a_range, "--dhcp-authoritative", "--dhcp-no-override", "--strict-order",
                     a_pid, a_lease, NULL };
    int rc = run_tool(argv, NULL, out, sizeof(out));
    if (rc) {
        snprintf(err, errlen, "dnsmasq could not start on bridge %s: %s", d->bridge,
                 out[0] ? out : rc < 0 ? strerror(-rc) : "it failed");
        return -EIO;
    }
    return 0;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

static int dhcp_stop(const struct net_def *d, const char *rundir, char *err, size_t errlen)
{
    pid_t pid = nethost_dhcp_pid(rundir);
    if (pid > 0) {
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
            snprintf(err, errlen, "cannot stop dnsmasq (pid %d) of network %s: %s", (int)pid, d->name,
                     strerror(errno));
            return -errno;
        }
        struct timespec tick = { 0, 20 * 1000 * 1000 };
        for (int i = 0; i < 150 && alive(pid); i++)
            nanosleep(&tick, NULL);
        if (alive(pid))
            kill(pid, SIGKILL);
    }
    return 0;
}

/* Removes rundir and what dnsmasq left there. */
static void rundir_remove(const char *rundir)
{
    DIR *dir = opendir(rundir);
    if (dir) {
        struct dirent *e;
        char path[4400];
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof(path), "%s/%s", rundir, e->d_name);
                unlink(path);
            }
        closedir(dir);
    }
    rmdir(rundir);
}

/* ---- the whole ---- */

int nethost_start(const struct net_def *d, const char *rundir, char *err, size_t errlen)
{
    int rc = nethost_tools_check(d, err, errlen);
    if (rc)
        return rc;
    if (mkdir(rundir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", rundir, strerror(errno));
        return rc;
    }
    char ignore[256];
    rc = bridge_create(d, err, errlen);
    if (!rc && d->nat && (rc = nat_start(d, rundir, err, errlen)) < 0)
        bridge_delete(d->bridge);
    if (!rc && d->dhcp && (rc = dhcp_start(d, rundir, err, errlen)) < 0) {
        if (d->nat)
            nat_stop(d, rundir, false, ignore, sizeof(ignore));
        bridge_delete(d->bridge);
    }
    if (rc)
        rundir_remove(rundir);
    return rc;
}

int nethost_stop(const struct net_def *d, const char *rundir, bool keep_forwarding, char *err, size_t errlen)
{
    int rc = dhcp_stop(d, rundir, err, errlen);
    if (!rc && d->nat)
        rc = nat_stop(d, rundir, keep_forwarding, err, errlen);
    if (!rc && (rc = bridge_delete(d->bridge)) < 0) {
        if (rc == -EPERM || rc == -EACCES)
            snprintf(err, errlen, "deleting bridge %s needs root (CAP_NET_ADMIN): run vmm as root", d->bridge);
        else
            snprintf(err, errlen, "cannot delete bridge %s: %s", d->bridge, strerror(-rc));
    }
    if (!rc)
        rundir_remove(rundir);
    return rc;
}
