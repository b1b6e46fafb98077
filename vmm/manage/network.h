/* Private networks (bridges with optional NAT and DHCP) that VMs join with --network network=NAME. */
#ifndef VMM_MANAGE_NETWORK_H
#define VMM_MANAGE_NETWORK_H

#include <stddef.h>

int network_main(int argc, char **argv);
/* The bridge of a defined, active network; an error otherwise. */
int network_bridge(const char *name, char *bridge, size_t len, char *err, size_t errlen);

#endif
