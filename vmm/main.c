/* Command line: subcommands and options -> a validated VM configuration -> run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/manage/commands.h"
#include "vmm/manage/pidfile.h"
#include "vmm/vm.h"

int img_main(int argc, char **argv);   /* vmm/img.c */

#ifndef VMM_VERSION
#define VMM_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
        "usage: vmm run [options]      boot a virtual machine in the foreground\n"
        "       vmm img COMMAND ...    disk images: create, info, check, convert, resize, commit, rebase\n"
        "       vmm VERB NAME ...      managed VMs: create, list, start, console, shutdown, clone, ... (below)\n"
        "       vmm --version | --help\n"
        "\n"
        "What to boot (one of):\n"
        "  --kernel FILE        Linux bzImage or ELF vmlinux (PVH note or 64-bit entry)\n"
        "  --initrd FILE        initial ramdisk for --kernel\n"
        "  --append \"ARGS\"      kernel command line for --kernel\n"
        "  --firmware FILE      (also --bios FILE) raw firmware image (e.g. SeaBIOS bios-256k.bin) mapped to end at 4 GiB\n"
        "\n"
        "Machine:\n"
        "  --memory SIZE, -m    guest RAM: 512M, 2G (a plain number is MiB; default 512M)\n"
        "  --cpus N, --smp N    number of vCPUs, 1-%d (default 1)\n"
        "  --cpu MODEL          host|baseline[,+feat][,-feat] (default host); features:\n"
        "                       %s\n"
        "  --name NAME          name of the VM, shown in messages (and SMBIOS's product name)\n"
        "  --uuid UUID          the machine's UUID (SMBIOS system UUID, QMP query-uuid)\n"
        "\n"
        "Devices:\n"
        "  --disk FILE[,readonly=on][,format=raw|qcow2][,cache=none|writeback][,serial=ID][,queues=N]\n"
        "                       a virtio-blk disk (repeatable; default cache=writeback; qcow2 is\n"
        "                       recognised from its header when format= is not given; queues:\n"
        "                       request queues, default one per vCPU)\n"
        "  --network user[,hostfwd=tcp:127.0.0.1:PORT-:GUESTPORT][,bootfile=URL][,mac=M]\n"
        "  --network tap=NAME[,mac=M] | bridge=BR[,mac=M] | none\n"
        "                       a virtio-net NIC (repeatable): user-mode NAT (10.0.2.0/24, gateway\n"
        "                       10.0.2.2 reaches host loopback), a tap device, or a new tap on the\n"
        "                       Linux bridge BR (e.g. one from vmm net-create; root); default: no NIC\n"
        "  --cdrom ISO[,bus=ide] a CD-ROM drive holding ISO, SeaBIOS boots it: virtio-scsi, or\n"
        "                       bus=ide for an ATAPI drive on the PIIX IDE controller (QEMU's -cdrom)\n"
        "  --boot cdrom|disk    firmware boot order (default: cdrom first when there is one)\n"
        "  --vnc [ADDR]:N[,password=P]\n"
        "                       a display (bochs-display) served over VNC on port 5900+N, address\n"
        "                       default 127.0.0.1; keyboard and mouse through PS/2\n"
        "  --serial MODE        stdio (default), file:PATH, pty, none, or socket:PATH[,log=FILE] (a unix\n"
        "                       socket one client at a time attaches to); Ctrl-A x quits on stdio\n"
        "  --no-reboot          exit (status 2) when the guest resets instead of restarting it\n"
        "  --shutdown-timeout S seconds the guest gets to power off after SIGTERM presses the ACPI\n"
        "                       power button (default 30; 0: SIGTERM stops at once)\n"
        "  --debugcon file:PATH the firmware debug port 0x402 (SeaBIOS's log) into PATH\n"
        "\n"
        "Control:\n"
        "  --control PATH       a QMP control socket (mode 0600) for scripts: query-status, stop, cont,\n"
        "                       system_powerdown, system_reset, quit, query-block, query-vnc,\n"
        "                       screendump; also --qmp unix:PATH[,server,nowait] as QEMU spells it\n"
        "  --pidfile PATH       write vmm's pid to PATH and hold a lock on it while the VM runs\n"
        "\n"
        "Observing:\n"
        "  --stats              print VM exits by reason, busiest ports/MMIO, assisted instructions at exit\n"
        "  --trace              print every VM exit on stderr\n"
        "\n"
        "Exit status: 0 guest powered off, 1 error, 2 reset with --no-reboot, 3 triple fault,\n"
        "4 guest panic (pvpanic), 5 instruction not emulated, 6 KVM internal error, 128+N signal N.\n",
        CONFIG_MAX_CPUS, cpu_feature_names());
    fprintf(out, "\n");
    manage_usage(out);
}

