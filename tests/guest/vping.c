/* Test guest "vping": broadcasts a frame carrying its MAC every 100 ms and reports each other MAC it hears. */
#include "rt.h"
#include "netdev.h"
#include "io.h"

#define ETHERTYPE_VPING 0x88b5        /* IEEE 802 Local Experimental Ethertype 1 */
#define MAGIC "vping"
#define MAGIC_LEN 5
#define PAYLOAD (MAGIC_LEN + 6)       /* magic, then the sender's MAC */
#define SEND_EVERY_US 100000
#define DEFAULT_SECS 60
#define MAX_SECS 3600
#define MAX_PEERS 16

static struct netdev net;
static uint8_t peers[MAX_PEERS][6];
static int npeers;
static unsigned sent;

static NORETURN void fail(const char *what)
{
    printf("vping: FAIL %s\n", what);
    poweroff();
}

/* How long to run: the PVH command-line word "secs=N" (1-3600), else 60 s. */
static unsigned run_seconds(void)
{
    const char *p = boot.cmdline;
    for (size_t i = 0; i < 4096 && p[i]; i++) {
        if ((i > 0 && p[i - 1] != ' ') || memcmp(p + i, "secs=", 5) != 0)
            continue;
        unsigned v = 0;
        for (const char *d = p + i + 5; *d >= '0' && *d <= '9' && v <= MAX_SECS; d++)
            v = v * 10 + (unsigned)(*d - '0');
        return v >= 1 && v <= MAX_SECS ? v : DEFAULT_SECS;
    }
    return DEFAULT_SECS;
}

static void send_beacon(void)
{
    static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t *f = netdev_tx_frame();
    memcpy(f, broadcast, 6);
    memcpy(f + 6, net.mac, 6);
    f[12] = ETHERTYPE_VPING >> 8;
    f[13] = ETHERTYPE_VPING & 0xff;
    memcpy(f + NETDEV_ETH_HDR, MAGIC, MAGIC_LEN);
    memcpy(f + NETDEV_ETH_HDR + MAGIC_LEN, net.mac, 6);
    const char *err = netdev_send(NETDEV_ETH_HDR + PAYLOAD);
    if (err)
        fail(err);
    sent++;
}

static bool known(const uint8_t mac[6])
{
    for (int i = 0; i < npeers; i++)
        if (memcmp(peers[i], mac, 6) == 0)
            return true;
    return false;
}

/* A beacon from another guest: right type, magic, and the MAC inside matches the source. */
static void handle_frame(const uint8_t *f, size_t len)
{
    const uint8_t *src = f + 6, *payload = f + NETDEV_ETH_HDR;
    if (len < NETDEV_ETH_HDR + PAYLOAD || f[12] != (ETHERTYPE_VPING >> 8) || f[13] != (ETHERTYPE_VPING & 0xff))
        return;
    if (memcmp(payload, MAGIC, MAGIC_LEN) != 0 || memcmp(payload + MAGIC_LEN, src, 6) != 0)
        return;
    if (memcmp(src, net.mac, 6) == 0 || known(src) || npeers == MAX_PEERS)
        return;
    memcpy(peers[npeers++], src, 6);
    printf("vping: heard ");
    netdev_print_mac(src);
    printf("\n");
}

int main(void)
{
    unsigned secs = run_seconds();
    const char *err = netdev_open(&net);
    if (err)
        fail(err);
    printf("vping: mac ");
    netdev_print_mac(net.mac);
    printf(", beacon every 100 ms for %u s\n", secs);
    uint64_t start = time_us(), last = 0;
    bool first = true;
    while (time_us() - start < (uint64_t)secs * 1000000) {
        uint64_t now = time_us();
        if (first || now - last >= SEND_EVERY_US) {
            send_beacon();
            last = now;
            first = false;
        }
        if ((err = netdev_receive(handle_frame)) != NULL)
            fail(err);
        cpu_relax();
    }
    netdev_close(&net);
    printf("vping: done, sent %u, heard %d\n", sent, npeers);
    return 0;
}
