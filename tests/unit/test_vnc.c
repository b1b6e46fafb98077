/* Unit tests for the VNC server, end to end on 127.0.0.1: a tiny RFB 3.8 client (RFC 6143) does
 * the handshake (no auth and VNC auth), reads ServerInit, asks for framebuffer updates and sends
 * key and pointer events; plus several clients, a busy port, and PPM/PNG screendumps. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>
#include <zlib.h>

#include "devices/display.h"
#include "vmm/loop.h"
#include "vmm/ui/vnc.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define TIMEOUT_MS 5000
#define ENC_RAW 0
#define ENC_DESKTOP_SIZE (-223)

/* ---- the server side: a display, the loop, the server and recorded input ---- */

struct rig {
    struct display d;
    struct event_loop loop;
    struct vnc *v;
    int display_nr;
    int nkeys, last_key;
    bool last_down;
    int npointer, px, py, pbuttons;
    char err[256];
};

static void rec_key(void *ctx, int code, bool down)
{
    struct rig *r = ctx;
    r->nkeys++;
    r->last_key = code;
    r->last_down = down;
}

static void rec_pointer(void *ctx, int x, int y, int buttons)
{
    struct rig *r = ctx;
    r->npointer++;
    r->px = x;
    r->py = y;
    r->pbuttons = buttons;
}

/* Starts on the first free display number from 40 up. */
static int rig_start(struct rig *r, const char *password)
{
    memset(r, 0, sizeof(*r));
    if (display_init(&r->d, NULL) || loop_init(&r->loop))
        return -1;
    struct vnc_input in = { rec_key, rec_pointer, r };
    for (int n = 40; n < 100; n++) {
        struct vnc_options o = { "127.0.0.1", n, password, "test-vm" };
        if (vnc_start(&r->v, &o, &r->d, &in, &r->loop, r->err, sizeof(r->err)) == 0) {
            r->display_nr = n;
            return 0;
        }
    }
    return -1;
}

static void rig_stop(struct rig *r)
{
    vnc_stop(r->v);
    loop_destroy(&r->loop);
    display_destroy(&r->d);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until *counter passes `seen` (or the timeout). */
static bool pump_until(struct rig *r, const int *counter, int seen)
{
    uint64_t deadline = now_ms() + TIMEOUT_MS;
    while (*counter <= seen && now_ms() < deadline)
        loop_poll(&r->loop, 5);
    return *counter > seen;
}

/* ---- the client side ---- */

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads exactly n bytes, running the server's loop while waiting. */
static bool client_read(struct rig *r, int fd, void *buf, size_t n)
{
    size_t got = 0;
    uint64_t deadline = now_ms() + TIMEOUT_MS;
    while (got < n) {
        ssize_t k = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || now_ms() > deadline)
            return false;
        loop_poll(&r->loop, 5);
    }
    return true;
}

