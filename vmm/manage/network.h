/* Private networks (vmm net-create, net-list, net-info, net-start, net-destroy): a bridge with
 * optional NAT and DHCP, defined by a file under the state directory's networks/. */
#ifndef VMM_MANAGE_NETWORK_H
#define VMM_MANAGE_NETWORK_H

#include <stddef.h>

/* argv[0] is the verb ("net-create", ...). Returns the process exit status; errors are printed
 * as one "vmm: error:" line. */
int network_main(int argc, char **argv);

/* The bridge of network `name` when it is defined and active (its bridge exists): 0, or -errno
 * with one line in err saying what to do. For --network network=NAME. */
int network_bridge(const char *name, char *bridge, size_t len, char *err, size_t errlen);

#endif
