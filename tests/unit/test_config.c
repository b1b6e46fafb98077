/* Unit tests for the VM configuration: sizes, --memory, --cpus, --serial, --network, cross-option validation. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "vmm/config.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static uint64_t size_of(const char *s, uint64_t unit, int *rc)
{
    uint64_t v = 0xdeadULL;
    *rc = config_parse_size(s, unit, &v);
    return v;
}

TEST(defaults)
{
    unsetenv("VMM_KVM_DEVICE");
    struct vm_config c;
    config_defaults(&c);
    CHECK_EQ(c.memory, 512 * MiB);
    CHECK_EQ(c.cpus, 1);
    CHECK_EQ(c.cpu.base, CPU_MODEL_HOST);
    CHECK_EQ(c.cpu.nedits, 0);
    CHECK_EQ(c.serial, CONSOLE_STDIO);
    CHECK(!strcmp(c.kvm_device, "/dev/kvm"));
    CHECK(c.kernel == NULL && c.initrd == NULL && c.firmware == NULL && c.append == NULL);
    CHECK(!c.no_reboot && !c.stats && !c.trace);
    setenv("VMM_KVM_DEVICE", "/tmp/fake-kvm", 1);
    config_defaults(&c);
    CHECK(!strcmp(c.kvm_device, "/tmp/fake-kvm"));
    setenv("VMM_KVM_DEVICE", "", 1);             /* empty means unset */
    config_defaults(&c);
    CHECK(!strcmp(c.kvm_device, "/dev/kvm"));
    unsetenv("VMM_KVM_DEVICE");
}

TEST(size_suffixes)
{
    int rc;
    CHECK_EQ(size_of("512", MiB, &rc), 512 * MiB);
    CHECK_EQ(rc, 0);
    CHECK_EQ(size_of("512", 1, &rc), 512);
    CHECK_EQ(size_of("4K", MiB, &rc), 4096);
    CHECK_EQ(size_of("4k", MiB, &rc), 4096);
    CHECK_EQ(size_of("2M", 1, &rc), 2 * MiB);
    CHECK_EQ(size_of("2G", 1, &rc), 2 * GiB);
    CHECK_EQ(size_of("1T", 1, &rc), 1ULL << 40);
    CHECK_EQ(size_of("2GiB", 1, &rc), 2 * GiB);
    CHECK_EQ(size_of("2gib", 1, &rc), 2 * GiB);
    CHECK_EQ(size_of("2GB", 1, &rc), 2 * GiB);
    CHECK_EQ(size_of("100B", MiB, &rc), 100);
    CHECK_EQ(size_of("0", MiB, &rc), 0);
    CHECK_EQ(rc, 0);
    CHECK_EQ(size_of("18446744073709551615", 1, &rc), UINT64_MAX);
    CHECK_EQ(rc, 0);
}

