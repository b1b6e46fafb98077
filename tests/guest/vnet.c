/* Test guest "vnet": the first virtio-net device resolves its peer with ARP and pings it (ICMP echo). */
#include "rt.h"
#include "netdev.h"
#include "io.h"

#define ETH_HDR NETDEV_ETH_HDR
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_BYTES 28                  /* RFC 826 for Ethernet and IPv4 */
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define IPV4_HDR 20                   /* RFC 791, no options */
#define IP_PROTO_ICMP 1
#define ICMP_ECHO_REPLY 0             /* RFC 792 */
#define ICMP_ECHO_REQUEST 8
#define ICMP_HDR 8
#define PING_ID 0x766d                /* "vm" */
#define PING_PAYLOAD 32

#define ARP_TIMEOUT_US 10000000
#define PING_TIMEOUT_US 5000000
#define RESEND_US 1000000

static struct netdev net;
static uint8_t *const my_mac = net.mac;
static uint8_t peer_mac[6];
static uint8_t my_ip[4] = { 10, 0, 2, 15 }, peer_ip[4] = { 10, 0, 2, 2 };
static bool peer_known, ping_answered;
static uint16_t ping_seq;

static NORETURN void fail(const char *what)
{
    printf("vnet: FAIL %s\n", what);
    poweroff();
}

/* ---- small helpers ---- */

static void put16(uint8_t *p, uint16_t v) /* network byte order */
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The Internet checksum (RFC 1071) over len bytes. */
static uint16_t inet_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void print_ip(const uint8_t ip[4])
{
    printf("%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
}

static void print_mac(const uint8_t mac[6])
{
    netdev_print_mac(mac);
}

/* "A.B.C.D" up to a space or the end; false if malformed. */
static bool parse_ipv4(const char *s, uint8_t out[4])
{
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return false;
        out[part] = (uint8_t)v;
        if (part < 3 && *s++ != '.')
            return false;
    }
    return *s == 0 || *s == ' ';
}

/* The value of the command-line word "key=..." (key includes the '='), or NULL. */
static const char *cmdline_value(const char *key)
{
    size_t klen = strlen(key);
    const char *p = boot.cmdline;
    for (size_t i = 0; i < 4096 && p[i]; i++) {
        if ((i == 0 || p[i - 1] == ' ') && memcmp(p + i, key, klen) == 0)
            return p + i + klen;
    }
    return NULL;
}

static void read_addresses(void)
{
    const char *ip = cmdline_value("ip="), *peer = cmdline_value("peer=");
    if (ip && !parse_ipv4(ip, my_ip))
        fail("bad ip= on the command line");
    if (peer && !parse_ipv4(peer, peer_ip))
        fail("bad peer= on the command line");
}

/* ---- the device ---- */

static void net_open(void)
{
    const char *err = netdev_open(&net);
    if (err)
        fail(err);
    printf("vnet: pci 00:%02x.%u, registers at 0x%lx, mac ", net.pci.slot, net.pci.func,
           (unsigned long)net.dev.common);
    print_mac(my_mac);
    printf(", ip ");
    print_ip(my_ip);
    printf(", peer ");
    print_ip(peer_ip);
    printf("\n");
}

static void send_frame(size_t len)
{
    const char *err = netdev_send(len);
    if (err)
        fail(err);
}

static uint8_t *eth_header(const uint8_t dst[6], uint16_t type)
{
    uint8_t *f = netdev_tx_frame();
    memcpy(f, dst, 6);
    memcpy(f + 6, my_mac, 6);
    put16(f + 12, type);
    return f + ETH_HDR;
}

/* ---- ARP (RFC 826) ---- */

static void send_arp(uint16_t op, const uint8_t dst_mac[6], const uint8_t target_mac[6], const uint8_t target_ip[4])
{
    uint8_t *a = eth_header(dst_mac, ETHERTYPE_ARP);
    put16(a, 1);                /* hardware: Ethernet */
    put16(a + 2, ETHERTYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, my_mac, 6);
    memcpy(a + 14, my_ip, 4);
    memcpy(a + 18, target_mac, 6);
    memcpy(a + 24, target_ip, 4);
    send_frame(ETH_HDR + ARP_BYTES);
}

static void handle_arp(const uint8_t *a, size_t len)
{
    if (len < ARP_BYTES || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4)
        return;
    uint16_t op = get16(a + 6);
    const uint8_t *sender_mac = a + 8, *sender_ip = a + 14, *target_ip = a + 24;
    if (op == ARP_REPLY && memcmp(sender_ip, peer_ip, 4) == 0 && !peer_known) {
        memcpy(peer_mac, sender_mac, 6);
        peer_known = true;
    } else if (op == ARP_REQUEST && memcmp(target_ip, my_ip, 4) == 0) {
        uint8_t mac[6], ip[4];
        memcpy(mac, sender_mac, 6);
        memcpy(ip, sender_ip, 4);
        send_arp(ARP_REPLY, mac, mac, ip);
    }
}

