/* Unit tests for VM management: definitions (round trip, hostile files), option lists, MACs, pidfiles. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/kvlist.h"
#include "vmm/manage/pidfile.h"
#include "vmm/manage/vmdef.h"
#include "tests/unit/check.h"

TEST_MAIN()

static char home[64];

static void remove_home(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    if (home[0] && system(cmd)) {
        /* best effort */
    }
}

static void fresh_home(void)
{
    static bool registered;
    if (!registered)
        atexit(remove_home);
    registered = true;
    remove_home();
    snprintf(home, sizeof(home), "/tmp/vmm-manage-test.XXXXXX");
    if (!mkdtemp(home))
        abort();
    setenv("VMM_HOME", home, 1);
    char dir[256], err[256];
    if (home_dir(dir, sizeof(dir), err, sizeof(err)))
        abort();
}

static void write_def(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/vms/%s.json", home, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

TEST(kvlist_splits_and_honours_quotes)
{
    char s[] = "kernel=/b/vmlinuz,initrd=/b/initrd,kernel_args=\"console=ttyS0 a=1,b\",flag";
    char *cur = s, *k, *v;
    CHECK(kv_next(&cur, &k, &v));
    CHECK(!strcmp(k, "kernel") && !strcmp(v, "/b/vmlinuz"));
    CHECK(kv_next(&cur, &k, &v));
    CHECK(!strcmp(k, "initrd") && !strcmp(v, "/b/initrd"));
    CHECK(kv_next(&cur, &k, &v));
    CHECK(!strcmp(k, "kernel_args") && !strcmp(v, "console=ttyS0 a=1,b"));
    CHECK(kv_next(&cur, &k, &v));
    CHECK(!strcmp(k, "flag") && v == NULL);
    CHECK(!kv_next(&cur, &k, &v));
}

TEST(kvlist_unterminated_quote_stays_in_bounds)
{
    char s[] = "a=\"open,b=2";
    char *cur = s, *k, *v;
    CHECK(kv_next(&cur, &k, &v));
    CHECK(!strcmp(k, "a") && !strcmp(v, "open,b=2"));
    CHECK(!kv_next(&cur, &k, &v));
}

TEST(mac_validation)
{
    CHECK(vmdef_mac_valid("52:54:00:12:34:56"));
    CHECK(!vmdef_mac_valid("53:54:00:12:34:56")); /* multicast */
    CHECK(!vmdef_mac_valid("52:54:00:12:34"));
    CHECK(!vmdef_mac_valid("52:54:00:12:34:56:78"));
    CHECK(!vmdef_mac_valid("zz:54:00:12:34:56"));
    CHECK(!vmdef_mac_valid("52-54-00-12-34-56"));
    char mac[18];
    for (int i = 0; i < 20; i++) {
        vmdef_new_mac(mac);
        CHECK(vmdef_mac_valid(mac));
        CHECK(!strncmp(mac, "52:54:00:", 9));
    }
}

TEST(uuid_is_version_4)
{
    char a[37], b[37];
    vmdef_new_uuid(a);
    vmdef_new_uuid(b);
    CHECK_EQ(strlen(a), 36);
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
    CHECK(strcmp(a, b) != 0);
}

TEST(names)
{
    CHECK(name_valid("vm-1.test_x"));
    CHECK(!name_valid(""));
    CHECK(!name_valid("-x"));
    CHECK(!name_valid(".hidden"));
    CHECK(!name_valid("a/b"));
    CHECK(!name_valid("012345678901234567890123456789012"));
}

TEST(definition_round_trip)
{
    fresh_home();
    static struct vmdef d, back;
    char err[512];
    vmdef_init(&d, "rt");
    d.memory_mib = 2048;
    d.vcpus = 4;
    d.ndisks = 2;
    snprintf(d.disks[0].path, sizeof(d.disks[0].path), "/images/a \"quoted\".qcow2");
    snprintf(d.disks[0].format, sizeof(d.disks[0].format), "qcow2");
    snprintf(d.disks[0].target, sizeof(d.disks[0].target), "vda");
    snprintf(d.disks[1].path, sizeof(d.disks[1].path), "/images/b.img");
    snprintf(d.disks[1].target, sizeof(d.disks[1].target), "vdb");
    d.disks[1].readonly = true;
    d.nnics = 1;
    snprintf(d.nics[0].type, sizeof(d.nics[0].type), "network");
    snprintf(d.nics[0].source, sizeof(d.nics[0].source), "lab");
    snprintf(d.nics[0].mac, sizeof(d.nics[0].mac), "52:54:00:aa:bb:cc");
    snprintf(d.cmdline, sizeof(d.cmdline), "console=ttyS0 root=/dev/vda");
    snprintf(d.kernel, sizeof(d.kernel), "/boot/vmlinuz");
    d.vnc_port = 5905;
    snprintf(d.vnc_password, sizeof(d.vnc_password), "s3cret");
    CHECK_EQ(vmdef_save(&d, err, sizeof(err)), 0);
    CHECK(vmdef_exists("rt"));
    CHECK_EQ(vmdef_load("rt", &back, err, sizeof(err)), 0);
    CHECK(!strcmp(back.uuid, d.uuid));
    CHECK_EQ(back.memory_mib, 2048);
    CHECK_EQ(back.vcpus, 4);
    CHECK_EQ(back.ndisks, 2);
    CHECK(!strcmp(back.disks[0].path, d.disks[0].path));
    CHECK(back.disks[1].readonly);
    CHECK(!strcmp(back.nics[0].source, "lab"));
    CHECK(!strcmp(back.nics[0].mac, "52:54:00:aa:bb:cc"));
    CHECK(!strcmp(back.cmdline, d.cmdline));
    CHECK_EQ(back.vnc_port, 5905);
    CHECK(back.vnc);
    char names[8][64];
    CHECK_EQ(vmdef_list(names, 8, err, sizeof(err)), 1);
    CHECK(!strcmp(names[0], "rt"));
    CHECK_EQ(vmdef_remove("rt", err, sizeof(err)), 0);
    CHECK(!vmdef_exists("rt"));
    CHECK_EQ(vmdef_load("rt", &back, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "no VM named 'rt'") != NULL);
}

TEST(hostile_definitions_are_refused)
{
    fresh_home();
    static struct vmdef d;
    char err[512], big[9000];
    static const char *const bad[] = {
        "not json",
        "[1,2,3]",
        "{\"vcpus\": 0}",
        "{\"vcpus\": 100000}",
        "{\"memory_mib\": -5}",
        "{\"memory_mib\": \"lots\"}",
        "{\"disks\": {\"path\": \"/x\"}}",
        "{\"disks\": [{\"format\": \"raw\"}]}",
        "{\"disks\": [1]}",
        "{\"nics\": [{\"mac\": 5}]}",
        "{\"graphics\": {\"type\": \"vnc\", \"port\": 99999}}",
        "{\"uuid\": \"0123456789012345678901234567890123456789\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_def("bad", bad[i]);
        CHECK_EQ(vmdef_load("bad", &d, err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "is not valid") != NULL);
    }
    /* 17 disks: more than a definition holds */
    int n = snprintf(big, sizeof(big), "{\"disks\": [");
    for (int i = 0; i < 17; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%s{\"path\": \"/d%d\"}", i ? "," : "", i);
    snprintf(big + n, sizeof(big) - (size_t)n, "]}");
    write_def("bad", big);
    CHECK_EQ(vmdef_load("bad", &d, err, sizeof(err)), -EINVAL);
    /* a path longer than a definition holds */
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"cdrom\": \"", 11);
    memcpy(big + 8990, "\"}", 3);
    write_def("bad", big);
    CHECK_EQ(vmdef_load("bad", &d, err, sizeof(err)), -EINVAL);
    CHECK_EQ(vmdef_load("../etc", &d, err, sizeof(err)), -EINVAL);
}

TEST(next_target_skips_used)
{
    static struct vmdef d;
    char t[8];
    vmdef_init(&d, "t");
    vmdef_next_target(&d, t);
    CHECK(!strcmp(t, "vda"));
    d.ndisks = 2;
    snprintf(d.disks[0].target, sizeof(d.disks[0].target), "vda");
    snprintf(d.disks[1].target, sizeof(d.disks[1].target), "vdc");
    vmdef_next_target(&d, t);
    CHECK(!strcmp(t, "vdb"));
}

TEST(pidfile_lock_tracks_a_live_owner)
{
    fresh_home();
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/pid", home);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        char e[256];
        int fd = pidfile_acquire(path, e, sizeof(e));
        char c = fd >= 0 ? 'y' : 'n';
        if (write(fds[1], &c, 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    char c = 0;
    CHECK_EQ(read(fds[0], &c, 1), 1);
    CHECK_EQ(c, 'y');
    CHECK_EQ(pidfile_owner(path), child);
    CHECK(pidfile_acquire(path, err, sizeof(err)) < 0);
    CHECK(strstr(err, "already running") != NULL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_EQ(pidfile_owner(path), 0); /* the file is stale, the lock went with the process */
    int fd = pidfile_acquire(path, err, sizeof(err));
    CHECK(fd >= 0);
    CHECK_EQ(pidfile_owner(path), getpid());
    pidfile_release(fd, path);
    CHECK(access(path, F_OK) != 0);
}

TEST(atomic_write_replaces_whole_file)
{
    fresh_home();
    char path[128], err[256], buf[64] = "";
    snprintf(path, sizeof(path), "%s/f", home);
    CHECK_EQ(write_file_atomic(path, "first version\n", 14, 0600, err, sizeof(err)), 0);
    CHECK_EQ(write_file_atomic(path, "second\n", 7, 0600, err, sizeof(err)), 0);
    int fd = open(path, O_RDONLY);
    CHECK_EQ(read(fd, buf, sizeof(buf) - 1), 7);
    close(fd);
    CHECK(!strcmp(buf, "second\n"));
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
}
