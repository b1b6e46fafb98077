/* Per-VM control socket: a UNIX stream socket speaking a subset of QMP (QEMU Machine Protocol). */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct control;
struct event_loop;
struct json_object;

#define CONTROL_MAX_CLIENTS 8            /* connections beyond this are closed at once */
#define CONTROL_MAX_REQUEST (64 * 1024)  /* bytes of one JSON request; longer ones are refused */
#define CONTROL_MAX_OUTPUT (256 * 1024)  /* queued reply/event bytes per client; beyond: dropped */

/* What the VM provides; every hook runs on the loop thread and may be NULL ("not supported").
 * Hooks may call control_event() (e.g. pause emits STOP) but never control_stop(). */
struct control_ops {
    int (*pause)(void *ctx);                 /* "stop": 0 or -errno */
    int (*resume)(void *ctx);                /* "cont": 0 or -errno */
    bool (*running)(void *ctx);              /* "query-status" */
    void (*powerdown)(void *ctx);            /* "system_powerdown": press the ACPI power button */
    void (*reset)(void *ctx);                /* "system_reset" */
    void (*quit)(void *ctx);                 /* "quit": called after the reply is queued */
    /* "screendump": write the screen to `path` (PNG; PPM when the name ends in ".ppm");
     * 0 or <0 with a one-line reason in err. */
    int (*screendump)(void *ctx, const char *path, char *err, size_t errlen);
    /* "query-block": append one object per disk to `array` (see control_add_block). */
    void (*query_block)(void *ctx, struct json_object *array);
    /* "query-vnc": fill `obj` (see control_set_vnc); without the hook: {"enabled": false}. */
    void (*query_vnc)(void *ctx, struct json_object *obj);
    const char *uuid;                        /* "query-uuid" (NULL: all zeros, as QEMU without -uuid) */
    void *ctx;
};

/* Input: JSON requests, any whitespace between them. A malformed or over-long request gets a
 * GenericError "JSON parse error, ..." and the rest of its line is dropped; a 0xFF byte (never
 * valid UTF-8) therefore resets the parser at any point. Output lines end in CRLF.
 *
 * Listens on the UNIX socket `path` (mode 0600) and serves clients from `loop`. Refuses a path
 * that is a live socket ("control socket PATH is in use") or not a socket at all; replaces a
 * stale socket. On failure returns <0 and writes a one-line reason to err. */
int control_start(struct control **out, const char *path, const struct control_ops *ops,
                  struct event_loop *loop, char *err, size_t errlen);
/* Flushes what it can without waiting, closes every client, unlinks the socket, frees. NULL is fine. */
void control_stop(struct control *c);
/* Sends the event NAME with `data` (an object, may be NULL; always consumed) to every client
 * that has negotiated capabilities. SHUTDOWN makes query-status say "shutdown" until RESET or
 * RESUME. `c` may be NULL (no control socket): the data is just released. */
void control_event(struct control *c, const char *name, struct json_object *data);
/* How many clients are connected (negotiated or not). */
int control_client_count(const struct control *c);

/* Helpers for the hooks. One query-block entry: {"device", "locked": false, "removable",
 * "tray_open"?: false, "inserted": {"file", "ro", "drv", ...}}; file == NULL: nothing inserted. */
void control_add_block(struct json_object *array, const char *device, const char *file, bool readonly,
                       const char *drv, bool removable);
/* query-vnc fields: {"enabled", "host", "family", "service", "auth", "clients": []}. */
void control_set_vnc(struct json_object *obj, bool enabled, const char *host, const char *service,
                     const char *auth);

#endif