static bool client_write(int fd, const void *buf, size_t n)
{
    return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

struct server_init {
    unsigned width, height, bpp;
    char name[64];
};

/* RFC 6143 §7.1-7.3: version, security (None or VNC auth), ClientInit, ServerInit.
 * Returns 0 when in, 1 when the server refused the password, -1 on a protocol error. */
static int client_handshake(struct rig *r, int fd, const char *password, bool shared, struct server_init *si)
{
    char version[12];
    if (!client_read(r, fd, version, 12) || memcmp(version, "RFB 003.008\n", 12) != 0)
        return -1;
    if (!client_write(fd, "RFB 003.008\n", 12))
        return -1;
    uint8_t ntypes, types[16];
    if (!client_read(r, fd, &ntypes, 1) || ntypes == 0 || ntypes > 16 || !client_read(r, fd, types, ntypes))
        return -1;
    uint8_t want = password ? 2 : 1;
    if (!memchr(types, want, ntypes) || !client_write(fd, &want, 1))
        return -1;
    if (password) {
        uint8_t challenge[16];
        char key[9] = { 0 };
        strncpy(key, password, 8);
        if (!client_read(r, fd, challenge, 16))
            return -1;
        rfbEncryptBytes(challenge, key);
        if (!client_write(fd, challenge, 16))
            return -1;
    }
    uint8_t result[4];
    if (!client_read(r, fd, result, 4))
        return -1;
    if (be32(result) != 0)
        return 1;
    uint8_t flag = shared;
    uint8_t init[24];
    if (!client_write(fd, &flag, 1) || !client_read(r, fd, init, 24))
        return -1;
    si->width = be16(init);
    si->height = be16(init + 2);
    si->bpp = init[4];
    uint32_t name_len = be32(init + 20);
    if (name_len >= sizeof(si->name) || !client_read(r, fd, si->name, name_len))
        return -1;
    si->name[name_len] = 0;
    return 0;
}

static bool send_set_encodings(int fd)
{
    uint8_t m[12] = { 2, 0, 0, 2 };
    int32_t encs[2] = { ENC_RAW, ENC_DESKTOP_SIZE };
    for (int i = 0; i < 2; i++) {
        uint32_t e = htonl((uint32_t)encs[i]);
        memcpy(m + 4 + 4 * i, &e, 4);
    }
    return client_write(fd, m, sizeof(m));
}

static bool send_update_request(int fd, bool incremental, unsigned x, unsigned y, unsigned w, unsigned h)
{
    uint8_t m[10] = { 3, incremental, (uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y,
                      (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h };
    return client_write(fd, m, sizeof(m));
}

/* The client's copy of the screen, filled from raw rectangles. */
struct client_fb {
    unsigned width, height;
    uint32_t px[320 * 200];
    int raw_rects, resizes;
};

/* Reads one FramebufferUpdate (§7.6.1) with raw and DesktopSize rectangles. */
static bool read_update(struct rig *r, int fd, struct client_fb *fb)
{
    uint8_t head[4];
    if (!client_read(r, fd, head, 4) || head[0] != 0)
        return false;
    for (unsigned i = 0, n = be16(head + 2); i < n; i++) {
        uint8_t rh[12];
        if (!client_read(r, fd, rh, 12))
            return false;
        unsigned x = be16(rh), y = be16(rh + 2), w = be16(rh + 4), h = be16(rh + 6);
        int32_t enc = (int32_t)be32(rh + 8);
        if (enc == ENC_DESKTOP_SIZE) {
            fb->width = w;
            fb->height = h;
            fb->resizes++;
            continue;
        }
        if (enc != ENC_RAW || x + w > fb->width || y + h > fb->height ||
            (h && (size_t)(y + h - 1) * fb->width + x + w > 320 * 200))
            return false;
        for (unsigned row = 0; row < h; row++)
            if (!client_read(r, fd, fb->px + (y + row) * fb->width + x, (size_t)w * 4))
                return false;
        fb->raw_rects++;
    }
    return true;
}

static bool send_key(int fd, bool down, uint32_t keysym)
{
    uint8_t m[8] = { 4, down, 0, 0 };
    uint32_t k = htonl(keysym);
    memcpy(m + 4, &k, 4);
    return client_write(fd, m, sizeof(m));
}

static bool send_pointer(int fd, uint8_t buttons, unsigned x, unsigned y)
{
    uint8_t m[6] = { 5, buttons, (uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y };
    return client_write(fd, m, sizeof(m));
}

/* ---- guest side: a mode through the DISPI registers, pixels in the framebuffer ---- */

static void dispi_set(struct display *d, unsigned index, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    display_mmio(d, DISPI_MMIO_BASE + 2 * index, b, 2, true);
}

static void guest_set_mode(struct display *d, unsigned w, unsigned h, unsigned bpp)
{
    dispi_set(d, DISPI_ENABLE, 0);
    dispi_set(d, DISPI_BPP, (uint16_t)bpp);
    dispi_set(d, DISPI_XRES, (uint16_t)w);
    dispi_set(d, DISPI_YRES, (uint16_t)h);
    dispi_set(d, DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
}

static uint32_t pattern(unsigned x, unsigned y)
{
    return 0x550000u | (y & 0xff) << 8 | (x & 0xff);
}

static void guest_draw(struct display *d, unsigned w, unsigned h)
{
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++)
            memcpy(d->fb + (size_t)y * w * 4 + x * 4, &(uint32_t){ pattern(x, y) }, 4);
}

/* ---- tests ---- */

TEST(server_init_and_blank_screen)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, NULL), 0);
    CHECK_EQ(vnc_port(r.v), 5900 + r.display_nr);
    int fd = client_connect(vnc_port(r.v));
    CHECK(fd >= 0);
    struct server_init si;
    CHECK_EQ(client_handshake(&r, fd, NULL, true, &si), 0);
    CHECK_EQ(si.width, 640);
    CHECK_EQ(si.height, 480);
    CHECK_EQ(si.bpp, 32);
    CHECK(strcmp(si.name, "test-vm") == 0);
    CHECK_EQ(vnc_client_count(r.v), 1);
    static struct client_fb fb;
    memset(&fb, 0xff, sizeof(fb));
    fb.width = 160;
    fb.height = 120;
    fb.raw_rects = fb.resizes = 0;
    CHECK(send_update_request(fd, false, 0, 0, 8, 2));
    CHECK(read_update(&r, fd, &fb));
    CHECK_EQ(fb.raw_rects, 1);
    CHECK_EQ(fb.px[0], 0);
    CHECK_EQ(fb.px[160 + 7], 0);
    close(fd);
    rig_stop(&r);
}

TEST(updates_follow_mode_and_dirty_pages)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, NULL), 0);
    int fd = client_connect(vnc_port(r.v));
    struct server_init si;
    CHECK_EQ(client_handshake(&r, fd, NULL, true, &si), 0);
    static struct client_fb fb;
    memset(&fb, 0, sizeof(fb));
    fb.width = si.width;
    fb.height = si.height;
    /* Encodings first, confirmed by a 1x1 update, so the resize below is announced. */
    CHECK(send_set_encodings(fd));
    CHECK(send_update_request(fd, false, 0, 0, 1, 1));
    CHECK(read_update(&r, fd, &fb));
    guest_set_mode(&r.d, 320, 200, 32);
    guest_draw(&r.d, 320, 200);
    vnc_refresh(r.v);
    /* The client learns the new size, asks again, and gets the guest's pixels. */
    for (int tries = 0; tries < 4 && fb.raw_rects < 2; tries++) {
        CHECK(send_update_request(fd, false, 0, 0, 16, 4));
        CHECK(read_update(&r, fd, &fb));
    }
    CHECK_EQ(fb.resizes, 1);
    CHECK_EQ(fb.width, 320);
    CHECK_EQ(fb.height, 200);
    CHECK_EQ(fb.raw_rects, 2);
    for (unsigned y = 0; y < 4; y++)
        for (unsigned x = 0; x < 16; x++)
            CHECK_EQ(fb.px[y * 320 + x], pattern(x, y));
    /* The guest writes a line; the timer finds the dirty page and sends it. */
    for (unsigned x = 0; x < 320; x++)
        memcpy(r.d.fb + 150 * 1280 + x * 4, &(uint32_t){ 0xabcdef }, 4);
    CHECK(send_update_request(fd, true, 0, 140, 320, 20));
    int before = fb.raw_rects;
    CHECK(read_update(&r, fd, &fb));
    CHECK(fb.raw_rects > before);
    CHECK_EQ(fb.px[150 * 320 + 0], 0xabcdef);
    CHECK_EQ(fb.px[150 * 320 + 319], 0xabcdef);
    /* Those lines are clean for the client now: only the dirty scan can bring this change. */
    memcpy(r.d.fb + 145 * 1280 + 200 * 4, &(uint32_t){ 0x123456 }, 4);
    CHECK(send_update_request(fd, true, 0, 140, 320, 20));
    CHECK(read_update(&r, fd, &fb));
    CHECK_EQ(fb.px[145 * 320 + 200], 0x123456);
    /* A 16 bpp mode goes through the private copy. */
    guest_set_mode(&r.d, 64, 32, 16);
    r.d.fb[0] = 0x00;
    r.d.fb[1] = 0xf8;                                   /* r5g6b5 red at (0,0) */
    vnc_refresh(r.v);
    for (int tries = 0; tries < 4 && fb.width != 64; tries++) {
        CHECK(send_update_request(fd, false, 0, 0, 1, 1));
        CHECK(read_update(&r, fd, &fb));
    }
    CHECK_EQ(fb.width, 64);
    before = fb.raw_rects;
    CHECK(send_update_request(fd, false, 0, 0, 2, 1));
    CHECK(read_update(&r, fd, &fb));
    CHECK(fb.raw_rects > before);
    CHECK_EQ(fb.px[0], 0xff0000);
    CHECK_EQ(fb.px[1], 0);
    close(fd);
    rig_stop(&r);
}

