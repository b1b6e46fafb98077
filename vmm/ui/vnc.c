/* VNC server over the bochs-display framebuffer: libvncserver (RFB 3.8, RFC 6143) driven from the
 * event loop, dirty pages -> updates, keys and pointer -> the input backend; screendumps. */
#include "vnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rfb/rfb.h>
#include <zlib.h>

#include "devices/display.h"
#include "devices/keymap.h"
#include "vmm/log.h"
#include "vmm/loop.h"

/* Shown before the guest sets a mode (and while it has none). */
#define BLANK_WIDTH 640
#define BLANK_HEIGHT 480
#define MAX_DIRTY_RECTS 64
/* A client stalled mid-message (or not draining its socket) holds the loop at most this long. */
#define CLIENT_WAIT_MS 5000

struct vnc {
    rfbScreenInfoPtr screen;
    struct display *display;
    struct vnc_input input;
    struct event_loop *loop;
    int port;
    int timer_fd;
    int listen_fds[2];              /* IPv4 and IPv6 listening sockets registered with the loop */
    char *name, *listen6;
    char *passwords[2];             /* NULL-terminated list for rfbCheckPasswordByList */
    /* What the screen shows now. */
    bool configured;
    uint32_t generation;
    struct display_mode mode;
    bool direct;                    /* frameBuffer points into the guest framebuffer (32 bpp) */
    uint32_t *converted;            /* else: private x8r8g8b8 copy (blank, or 8/15/16/24 bpp) */
    bool full_refresh;              /* a client arrived: resend everything */
    int clients;
    uint64_t dirty[DISPLAY_BITMAP_WORDS];
};

/* Per-client record: the socket we registered with the loop. */
struct vnc_client {
    struct vnc *vnc;
    int fd;
};

/* ---- libvncserver's log goes to our trace (it is chatty); errno survives ---- */

static void rfb_log_to_trace(const char *fmt, ...)
{
    int saved = errno;
    if (log_trace_enabled) {
        char line[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        line[strcspn(line, "\n")] = 0;
        log_trace("vnc: %s", line);
    }
    errno = saved;
}

/* ---- the framebuffer libvncserver sends from ---- */

/* 32 bpp modes are little-endian x8r8g8b8 in guest memory; our private copies use it too. */
static void set_server_format(rfbScreenInfoPtr s)
{
    s->serverFormat.redShift = 16;
    s->serverFormat.greenShift = 8;
    s->serverFormat.blueShift = 0;
    s->serverFormat.redMax = s->serverFormat.greenMax = s->serverFormat.blueMax = 255;
    rfbClientIteratorPtr it = rfbGetClientIterator(s);
    for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
        s->setTranslateFunction(cl);
    rfbReleaseClientIterator(it);
}

static void convert_rows(struct vnc *v, unsigned y0, unsigned y1)
{
    for (unsigned y = y0; y < y1 && y < v->mode.height; y++)
        display_convert_row(&v->mode, v->display->fb, 0, y, v->mode.width, v->converted + (size_t)y * v->mode.width);
}

/* libvncserver's server-side scaling (a client's SetScale) keeps copies sized for the old screen
 * and reads the framebuffer with their geometry: such clients are dropped when the size changes. */
static void drop_scaled_clients(rfbScreenInfoPtr s)
{
    rfbClientIteratorPtr it = rfbGetClientIterator(s);
    for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it));)
        if (cl->scaledScreen && cl->scaledScreen != s)
            rfbCloseClient(cl);
    rfbReleaseClientIterator(it);
}

/* Points the screen at the mode `m` (or a blank screen); resizes clients only when the size changes
 * (a page flip through the offsets moves the pointer, nothing more). */
static int screen_follow_mode(struct vnc *v, const struct display_mode *m)
{
    unsigned w = m->enabled ? m->width : BLANK_WIDTH, h = m->enabled ? m->height : BLANK_HEIGHT;
    bool direct = m->enabled && m->bpp == 32;
    uint32_t *converted = NULL;
    if (!direct && !(converted = calloc((size_t)w * h, sizeof(uint32_t))))
        return -ENOMEM;
    char *fb = direct ? (char *)v->display->fb + m->offset : (char *)converted;
    rfbScreenInfoPtr s = v->screen;
    if (!v->configured || s->width != (int)w || s->height != (int)h) {
        drop_scaled_clients(s);
        rfbNewFramebuffer(s, fb, (int)w, (int)h, 8, 3, 4);
        set_server_format(s);
    } else {
        s->frameBuffer = fb;
    }
    s->paddedWidthInBytes = direct ? (int)m->stride : (int)w * 4;
    free(v->converted);
    v->converted = converted;
    v->direct = direct;
    v->mode = *m;
    v->configured = true;
    if (!direct && m->enabled)
        convert_rows(v, 0, h);
    rfbMarkRectAsModified(s, 0, 0, (int)w, (int)h);
    return 0;
}

