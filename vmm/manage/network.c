/* Private networks: placeholder until the bridge/NAT/DHCP networks land. */
#include <errno.h>
#include <stdio.h>

#include "vmm/log.h"
#include "vmm/manage/home.h"
#include "vmm/manage/network.h"

int network_main(int argc, char **argv)
{
    (void)argc;
    log_error("%s: networks are not available in this build", argv[0]);
    return 1;
}

int network_bridge(const char *name, char *bridge, size_t len, char *err, size_t errlen)
{
    (void)bridge;
    (void)len;
    errorf(err, errlen, "no network named '%s'", name);
    return -ENOENT;
}