TEST(keys_and_pointer_reach_the_input_backend)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, NULL), 0);
    int fd = client_connect(vnc_port(r.v));
    struct server_init si;
    CHECK_EQ(client_handshake(&r, fd, NULL, true, &si), 0);
    CHECK(send_key(fd, true, 0x12345678));              /* unknown keysym: dropped */
    CHECK(send_key(fd, true, 'a'));
    CHECK(pump_until(&r, &r.nkeys, 0));
    CHECK_EQ(r.nkeys, 1);
    CHECK_EQ(r.last_key, KEY_A);
    CHECK(r.last_down);
    CHECK(send_key(fd, false, 'a'));
    CHECK(pump_until(&r, &r.nkeys, 1));
    CHECK_EQ(r.last_key, KEY_A);
    CHECK(!r.last_down);
    CHECK(send_key(fd, true, 0xff0d));                  /* XK_Return */
    CHECK(pump_until(&r, &r.nkeys, 2));
    CHECK_EQ(r.last_key, KEY_ENTER);
    CHECK(send_pointer(fd, 1, 100, 50));
    CHECK(pump_until(&r, &r.npointer, 0));
    CHECK_EQ(r.px, 100);
    CHECK_EQ(r.py, 50);
    CHECK_EQ(r.pbuttons, 1);
    CHECK(send_pointer(fd, 4, 5000, 479));              /* clamped to the 640x480 screen */
    CHECK(pump_until(&r, &r.npointer, 1));
    CHECK_EQ(r.px, 639);
    CHECK_EQ(r.py, 479);
    CHECK_EQ(r.pbuttons, 4);
    close(fd);
    rig_stop(&r);
}