static void mark_all(struct vnc *v)
{
    if (!v->direct && v->mode.enabled)
        convert_rows(v, 0, v->mode.height);
    rfbMarkRectAsModified(v->screen, 0, 0, v->screen->width, v->screen->height);
}

static void send_dirty(struct vnc *v)
{
    if (display_get_dirty(v->display, v->dirty) < 0) {
        mark_all(v);
        return;
    }
    struct display_rect rects[MAX_DIRTY_RECTS];
    int n = display_dirty_rects(&v->mode, v->dirty, rects, MAX_DIRTY_RECTS);
    for (int i = 0; i < n; i++) {
        if (!v->direct)
            convert_rows(v, rects[i].y, rects[i].y + rects[i].h);
        rfbMarkRectAsModified(v->screen, (int)rects[i].x, (int)rects[i].y, (int)(rects[i].x + rects[i].w),
                              (int)(rects[i].y + rects[i].h));
    }
}

void vnc_refresh(struct vnc *v)
{
    struct display_mode m;
    uint32_t generation = display_get_mode(v->display, &m);
    if (!v->configured || generation != v->generation) {
        if (screen_follow_mode(v, &m) == 0) {
            v->generation = generation;
            display_get_dirty(v->display, v->dirty);    /* restart the log from this picture */
        }
    } else if (v->mode.enabled && v->clients > 0) {
        if (v->full_refresh)
            mark_all(v);
        send_dirty(v);
    }
    v->full_refresh = false;
    rfbProcessEvents(v->screen, 0);
}

/* ---- the event loop drives libvncserver: sockets readable -> process, timer -> updates ---- */

static void on_socket(void *ctx, uint32_t events)
{
    struct vnc *v = ctx;
    (void)events;
    rfbProcessEvents(v->screen, 0);
}

static void on_timer(void *ctx, uint32_t events)
{
    struct vnc *v = ctx;
    uint64_t expirations;
    (void)events;
    if (read(v->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    vnc_refresh(v);
}

static void client_gone(rfbClientPtr cl)
{
    struct vnc_client *c = cl->clientData;
    if (!c)
        return;
    loop_remove(c->vnc->loop, c->fd);
    c->vnc->clients--;
    cl->clientData = NULL;
    free(c);
}

static enum rfbNewClientAction client_new(rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    struct vnc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return RFB_CLIENT_REFUSE;
    *c = (struct vnc_client){ v, cl->sock };
    loop_remove(v->loop, c->fd);        /* a stale entry left by a closed socket with this number */
    if (loop_add(v->loop, c->fd, EPOLLIN, on_socket, v) < 0) {
        free(c);
        return RFB_CLIENT_REFUSE;
    }
    cl->clientData = c;
    cl->clientGoneHook = client_gone;
    v->clients++;
    v->full_refresh = true;
    return RFB_CLIENT_ACCEPT;
}

/* ---- input: keysym -> Linux key code; pointer clamped to the screen ---- */

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    int code = keymap_keysym_to_linux((uint32_t)keysym);
    if (code >= 0 && v->input.key)
        v->input.key(v->input.ctx, code, down != 0);
}

static void on_pointer(int buttons, int x, int y, rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    rfbScreenInfoPtr s = cl->screen;
    x = x < 0 ? 0 : x >= s->width ? s->width - 1 : x;
    y = y < 0 ? 0 : y >= s->height ? s->height - 1 : y;
    if (v->input.pointer)
        v->input.pointer(v->input.ctx, x, y, buttons);
}

/* ---- start and stop ---- */

static int set_listen_address(struct vnc *v, const char *addr, char *err, size_t errlen)
{
    struct in_addr a4;
    struct in6_addr a6;
    rfbScreenInfoPtr s = v->screen;
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        s->listenInterface = a4.s_addr;
        s->port = v->port;
        s->ipv6port = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &a6) == 1 && (v->listen6 = strdup(addr))) {
        s->listen6Interface = v->listen6;
        s->port = 0;
        s->ipv6port = v->port;
        return 0;
    }
    snprintf(err, errlen, "vnc: '%s' is not an IPv4 or IPv6 address", addr);
    return -EINVAL;
}

