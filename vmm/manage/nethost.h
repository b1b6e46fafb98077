/* The host side of a vmm network: its Linux bridge, NAT table (nftables) and DHCP server (dnsmasq). */
#ifndef VMM_MANAGE_NETHOST_H
#define VMM_MANAGE_NETHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a network is; addresses in host byte order. */
struct net_def {
    char name[33];
    char bridge[16];
    uint32_t subnet;            /* network address (host bits zero) */
    int prefix;                 /* NETDEF_MIN_PREFIX..NETDEF_MAX_PREFIX */
    bool nat, dhcp;
};

#define NETDEF_MIN_PREFIX 8
#define NETDEF_MAX_PREFIX 30    /* room for the gateway and one guest */

/* "A.B.C.D/P" with P in range and the host bits zero; 0 or -EINVAL with one line in err. */
int netdef_parse_subnet(const char *s, uint32_t *subnet, int *prefix, char *err, size_t errlen);
uint32_t netdef_mask(int prefix);
/* The gateway (the bridge's address) is the first host address; DHCP hands out the rest. */
uint32_t netdef_gateway(const struct net_def *d);
void netdef_dhcp_range(const struct net_def *d, uint32_t *first, uint32_t *last);
/* Dotted quad into buf (at least 16 bytes). */
void ip_format(uint32_t ip, char *buf, size_t len);

/* Checks that the programs the network needs (nft, dnsmasq) are installed. */
int nethost_tools_check(const struct net_def *d, char *err, size_t errlen);
/* Creates the bridge with the gateway address, then NAT, then DHCP (state in rundir). All or
 * nothing: on failure the steps already done are undone and err holds one line. */
int nethost_start(const struct net_def *d, const char *rundir, char *err, size_t errlen);
/* Undoes nethost_start; parts already gone are fine. IPv4 forwarding goes back off if this
 * network turned it on, unless keep_forwarding (another NAT network still needs it). Returns 0
 * or -errno with one line in err. */
int nethost_stop(const struct net_def *d, const char *rundir, bool keep_forwarding, char *err, size_t errlen);
/* The bridge exists (the network is active). */
bool nethost_active(const struct net_def *d);
/* The network's running dnsmasq, or 0. */
pid_t nethost_dhcp_pid(const char *rundir);

#endif