/* ---- IPv4 (RFC 791) and ICMP echo (RFC 792) ---- */

static void send_ping(void)
{
    uint8_t *ip = eth_header(peer_mac, ETHERTYPE_IPV4);
    size_t icmp_len = ICMP_HDR + PING_PAYLOAD;
    memset(ip, 0, IPV4_HDR);
    ip[0] = 0x45;               /* version 4, 5 words */
    put16(ip + 2, (uint16_t)(IPV4_HDR + icmp_len));
    put16(ip + 4, ping_seq);    /* identification */
    ip[8] = 64;                 /* TTL */
    ip[9] = IP_PROTO_ICMP;
    memcpy(ip + 12, my_ip, 4);
    memcpy(ip + 16, peer_ip, 4);
    put16(ip + 10, inet_checksum(ip, IPV4_HDR));
    uint8_t *icmp = ip + IPV4_HDR;
    icmp[0] = ICMP_ECHO_REQUEST;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, PING_ID);
    put16(icmp + 6, ping_seq);
    for (int i = 0; i < PING_PAYLOAD; i++)
        icmp[ICMP_HDR + i] = (uint8_t)('a' + i % 26);
    put16(icmp + 2, inet_checksum(icmp, icmp_len));
    send_frame(ETH_HDR + IPV4_HDR + icmp_len);
    ping_seq++;
}

static void handle_ipv4(const uint8_t *ip, size_t len)
{
    if (len < IPV4_HDR || (ip[0] >> 4) != 4)
        return;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4, total = get16(ip + 2);
    if (ihl < IPV4_HDR || total < ihl || total > len || ip[9] != IP_PROTO_ICMP)
        return;
    if (memcmp(ip + 12, peer_ip, 4) != 0 || memcmp(ip + 16, my_ip, 4) != 0)
        return;
    const uint8_t *icmp = ip + ihl;
    size_t icmp_len = total - ihl;
    if (icmp_len >= ICMP_HDR && icmp[0] == ICMP_ECHO_REPLY && get16(icmp + 4) == PING_ID &&
        inet_checksum(icmp, icmp_len) == 0)
        ping_answered = true;
}

/* ---- receive ---- */

static void handle_frame(const uint8_t *f, size_t len)
{
    if (len < ETH_HDR)
        return;
    bool to_me = memcmp(f, my_mac, 6) == 0;
    bool broadcast = f[0] == 0xff && f[1] == 0xff && f[2] == 0xff && f[3] == 0xff && f[4] == 0xff && f[5] == 0xff;
    if (!to_me && !broadcast)
        return;
    uint16_t type = get16(f + 12);
    if (type == ETHERTYPE_ARP)
        handle_arp(f + ETH_HDR, len - ETH_HDR);
    else if (type == ETHERTYPE_IPV4 && to_me)
        handle_ipv4(f + ETH_HDR, len - ETH_HDR);
}

/* Handles every received frame, returning each buffer to the device. */
static void receive(void)
{
    const char *err = netdev_receive(handle_frame);
    if (err)
        fail(err);
}

/* Calls send every RESEND_US until *done or timeout_us passes. */
static bool exchange(void (*send)(void), volatile bool *done, uint64_t timeout_us)
{
    uint64_t start = time_us(), last_send = 0;
    bool sent = false;
    while (!*done) {
        uint64_t now = time_us();
        if (now - start >= timeout_us)
            return false;
        if (!sent || now - last_send >= RESEND_US) {
            send();
            sent = true;
            last_send = now;
        }
        receive();
        cpu_relax();
    }
    return true;
}

static void send_arp_request(void)
{
    static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, unknown[6] = { 0 };
    send_arp(ARP_REQUEST, broadcast, unknown, peer_ip);
}

int main(void)
{
    read_addresses();
    net_open();
    if (!exchange(send_arp_request, &peer_known, ARP_TIMEOUT_US)) {
        printf("vnet: FAIL no ARP reply from ");
        print_ip(peer_ip);
        printf("\n");
        poweroff();
    }
    printf("vnet: peer ");
    print_ip(peer_ip);
    printf(" is at ");
    print_mac(peer_mac);
    printf("\n");
    bool ok = exchange(send_ping, &ping_answered, PING_TIMEOUT_US);
    printf("vnet: ping ");
    print_ip(peer_ip);
    printf(ok ? " ok\n" : " no reply\n");
    netdev_close(&net);
    printf("vnet: done\n");
    return 0;
}