static int configure_screen(struct vnc *v, const struct vnc_options *o, char *err, size_t errlen)
{
    rfbScreenInfoPtr s = v->screen;
    v->name = strdup(o->name ? o->name : "vmm");
    if (!v->name)
        return -ENOMEM;
    s->desktopName = v->name;
    s->screenData = v;
    s->autoPort = FALSE;                /* its autoprobe would also listen on every IPv6 address */
    s->alwaysShared = TRUE;             /* every client sees the screen; none kicks the others */
    s->cursor = NULL;                   /* never draw a cursor into guest memory */
    s->deferUpdateTime = 0;             /* the timer already batches */
    s->deferPtrUpdateTime = 0;
    s->maxClientWait = CLIENT_WAIT_MS;
    s->kbdAddEvent = on_key;
    s->ptrAddEvent = on_pointer;
    s->newClientHook = client_new;
    if (o->password && o->password[0]) {
        if (!(v->passwords[0] = strdup(o->password)))
            return -ENOMEM;
        s->authPasswdData = v->passwords;
        s->passwordCheck = rfbCheckPasswordByList;
    }
    return set_listen_address(v, o->listen ? o->listen : "127.0.0.1", err, errlen);
}

static int start_listening(struct vnc *v, const char *addr, int display, char *err, size_t errlen)
{
    rfbScreenInfoPtr s = v->screen;
    errno = 0;
    rfbInitServer(s);
    int e = errno;
    if (s->listenSock == RFB_INVALID_SOCKET && s->listen6Sock == RFB_INVALID_SOCKET) {
        if (e == EADDRINUSE)
            snprintf(err, errlen, "vnc: port %d on %s (display :%d) is already in use; choose another display number (e.g. :%d)",
                     v->port, addr, display, display + 1);
        else
            snprintf(err, errlen, "vnc: cannot listen on %s port %d (display :%d): %s", addr, v->port, display,
                     strerror(e ? e : EIO));
        return e ? -e : -EIO;
    }
    int socks[2] = { s->listenSock, s->listen6Sock };
    for (int i = 0; i < 2; i++) {
        if (socks[i] == RFB_INVALID_SOCKET)
            continue;
        int rc = loop_add(v->loop, socks[i], EPOLLIN, on_socket, v);
        if (rc < 0) {
            snprintf(err, errlen, "vnc: cannot watch the listening socket: %s", strerror(-rc));
            return rc;
        }
        v->listen_fds[i] = socks[i];
    }
    return 0;
}

/* The first display from :0 whose port on the IPv4 address `addr` is free (-1: none up to :99). */
static int free_display(const char *addr)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
        return -1;
    for (int d = 0; d < 100; d++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0)
            return -1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        a.sin_port = htons((uint16_t)(VNC_PORT_BASE + d));
        int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
        close(fd);
        if (rc == 0)
            return d;
    }
    return -1;
}

int vnc_start(struct vnc **out, const struct vnc_options *o, struct display *d, const struct vnc_input *in,
              struct event_loop *loop, char *err, size_t errlen)
{
    *out = NULL;
    if (o->display < -1 || o->display > 65535 - VNC_PORT_BASE) {
        snprintf(err, errlen, "vnc: display number %d out of range (0..%d)", o->display, 65535 - VNC_PORT_BASE);
        return -EINVAL;
    }
    rfbLog = rfb_log_to_trace;
    rfbErr = rfb_log_to_trace;
    struct vnc *v = calloc(1, sizeof(*v));
    if (!v || !(v->screen = rfbGetScreen(NULL, NULL, BLANK_WIDTH, BLANK_HEIGHT, 8, 3, 4))) {
        free(v);
        snprintf(err, errlen, "vnc: out of memory");
        return -ENOMEM;
    }
    v->display = d;
    v->loop = loop;
    const char *addr = o->listen ? o->listen : "127.0.0.1";
    int display = o->display >= 0 ? o->display : free_display(addr);
    v->port = VNC_PORT_BASE + display;
    v->timer_fd = v->listen_fds[0] = v->listen_fds[1] = -1;
    if (in)
        v->input = *in;
    int rc = configure_screen(v, o, err, errlen);
    if (!rc && display < 0) {
        snprintf(err, errlen, "vnc: no free display on %s from :0 to :99 (an IPv4 address is needed for a free display to be found)", addr);
        rc = -EADDRINUSE;
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "vnc: out of memory");
    if (!rc && (rc = screen_follow_mode(v, &(struct display_mode){ .enabled = false })) < 0)
        snprintf(err, errlen, "vnc: out of memory");
    if (!rc)
        rc = start_listening(v, addr, display, err, errlen);
    if (!rc && (rc = v->timer_fd = loop_add_timer(loop, VNC_UPDATE_MS, VNC_UPDATE_MS, on_timer, v)) < 0)
        snprintf(err, errlen, "vnc: cannot start the update timer: %s", strerror(-rc));
    if (rc < 0) {
        v->timer_fd = -1;
        vnc_stop(v);
        return rc;
    }
    v->configured = false;              /* the first refresh follows the guest's mode */
    *out = v;
    return 0;
}