TEST(size_errors)
{
    int rc;
    uint64_t v = size_of("", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(v, 0xdead);                         /* untouched on error */
    size_of(NULL, MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("abc", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("-1", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of(" 1", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("+1", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("2X", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("2Gx", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("2GiBs", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("2BiB", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("1.5G", MiB, &rc);
    CHECK_EQ(rc, -EINVAL);
    size_of("99999999999999999999", 1, &rc);     /* beyond 64 bits */
    CHECK_EQ(rc, -ERANGE);
    size_of("16777216T", 1, &rc);                /* 2^64: overflows after scaling */
    CHECK_EQ(rc, -ERANGE);
    size_of("17179869184", GiB, &rc);            /* default unit overflow too */
    CHECK_EQ(rc, -ERANGE);
}

TEST(memory_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    CHECK_EQ(config_parse_memory(&c, "2G", err, sizeof(err)), 0);
    CHECK_EQ(c.memory, 2 * GiB);
    CHECK_EQ(config_parse_memory(&c, "1024", err, sizeof(err)), 0);   /* plain number: MiB */
    CHECK_EQ(c.memory, GiB);
    CHECK_EQ(config_parse_memory(&c, "16M", err, sizeof(err)), 0);    /* the minimum */
    CHECK_EQ(c.memory, 16 * MiB);
    CHECK_EQ(config_parse_memory(&c, "1T", err, sizeof(err)), 0);     /* the maximum */
    CHECK_EQ(c.memory, 1ULL << 40);
    CHECK_EQ(config_parse_memory(&c, "16777221K", err, sizeof(err)), 0);
    CHECK_EQ(c.memory, 16 * GiB + 4096);         /* rounded down to whole pages */
    CHECK_EQ(config_parse_memory(&c, "16777217B", err, sizeof(err)), 0);
    CHECK_EQ(c.memory, 16 * MiB);
    CHECK_EQ(err[0], 0);
}

TEST(memory_option_errors)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    CHECK_EQ(config_parse_memory(&c, "lots", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "'lots'") != NULL);
    err[0] = 0;
    CHECK_EQ(config_parse_memory(&c, "15M", err, sizeof(err)), -ERANGE);
    CHECK(strstr(err, "out of range") != NULL);
    err[0] = 0;
    CHECK_EQ(config_parse_memory(&c, "1025G", err, sizeof(err)), -ERANGE);
    CHECK(err[0] != 0);
    CHECK_EQ(config_parse_memory(&c, "0", err, sizeof(err)), -ERANGE);
    CHECK_EQ(config_parse_memory(&c, "99999999999999999999", err, sizeof(err)), -EINVAL);
    CHECK_EQ(c.memory, 512 * MiB);               /* unchanged by failures */
    /* A tiny error buffer is truncated, never overrun. */
    char small[8];
    memset(small, 'x', sizeof(small));
    CHECK_EQ(config_parse_memory(&c, "nope", small, sizeof(small)), -EINVAL);
    CHECK_EQ(small[7], 0);
}

TEST(cpus_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    CHECK_EQ(config_parse_cpus(&c, "1", err, sizeof(err)), 0);
    CHECK_EQ(c.cpus, 1);
    CHECK_EQ(config_parse_cpus(&c, "8", err, sizeof(err)), 0);
    CHECK_EQ(c.cpus, 8);
    CHECK_EQ(config_parse_cpus(&c, "255", err, sizeof(err)), 0);
    CHECK_EQ(c.cpus, CONFIG_MAX_CPUS);
    const char *bad[] = { "0", "256", "-1", "", "4x", "x", "2.0", "99999999999999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ(config_parse_cpus(&c, bad[i], err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "--cpus") != NULL);
    }
    CHECK_EQ(c.cpus, 255);
}

TEST(serial_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    CHECK_EQ(config_parse_serial(&c, "pty", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_PTY);
    CHECK_EQ(config_parse_serial(&c, "none", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_NONE);
    CHECK_EQ(config_parse_serial(&c, "null", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_NONE);
    CHECK_EQ(config_parse_serial(&c, "file:/tmp/console.log", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_FILE);
    CHECK(!strcmp(c.serial_path, "/tmp/console.log"));
    CHECK_EQ(config_parse_serial(&c, "socket:/run/vm/console.sock", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_SOCKET);
    CHECK(!strcmp(c.serial_path, "/run/vm/console.sock"));
    CHECK(c.serial_log == NULL);
    CHECK_EQ(config_parse_serial(&c, "socket:/run/vm/c.sock,log=/run/vm/c.log", err, sizeof(err)), 0);
    CHECK(!strcmp(c.serial_path, "/run/vm/c.sock"));
    CHECK(c.serial_log && !strcmp(c.serial_log, "/run/vm/c.log"));
    CHECK(config_parse_serial(&c, "socket:", err, sizeof(err)) < 0);
    CHECK(config_parse_serial(&c, "socket:/x,mode=1", err, sizeof(err)) < 0);
    CHECK(config_parse_serial(&c, "socket:/x,log=", err, sizeof(err)) < 0);
    err[0] = 0;
    CHECK_EQ(config_parse_serial(&c, "stdio", err, sizeof(err)), 0);
    CHECK_EQ(c.serial, CONSOLE_STDIO);
    CHECK_EQ(err[0], 0);
}

TEST(serial_option_errors)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256];
    const char *bad[] = { "file:", "file", "tcp:localhost:4444", "", "STDIO", "pty " };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ(config_parse_serial(&c, bad[i], err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "--serial") != NULL);
    }
    CHECK_EQ(c.serial, CONSOLE_STDIO);
}

TEST(validate_boot_sources)
{
    struct vm_config c;
    char err[256];
    config_defaults(&c);
    err[0] = 0;
    /* Nothing to boot: the default firmware, when it is installed. */
    int rc = config_validate(&c, err, sizeof(err));
    if (access(CONFIG_DEFAULT_FIRMWARE, R_OK) == 0) {
        CHECK_EQ(rc, 0);
        CHECK(c.firmware && strcmp(c.firmware, CONFIG_DEFAULT_FIRMWARE) == 0);
    } else {
        CHECK_EQ(rc, -ENOENT);
        CHECK(strstr(err, "install Debian's seabios package") != NULL);
    }
    c.firmware = NULL;
    c.kernel = "bzImage";
    CHECK_EQ(config_validate(&c, err, sizeof(err)), 0);
    c.initrd = "initrd.img";
    c.append = "console=ttyS0";
    CHECK_EQ(config_validate(&c, err, sizeof(err)), 0);
    config_defaults(&c);
    c.firmware = "bios.bin";
    CHECK_EQ(config_validate(&c, err, sizeof(err)), 0);
    c.kernel = "bzImage";
    err[0] = 0;
    CHECK_EQ(config_validate(&c, err, sizeof(err)), -EINVAL);   /* both */
    CHECK(strstr(err, "exclude") != NULL);
}

TEST(validate_initrd_and_append_need_kernel)
{
    struct vm_config c;
    char err[256];
    config_defaults(&c);
    c.initrd = "initrd.img";
    err[0] = 0;
    CHECK_EQ(config_validate(&c, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "--kernel") != NULL);
    config_defaults(&c);
    c.append = "quiet";
    c.firmware = "bios.bin";
    err[0] = 0;
    CHECK_EQ(config_validate(&c, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "--kernel") != NULL);
}

TEST(network_bridge_option)
{
    struct vm_config c;
    char err[256] = "", s1[] = "bridge=vmmbr-lab,mac=52:54:00:aa:bb:cc", s2[] = "bridge=abcdefghijklmnop",
         s3[] = "bridge=", s4[] = "bridge=br0,hostfwd=tcp::1-:2";
    config_defaults(&c);
    CHECK_EQ(config_parse_network(&c, s1, err, sizeof(err)), 0);
    CHECK_EQ(c.nnics, 1);
    CHECK_EQ(c.nics[0].kind, NIC_BRIDGE);
    CHECK(!strcmp(c.nics[0].bridge, "vmmbr-lab"));
    CHECK(c.nics[0].mac_set && c.nics[0].mac[5] == 0xcc);
    CHECK_EQ(config_parse_network(&c, s2, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "at most 15 characters"));
    CHECK_EQ(config_parse_network(&c, s3, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "use user, tap=NAME, bridge=BR or none"));
    CHECK_EQ(config_parse_network(&c, s4, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "option 'hostfwd' is unknown"));
    CHECK_EQ(c.nnics, 1);
}

TEST(cdrom_bus_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    char a[] = "debian.iso", b[] = "/media/a,b.iso,bus=ide", d[] = "x.iso,bus=scsi", e[] = "x.iso,bus=sata",
         f[] = ",bus=ide";
    CHECK_EQ(config_parse_cdrom(&c, a, err, sizeof(err)), 0);
    CHECK(!strcmp(c.cdrom, "debian.iso"));
    CHECK_EQ(c.cdrom_bus, CDROM_BUS_SCSI);
    CHECK_EQ(config_parse_cdrom(&c, b, err, sizeof(err)), 0);
    CHECK(!strcmp(c.cdrom, "/media/a,b.iso"));          /* commas in the path stay */
    CHECK_EQ(c.cdrom_bus, CDROM_BUS_IDE);
    CHECK_EQ(config_parse_cdrom(&c, d, err, sizeof(err)), 0);
    CHECK_EQ(c.cdrom_bus, CDROM_BUS_SCSI);
    CHECK_EQ(config_parse_cdrom(&c, e, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "bus=sata") && strstr(err, "bus=ide"));
    CHECK_EQ(config_parse_cdrom(&c, f, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "needs an ISO"));
}

TEST(disk_queues_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    char a[] = "disk.img", b[] = "data.qcow2,queues=4,cache=none";
    CHECK_EQ(config_parse_disk(&c, a, err, sizeof(err)), 0);
    CHECK_EQ(c.disks[0].queues, 0);            /* one per vCPU, decided when the VM is built */
    CHECK_EQ(config_parse_disk(&c, b, err, sizeof(err)), 0);
    CHECK_EQ(c.disks[1].queues, 4);
    CHECK_EQ(c.disks[1].cache, BLK_CACHE_NONE);
    const char *bad[] = { "d.img,queues=0", "d.img,queues=17", "d.img,queues=two", "d.img,queues=", "d.img,queues=4x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[64];
        snprintf(s, sizeof(s), "%s", bad[i]);
        err[0] = 0;
        CHECK_EQ(config_parse_disk(&c, s, err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "queues") != NULL);
    }
    CHECK_EQ(c.ndisks, 2);
}

TEST(uuid_option)
{
    struct vm_config c;
    config_defaults(&c);
    char err[256] = "";
    CHECK_EQ(config_parse_uuid(&c, "0123abcd-4567-89AB-cdef-0123456789ab", err, sizeof(err)), 0);
    CHECK_EQ(c.uuid_bytes[0], 0x01);
    CHECK_EQ(c.uuid_bytes[3], 0xcd);
    CHECK_EQ(c.uuid_bytes[6], 0x89);
    CHECK_EQ(c.uuid_bytes[15], 0xab);
    const char *bad[] = { "", "0123abcd-4567-89ab-cdef-0123456789a", "0123abcd-4567-89ab-cdef-0123456789abc",
                          "0123abcd04567-89ab-cdef-0123456789ab", "0123abcd-4567-89ab-cdef-0123456789ag" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(config_parse_uuid(&c, bad[i], err, sizeof(err)), -EINVAL);
}