TEST(vnc_auth_password)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, "secret"), 0);
    int fd = client_connect(vnc_port(r.v));
    struct server_init si;
    CHECK_EQ(client_handshake(&r, fd, "secret", true, &si), 0);
    CHECK_EQ(si.width, 640);
    int bad = client_connect(vnc_port(r.v));
    CHECK_EQ(client_handshake(&r, bad, "wrong", true, &si), 1);
    close(bad);
    int none = client_connect(vnc_port(r.v));
    CHECK_EQ(client_handshake(&r, none, NULL, true, &si), -1);     /* "None" is not offered */
    close(none);
    /* The authenticated client still works. */
    static struct client_fb fb;
    memset(&fb, 0, sizeof(fb));
    fb.width = 640;
    fb.height = 100;
    CHECK(send_update_request(fd, false, 0, 0, 4, 1));
    CHECK(read_update(&r, fd, &fb));
    CHECK_EQ(fb.raw_rects, 1);
    close(fd);
    rig_stop(&r);
}

TEST(two_clients_at_once)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, NULL), 0);
    guest_set_mode(&r.d, 320, 200, 32);
    guest_draw(&r.d, 320, 200);
    vnc_refresh(r.v);
    int a = client_connect(vnc_port(r.v)), b = client_connect(vnc_port(r.v));
    struct server_init si;
    CHECK_EQ(client_handshake(&r, a, NULL, true, &si), 0);
    CHECK_EQ(si.width, 320);
    CHECK_EQ(client_handshake(&r, b, NULL, false, &si), 0);    /* not shared: still no one kicked */
    CHECK_EQ(si.height, 200);
    CHECK_EQ(vnc_client_count(r.v), 2);
    static struct client_fb fa, fbb;
    memset(&fa, 0, sizeof(fa));
    memset(&fbb, 0, sizeof(fbb));
    fa.width = fbb.width = 320;
    fa.height = fbb.height = 200;
    CHECK(send_update_request(a, false, 10, 10, 4, 4));
    CHECK(send_update_request(b, false, 20, 20, 4, 4));
    CHECK(read_update(&r, a, &fa));
    CHECK(read_update(&r, b, &fbb));
    CHECK_EQ(fa.px[10 * 320 + 10], pattern(10, 10));
    CHECK_EQ(fbb.px[23 * 320 + 23], pattern(23, 23));
    /* One leaves; the other carries on. */
    close(a);
    uint64_t deadline = now_ms() + TIMEOUT_MS;
    while (vnc_client_count(r.v) != 1 && now_ms() < deadline)
        loop_poll(&r.loop, 5);
    CHECK_EQ(vnc_client_count(r.v), 1);
    CHECK(send_update_request(b, false, 0, 0, 2, 2));
    CHECK(read_update(&r, b, &fbb));
    CHECK_EQ(fbb.px[320 + 1], pattern(1, 1));
    /* Stopping with a client connected disconnects it. */
    rig_stop(&r);
    char c;
    CHECK_EQ(recv(b, &c, 1, 0), 0);
    close(b);
}