void vnc_stop(struct vnc *v)
{
    if (!v)
        return;
    if (v->timer_fd >= 0) {
        loop_remove(v->loop, v->timer_fd);
        close(v->timer_fd);
    }
    for (int i = 0; i < 2; i++)
        if (v->listen_fds[i] >= 0)
            loop_remove(v->loop, v->listen_fds[i]);
    rfbShutdownServer(v->screen, TRUE);
    rfbScreenCleanup(v->screen);
    free(v->converted);
    free(v->passwords[0]);
    free(v->listen6);
    free(v->name);
    free(v);
}

int vnc_port(const struct vnc *v)
{
    return v->port;
}

int vnc_client_count(const struct vnc *v)
{
    return v->clients;
}

/* ---- screendumps: PPM (netpbm P6) or PNG (ISO/IEC 15948, RGB 8-bit, zlib compress) ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* PNG chunk (§5.3): length, type, data, CRC-32 over type and data. */
static bool png_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t head[8], tail[4];
    put_be32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0, head + 4, 4);
    if (len)
        crc = crc32(crc, data, len);
    put_be32(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (!len || fwrite(data, 1, len, f) == len) && fwrite(tail, 1, 4, f) == 4;
}

/* `rows`: height scanlines, each a filter byte (0, none) and width * 3 RGB bytes. */
static int write_png(FILE *f, unsigned w, unsigned h, const uint8_t *rows, size_t rows_len)
{
    static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    uint8_t ihdr[13] = { 0 };
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8;                /* bit depth */
    ihdr[9] = 2;                /* colour type: truecolour */
    uLongf zlen = compressBound(rows_len);
    uint8_t *z = malloc(zlen);
    if (!z)
        return -ENOMEM;
    int rc = compress2(z, &zlen, rows, rows_len, 6) == Z_OK ? 0 : -ENOMEM;
    if (!rc && !(fwrite(signature, 1, 8, f) == 8 && png_chunk(f, "IHDR", ihdr, 13) &&
                 png_chunk(f, "IDAT", z, (uint32_t)zlen) && png_chunk(f, "IEND", NULL, 0)))
        rc = -EIO;
    free(z);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* RGB rows of the current screen; with `filter_byte` each row starts with a 0 (PNG). */
static uint8_t *screen_rgb(struct display *d, unsigned *w, unsigned *h, bool filter_byte, size_t *len)
{
    struct display_mode m;
    display_get_mode(d, &m);
    *w = m.enabled ? m.width : BLANK_WIDTH;
    *h = m.enabled ? m.height : BLANK_HEIGHT;
    size_t row_len = (size_t)*w * 3 + filter_byte;
    *len = row_len * *h;
    uint8_t *rgb = calloc(1, *len);
    uint32_t *px = calloc(*w, sizeof(uint32_t));
    if (!rgb || !px) {
        free(rgb);
        free(px);
        return NULL;
    }
    for (unsigned y = 0; m.enabled && y < *h; y++) {
        display_convert_row(&m, d->fb, 0, y, *w, px);
        uint8_t *out = rgb + y * row_len + filter_byte;
        for (unsigned x = 0; x < *w; x++, out += 3) {
            out[0] = (uint8_t)(px[x] >> 16);
            out[1] = (uint8_t)(px[x] >> 8);
            out[2] = (uint8_t)px[x];
        }
    }
    free(px);
    return rgb;
}

int vnc_screendump(struct display *d, const char *path)
{
    bool ppm = ends_with(path, ".ppm");
    unsigned w, h;
    size_t len;
    uint8_t *rgb = screen_rgb(d, &w, &h, !ppm, &len);
    if (!rgb)
        return -ENOMEM;
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        free(rgb);
        return -e;
    }
    int rc;
    if (ppm)
        rc = fprintf(f, "P6\n%u %u\n255\n", w, h) > 0 && fwrite(rgb, 1, len, f) == len ? 0 : -EIO;
    else
        rc = write_png(f, w, h, rgb, len);
    if (fclose(f) != 0 && rc == 0)
        rc = -EIO;
    free(rgb);
    return rc;
}