enum { OPT_UUID = 245, OPT_PIDFILE = 246, OPT_QMP = 247, OPT_CONTROL = 248, OPT_CDROM = 249, OPT_BOOT = 250, OPT_VNC = 251, OPT_SHUTDOWN_TIMEOUT = 252, OPT_DEBUGCON = 253, OPT_NETWORK = 254, OPT_DISK = 255, OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_FIRMWARE, OPT_CPUS, OPT_CPU, OPT_NAME, OPT_SERIAL,
       OPT_NO_REBOOT, OPT_STATS, OPT_TRACE, OPT_HELP, OPT_VERSION };

static const struct option run_options[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "append", required_argument, NULL, OPT_APPEND },
    { "firmware", required_argument, NULL, OPT_FIRMWARE },
    { "bios", required_argument, NULL, OPT_FIRMWARE },
    { "memory", required_argument, NULL, 'm' },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "smp", required_argument, NULL, OPT_CPUS },
    { "cpu", required_argument, NULL, OPT_CPU },
    { "name", required_argument, NULL, OPT_NAME },
    { "disk", required_argument, NULL, OPT_DISK },
    { "network", required_argument, NULL, OPT_NETWORK },
    { "cdrom", required_argument, NULL, OPT_CDROM },
    { "control", required_argument, NULL, OPT_CONTROL },
    { "qmp", required_argument, NULL, OPT_QMP },
    { "pidfile", required_argument, NULL, OPT_PIDFILE },
    { "uuid", required_argument, NULL, OPT_UUID },
    { "boot", required_argument, NULL, OPT_BOOT },
    { "vnc", required_argument, NULL, OPT_VNC },
    { "serial", required_argument, NULL, OPT_SERIAL },
    { "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
    { "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
    { "debugcon", required_argument, NULL, OPT_DEBUGCON },
    { "stats", no_argument, NULL, OPT_STATS },
    { "trace", no_argument, NULL, OPT_TRACE },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

/* Returns 0 to run, -1 on a bad option (message printed), 1 when --help/--version was handled. */
static int parse_run_options(int argc, char **argv, struct vm_config *c)
{
    char err[1200] = "";
    int opt, rc = 0;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":m:", run_options, NULL)) != -1) {
        switch (opt) {
        case OPT_KERNEL: c->kernel = optarg; break;
        case OPT_INITRD: c->initrd = optarg; break;
        case OPT_APPEND: c->append = optarg; break;
        case OPT_FIRMWARE: c->firmware = optarg; break;
        case 'm': rc = config_parse_memory(c, optarg, err, sizeof(err)); break;
        case OPT_CPUS: rc = config_parse_cpus(c, optarg, err, sizeof(err)); break;
        case OPT_CPU: rc = cpu_model_parse(optarg, &c->cpu, err, sizeof(err)); break;
        case OPT_NAME: c->name = optarg; break;
        case OPT_DISK: rc = config_parse_disk(c, optarg, err, sizeof(err)); break;
        case OPT_NETWORK: rc = config_parse_network(c, optarg, err, sizeof(err)); break;
        case OPT_CDROM: rc = config_parse_cdrom(c, optarg, err, sizeof(err)); break;
        case OPT_CONTROL: c->control = optarg; break;
        case OPT_PIDFILE: c->pidfile = optarg; break;
        case OPT_UUID: rc = config_parse_uuid(c, optarg, err, sizeof(err)); break;
        case OPT_QMP:
            /* QEMU's spelling: unix:PATH[,server[=on]][,nowait|wait=off] (vmm always serves, never waits). */
            if (strncmp(optarg, "unix:", 5) || !optarg[5]) {
                snprintf(err, sizeof(err), "--qmp '%s' is not understood: use --qmp unix:PATH (or --control PATH)", optarg);
                rc = -1;
            } else {
                char *comma = strchr(optarg + 5, ',');
                if (comma)
                    *comma = 0;
                c->control = optarg + 5;
            }
            break;
        case OPT_BOOT: rc = config_parse_boot(c, optarg, err, sizeof(err)); break;
        case OPT_VNC: rc = config_parse_vnc(c, optarg, err, sizeof(err)); break;
        case OPT_SERIAL: rc = config_parse_serial(c, optarg, err, sizeof(err)); break;
        case OPT_NO_REBOOT: c->no_reboot = true; break;
        case OPT_SHUTDOWN_TIMEOUT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || v < 0 || v > 86400) {
                snprintf(err, sizeof(err), "--shutdown-timeout '%s' is not a number of seconds (0-86400)", optarg);
                rc = -1;
            }
            c->shutdown_timeout = (int)v;
            break;
        }
        case OPT_DEBUGCON:
            if (strncmp(optarg, "file:", 5) || !optarg[5]) {
                snprintf(err, sizeof(err), "--debugcon '%s' is not understood: use --debugcon file:PATH", optarg);
                rc = -1;
            }
            c->debugcon = optarg + 5;
            break;
        case OPT_STATS: c->stats = true; break;
        case OPT_TRACE: c->trace = true; break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: printf("vmm %s\n", VMM_VERSION); return 1;
        case ':':
            snprintf(err, sizeof(err), "option %s needs a value (see vmm run --help)", argv[optind - 1]);
            rc = -1;
            break;
        default:
            snprintf(err, sizeof(err), "unknown option '%s' (see vmm run --help)", argv[optind - 1]);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        snprintf(err, sizeof(err), "unexpected argument '%s': options take the form --name VALUE (see vmm run --help)", argv[optind]);
        rc = -1;
    }
    if (rc == 0)
        rc = config_validate(c, err, sizeof(err));
    for (int i = 0; rc == 0 && i < c->nnics; i++)
        if (!c->nics[i].mac_set)
            config_default_mac(c->name, i, c->nics[i].mac);
    if (rc) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    struct vm_config cfg;
    config_defaults(&cfg);
    int rc = parse_run_options(argc, argv, &cfg);
    if (rc)
        return rc > 0 ? 0 : EXIT_ERROR;
    log_trace_enabled = cfg.trace;
    int pid_fd = -1;
    if (cfg.pidfile) {
        char err[512];
        pid_fd = pidfile_acquire(cfg.pidfile, err, sizeof(err));
        if (pid_fd < 0) {
            log_error("%s", err);
            return EXIT_ERROR;
        }
    }
    struct vm vm;
    int status = EXIT_ERROR;
    if (vm_create(&vm, &cfg) == 0)
        status = vm_run(&vm);
    vm_destroy(&vm);
    pidfile_release(pid_fd, cfg.pidfile);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("vmm %s\n", VMM_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "img"))
        return img_main(argc - 1, argv + 1);
    if (cmd[0] == '-') /* "vmm --kernel ..." is "vmm run --kernel ..." */
        return cmd_run(argc, argv);
    int rc = manage_main(argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    log_error("unknown command '%s': use 'vmm run [options]' or a management verb (see vmm --help)", cmd);
    return EXIT_ERROR;
}
