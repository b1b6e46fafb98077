/* The VM-management verbs (create, list, start, console, clone, attach-disk, ...), as virsh knows them. */
#include <stdio.h>
#include <string.h>

#include "vmm/manage/autostart.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/info.h"
#include "vmm/manage/lifecycle.h"
#include "vmm/manage/network.h"

void manage_usage(FILE *out)
{
    fprintf(out,
        "Managed VMs (definitions under $VMM_HOME, /var/lib/vmm for root, else ~/.local/share/vmm):\n"
        "  vmm create NAME [options]    define a VM with virt-install's options and start it (--help)\n"
        "  vmm define NAME [options]    the same, without starting it\n"
        "  vmm list [--all]             running (and with --all, shut off) VMs\n"
        "  vmm start NAME [--console]   start a defined VM in the background\n"
        "  vmm console NAME             attach to its serial console (detach: Ctrl-])\n"
        "  vmm shutdown NAME [--timeout S]  ACPI power button, wait for power-off (default 60 s)\n"
        "  vmm reboot|destroy|suspend|resume NAME   reset, stop at once, pause, continue\n"
        "  vmm dominfo NAME, vmm vncdisplay NAME\n"
        "  vmm clone SRC NEW [--linked] copy a shut-off VM (--linked: qcow2 overlays on its disks)\n"
        "  vmm attach-disk NAME FILE|size=GB [--target vdX]   vmm detach-disk NAME TARGET|FILE\n"
        "  vmm undefine NAME [--remove-all-storage]    vmm autostart NAME [--disable]\n"
        "  vmm net-create NAME --subnet CIDR [--nat] [--dhcp]   private network: bridge, NAT, DHCP (root)\n"
        "  vmm net-list | net-info NAME | net-start NAME | net-destroy NAME\n");
}

int manage_main(int argc, char **argv)
{
    const char *verb = argv[0];
    int rc;
    if (!strcmp(verb, "create"))
        return cmd_create(argc, argv, true);
    if (!strcmp(verb, "define"))
        return cmd_create(argc, argv, false);
    if (!strcmp(verb, "console"))
        return cmd_console(argc, argv);
    if (!strcmp(verb, "clone"))
        return cmd_clone(argc, argv);
    if (!strcmp(verb, "attach-disk"))
        return cmd_attach_disk(argc, argv);
    if (!strcmp(verb, "detach-disk"))
        return cmd_detach_disk(argc, argv);
    if (!strcmp(verb, "autostart"))
        return cmd_autostart(argc, argv);
    if (!strncmp(verb, "net-", 4))
        return network_main(argc, argv);
    if ((rc = lifecycle_main(argc, argv)) >= 0)
        return rc;
    return info_main(argc, argv);
}