TEST(busy_port_and_bad_options)
{
    struct rig r;
    CHECK_EQ(rig_start(&r, NULL), 0);
    struct vnc *other = NULL;
    char err[256] = "";
    struct vnc_options o = { "127.0.0.1", r.display_nr, NULL, NULL };
    CHECK(vnc_start(&other, &o, &r.d, NULL, &r.loop, err, sizeof(err)) < 0);
    CHECK(other == NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", vnc_port(r.v));
    CHECK(strstr(err, port) != NULL);
    CHECK(strstr(err, "in use") != NULL);
    CHECK(strstr(err, "display") != NULL);
    o.listen = "not-an-address";
    o.display = r.display_nr + 1;
    CHECK_EQ(vnc_start(&other, &o, &r.d, NULL, &r.loop, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "not-an-address") != NULL);
    o.listen = NULL;
    o.display = -2;
    CHECK_EQ(vnc_start(&other, &o, &r.d, NULL, &r.loop, err, sizeof(err)), -EINVAL);
    /* -1: the first free display, which is not the busy one. */
    o.listen = "127.0.0.1";
    o.display = -1;
    CHECK_EQ(vnc_start(&other, &o, &r.d, NULL, &r.loop, err, sizeof(err)), 0);
    CHECK(other && vnc_port(other) >= 5900 && vnc_port(other) != vnc_port(r.v));
    int afd = other ? client_connect(vnc_port(other)) : -1;
    CHECK(afd >= 0);
    if (afd >= 0)
        close(afd);
    vnc_stop(other);
    other = NULL;
    o.listen = NULL;
    o.display = 70000;
    CHECK_EQ(vnc_start(&other, &o, &r.d, NULL, &r.loop, err, sizeof(err)), -EINVAL);
    /* The first server is unharmed. */
    int fd = client_connect(vnc_port(r.v));
    struct server_init si;
    CHECK_EQ(client_handshake(&r, fd, NULL, true, &si), 0);
    close(fd);
    rig_stop(&r);
    vnc_stop(NULL);
}

/* ---- screendumps ---- */

static size_t read_file(const char *path, uint8_t *buf, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

TEST(screendump_ppm)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vmm-test-%d.ppm", (int)getpid());
    static uint8_t buf[1 << 20];
    CHECK_EQ(vnc_screendump(&d, path), 0);                  /* no mode yet: black 640x480 */
    size_t n = read_file(path, buf, sizeof(buf));
    CHECK_EQ(n, 15 + 640 * 480 * 3);
    CHECK(memcmp(buf, "P6\n640 480\n255\n", 15) == 0);
    guest_set_mode(&d, 320, 200, 32);
    guest_draw(&d, 320, 200);
    CHECK_EQ(vnc_screendump(&d, path), 0);
    n = read_file(path, buf, sizeof(buf));
    CHECK_EQ(n, 15 + 320 * 200 * 3);
    CHECK(memcmp(buf, "P6\n320 200\n255\n", 15) == 0);
    const uint8_t *px = buf + 15 + (7 * 320 + 9) * 3;      /* (9, 7) */
    CHECK_EQ(px[0], 0x55);
    CHECK_EQ(px[1], 7);
    CHECK_EQ(px[2], 9);
    unlink(path);
    CHECK_EQ(vnc_screendump(&d, "/nonexistent-dir/x.ppm"), -ENOENT);
    display_destroy(&d);
}

TEST(screendump_png)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    guest_set_mode(&d, 320, 200, 32);
    guest_draw(&d, 320, 200);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vmm-test-%d.png", (int)getpid());
    CHECK_EQ(vnc_screendump(&d, path), 0);
    static uint8_t buf[1 << 20], raw[200 * (1 + 320 * 3)];
    size_t n = read_file(path, buf, sizeof(buf));
    unlink(path);
    CHECK(n > 8 + 25 + 12 + 12);
    CHECK(memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0);
    /* IHDR */
    CHECK_EQ(be32(buf + 8), 13);
    CHECK(memcmp(buf + 12, "IHDR", 4) == 0);
    CHECK_EQ(be32(buf + 16), 320);
    CHECK_EQ(be32(buf + 20), 200);
    CHECK_EQ(buf[24], 8);
    CHECK_EQ(buf[25], 2);
    CHECK_EQ(be32(buf + 29), (uint32_t)crc32(0, buf + 12, 17));
    /* IDAT: inflate and look at a pixel. */
    size_t at = 33;
    uint32_t zlen = be32(buf + at);
    CHECK(memcmp(buf + at + 4, "IDAT", 4) == 0);
    CHECK(at + 12 + zlen <= n);
    CHECK_EQ(be32(buf + at + 8 + zlen), (uint32_t)crc32(0, buf + at + 4, zlen + 4));
    uLongf rawlen = sizeof(raw);
    CHECK_EQ(uncompress(raw, &rawlen, buf + at + 8, zlen), Z_OK);
    CHECK_EQ(rawlen, sizeof(raw));
    const uint8_t *row = raw + 7 * (1 + 320 * 3);
    CHECK_EQ(row[0], 0);                                    /* filter: none */
    CHECK_EQ(row[1 + 9 * 3], 0x55);
    CHECK_EQ(row[1 + 9 * 3 + 1], 7);
    CHECK_EQ(row[1 + 9 * 3 + 2], 9);
    /* IEND */
    at += 12 + zlen;
    CHECK_EQ(n, at + 12);
    CHECK(memcmp(buf + at + 4, "IEND", 4) == 0);
    display_destroy(&d);
}
