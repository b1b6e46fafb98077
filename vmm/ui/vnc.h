/* VNC server (RFB 3.8 through libvncserver) over the bochs-display framebuffer, with input out. */
#ifndef VMM_UI_VNC_H
#define VMM_UI_VNC_H

#include <stdbool.h>
#include <stddef.h>

struct display;
struct event_loop;
struct vnc;

#define VNC_PORT_BASE 5900
#define VNC_UPDATE_MS 30            /* how often the dirty log is read and updates are sent */

struct vnc_options {
    const char *listen;             /* IPv4 or IPv6 address; NULL: 127.0.0.1 */
    int display;                    /* TCP port VNC_PORT_BASE + display; -1: the first free one */
    const char *password;           /* NULL or "": no authentication; else VNC auth (8 chars used) */
    const char *name;               /* desktop name; NULL: "vmm" */
};

/* Where input goes (on the event-loop thread). Either callback may be NULL.
 * key: a Linux KEY_* code (linux/input-event-codes.h), pressed or released.
 * pointer: absolute position in pixels of the current screen, and the RFB button mask
 * (bit 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down). */
struct vnc_input {
    void (*key)(void *ctx, int linux_keycode, bool down);
    void (*pointer)(void *ctx, int x, int y, int buttons);
    void *ctx;
};

/* Listens on listen:5900+display and serves any number of clients from `loop` (sockets and a
 * VNC_UPDATE_MS timer; libvncserver runs on the loop thread only). On failure returns <0 and
 * writes a one-line reason to err. */
int vnc_start(struct vnc **out, const struct vnc_options *o, struct display *d, const struct vnc_input *in,
              struct event_loop *loop, char *err, size_t errlen);
/* Disconnects every client, closes the listening socket, frees. NULL is fine. */
void vnc_stop(struct vnc *v);
/* The TCP port listened on. */
int vnc_port(const struct vnc *v);
/* How many clients are connected. */
int vnc_client_count(const struct vnc *v);
/* One update round, as the timer does it: follows mode changes, reads the dirty pages, marks the
 * changed rectangles and sends pending updates. */
void vnc_refresh(struct vnc *v);

/* Writes the current screen of `d` (black 640x480 when no mode is set) to `path`: binary PPM (P6)
 * when the name ends in ".ppm", PNG otherwise. Returns 0 or -errno. */
int vnc_screendump(struct display *d, const char *path);

#endif
