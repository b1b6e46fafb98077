/* Per-VM control socket: a UNIX stream socket speaking a subset of QMP (QEMU Machine Protocol).
 * Protocol per QEMU docs/interop/qmp-spec.rst: greeting (2.2), capabilities negotiation (4),
 * commands and responses (2.3, 2.4), asynchronous events (2.5); command shapes per the QAPI
 * schema (qapi/run-state.json, block-core.json, ui.json, control.json, misc.json). */
#define _GNU_SOURCE
#include "vmm/control.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/loop.h"

#ifndef VMM_VERSION
#define VMM_VERSION "0.1.0"
#endif

#define READ_CHUNK 4096
#define OUTPUT_HIGH_WATER (64 * 1024)   /* stop reading requests while this much output waits */

struct client {
    struct control *control;
    int fd;
    uint32_t watched;                   /* the epoll events currently registered */
    bool negotiated;                    /* qmp_capabilities done (qmp-spec 4) */
    bool dead;                          /* freed by reap_dead() once no callback is using it */
    struct json_tokener *tok;
    bool in_value;                      /* the tokener holds part of a request */
    bool discarding;                    /* skipping input up to the next newline after an error */
    size_t value_bytes;                 /* bytes of the current request fed so far */
    char *out;                          /* CONTROL_MAX_OUTPUT bytes, allocated with the client */
    size_t out_len;
};

struct control {
    int listen_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct event_loop *loop;
    struct control_ops ops;
    struct client *clients[CONTROL_MAX_CLIENTS];
    int dispatching;                    /* >0 while a client callback runs: defer frees */
    bool shutdown;                      /* a SHUTDOWN event was sent */
};

/* ---- output ---------------------------------------------------------------------------------- */

static void on_client(void *ctx, uint32_t events);

/* Read requests unless too much output waits; wait for writability while output waits. */
static void client_update_watch(struct client *cl)
{
    if (cl->dead)
        return;
    uint32_t want = cl->out_len ? EPOLLOUT : 0;
    if (cl->out_len < OUTPUT_HIGH_WATER)
        want |= EPOLLIN;
    if (want == cl->watched)
        return;
    loop_remove(cl->control->loop, cl->fd);
    if (loop_add(cl->control->loop, cl->fd, want, on_client, cl) < 0) {
        cl->dead = true;
        cl->watched = 0;
        return;
    }
    cl->watched = want;
}

/* Writes what the socket takes now; a failed send (peer gone) marks the client dead. */
static void client_flush(struct client *cl)
{
    size_t done = 0;
    while (done < cl->out_len && !cl->dead) {
        ssize_t n = send(cl->fd, cl->out + done, cl->out_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            cl->dead = true;
    }
    memmove(cl->out, cl->out + done, cl->out_len - done);
    cl->out_len -= done;
}

/* Queues one JSON message and a CRLF (qmp-spec 2.1); a client whose queue overflows is dropped. */
static void client_send(struct client *cl, struct json_object *msg)
{
    if (cl->dead)
        return;
    size_t len;
    const char *text = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!text || len + 2 > CONTROL_MAX_OUTPUT - cl->out_len) {
        cl->dead = true;
        return;
    }
    memcpy(cl->out + cl->out_len, text, len);
    memcpy(cl->out + cl->out_len + len, "\r\n", 2);
    cl->out_len += len + 2;
    client_flush(cl);
    client_update_watch(cl);
}

static void send_return(struct client *cl, struct json_object *id, struct json_object *value)
{
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "return", value ? value : json_object_new_object());
    if (id)
        json_object_object_add(msg, "id", json_object_get(id));
    client_send(cl, msg);
    json_object_put(msg);
}

__attribute__((format(printf, 4, 5)))
static void send_error(struct client *cl, struct json_object *id, const char *cls, const char *fmt, ...)
{
    char desc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    struct json_object *err = json_object_new_object();
    json_object_object_add(err, "class", json_object_new_string(cls));
    json_object_object_add(err, "desc", json_object_new_string(desc));
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "error", err);
    if (id)
        json_object_object_add(msg, "id", json_object_get(id));
    client_send(cl, msg);
    json_object_put(msg);
}

static struct json_object *version_object(void)
{
    struct json_object *qemu = json_object_new_object();
    json_object_object_add(qemu, "micro", json_object_new_int(0));
    json_object_object_add(qemu, "minor", json_object_new_int(0));
    json_object_object_add(qemu, "major", json_object_new_int(0));
    struct json_object *v = json_object_new_object();
    json_object_object_add(v, "qemu", qemu);
    json_object_object_add(v, "package", json_object_new_string("vmm " VMM_VERSION));
    return v;
}

/* qmp-spec 2.2 "Server Greeting". */
static void send_greeting(struct client *cl)
{
    struct json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version_object());
    json_object_object_add(qmp, "capabilities", json_object_new_array());
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "QMP", qmp);
    client_send(cl, msg);
    json_object_put(msg);
}

/* ---- commands -------------------------------------------------------------------------------- */

struct request {
    struct client *cl;
    struct json_object *id;     /* borrowed, may be NULL */
    struct json_object *args;   /* borrowed, may be NULL */
};

struct command {
    const char *name;
    void (*run)(struct control *c, const struct request *r);
    const char *const *params;  /* accepted argument names, NULL-terminated; NULL: none */
    const char *const *required;
};

static const char *arg_string(const struct request *r, const char *name)
{
    struct json_object *v;
    if (!r->args || !json_object_object_get_ex(r->args, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void not_supported(const struct request *r, const char *what)
{
    send_error(r->cl, r->id, "GenericError", "%s is not supported by this VM", what);
}

static void cmd_capabilities(struct control *c, const struct request *r)
{
    (void)c;
    struct json_object *enable;
    if (r->args && json_object_object_get_ex(r->args, "enable", &enable)) {
        if (!json_object_is_type(enable, json_type_array)) {
            send_error(r->cl, r->id, "GenericError", "Invalid parameter type for 'enable', expected: array");
            return;
        }
        if (json_object_array_length(enable) > 0) {
            struct json_object *first = json_object_array_get_idx(enable, 0);
            send_error(r->cl, r->id, "GenericError", "Capability '%s' not available",
                       json_object_is_type(first, json_type_string) ? json_object_get_string(first) : "?");
            return;
        }
    }
    r->cl->negotiated = true;
    send_return(r->cl, r->id, NULL);
}

static const char *run_state(struct control *c, bool *running)
{
    *running = !c->shutdown && (!c->ops.running || c->ops.running(c->ops.ctx));
    if (c->shutdown)
        return "shutdown";
    return *running ? "running" : "paused";
}

/* qapi/run-state.json StatusInfo. */
static void cmd_query_status(struct control *c, const struct request *r)
{
    bool running;
    const char *status = run_state(c, &running);
    struct json_object *v = json_object_new_object();
    json_object_object_add(v, "status", json_object_new_string(status));
    json_object_object_add(v, "singlestep", json_object_new_boolean(0));
    json_object_object_add(v, "running", json_object_new_boolean(running));
    send_return(r->cl, r->id, v);
}

static void reply_rc(const struct request *r, int rc, const char *what)
{
    if (rc < 0)
        send_error(r->cl, r->id, "GenericError", "%s failed: %s", what, strerror(-rc));
    else
        send_return(r->cl, r->id, NULL);
}

static void cmd_stop(struct control *c, const struct request *r)
{
    if (!c->ops.pause)
        return not_supported(r, "stop");
    reply_rc(r, c->ops.pause(c->ops.ctx), "stop");
}

static void cmd_cont(struct control *c, const struct request *r)
{
    if (!c->ops.resume)
        return not_supported(r, "cont");
    reply_rc(r, c->ops.resume(c->ops.ctx), "cont");
}

static void cmd_powerdown(struct control *c, const struct request *r)
{
    if (!c->ops.powerdown)
        return not_supported(r, "system_powerdown");
    c->ops.powerdown(c->ops.ctx);
    send_return(r->cl, r->id, NULL);
}

static void cmd_reset(struct control *c, const struct request *r)
{
    if (!c->ops.reset)
        return not_supported(r, "system_reset");
    c->ops.reset(c->ops.ctx);
    send_return(r->cl, r->id, NULL);
}

/* The reply goes out first, as QEMU answers "quit" before it exits. */
static void cmd_quit(struct control *c, const struct request *r)
{
    if (!c->ops.quit)
        return not_supported(r, "quit");
    send_return(r->cl, r->id, NULL);
    c->ops.quit(c->ops.ctx);
}

static void cmd_query_block(struct control *c, const struct request *r)
{
    struct json_object *list = json_object_new_array();
    if (c->ops.query_block)
        c->ops.query_block(c->ops.ctx, list);
    send_return(r->cl, r->id, list);
}

static void cmd_query_vnc(struct control *c, const struct request *r)
{
    struct json_object *info = json_object_new_object();
    if (c->ops.query_vnc)
        c->ops.query_vnc(c->ops.ctx, info);
    if (!json_object_object_get_ex(info, "enabled", NULL))
        json_object_object_add(info, "enabled", json_object_new_boolean(0));
    send_return(r->cl, r->id, info);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* qapi/ui.json screendump: filename, optional device/head (the one display), format png|ppm. */
static void cmd_screendump(struct control *c, const struct request *r)
{
    const char *file = arg_string(r, "filename");
    const char *format = arg_string(r, "format");
    if (!file || !*file) {
        send_error(r->cl, r->id, "GenericError", "Parameter 'filename' expects a non-empty string");
        return;
    }
    if (format && strcmp(format, "png") != 0 && strcmp(format, "ppm") != 0) {
        send_error(r->cl, r->id, "GenericError", "Parameter 'format' does not accept value '%s'", format);
        return;
    }
    if (format && (strcmp(format, "ppm") == 0) != ends_with(file, ".ppm")) {
        send_error(r->cl, r->id, "GenericError", "format '%s' needs a file name %s in '.ppm'",
                   format, strcmp(format, "ppm") == 0 ? "ending" : "not ending");
        return;
    }
    if (!c->ops.screendump)
        return not_supported(r, "screendump");
    char err[256] = "";
    int rc = c->ops.screendump(c->ops.ctx, file, err, sizeof(err));
    if (rc < 0)
        send_error(r->cl, r->id, "GenericError", "%s", err[0] ? err : strerror(-rc));
    else
        send_return(r->cl, r->id, NULL);
}

static void cmd_query_version(struct control *c, const struct request *r)
{
    (void)c;
    send_return(r->cl, r->id, version_object());
}

/* qapi/machine.json UuidInfo. */
static void cmd_query_uuid(struct control *c, const struct request *r)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "UUID", json_object_new_string(c->ops.uuid ? c->ops.uuid : "00000000-0000-0000-0000-000000000000"));
    send_return(r->cl, r->id, o);
}

static void cmd_query_commands(struct control *c, const struct request *r);

static const char *const no_params[] = { NULL };
static const char *const capabilities_params[] = { "enable", NULL };
static const char *const screendump_params[] = { "filename", "device", "head", "format", NULL };
static const char *const screendump_required[] = { "filename", NULL };

static const struct command commands[] = {
    { "qmp_capabilities", cmd_capabilities, capabilities_params, no_params },
    { "query-status", cmd_query_status, no_params, no_params },
    { "stop", cmd_stop, no_params, no_params },
    { "cont", cmd_cont, no_params, no_params },
    { "system_powerdown", cmd_powerdown, no_params, no_params },
    { "system_reset", cmd_reset, no_params, no_params },
    { "quit", cmd_quit, no_params, no_params },
    { "query-block", cmd_query_block, no_params, no_params },
    { "query-vnc", cmd_query_vnc, no_params, no_params },
    { "screendump", cmd_screendump, screendump_params, screendump_required },
    { "query-commands", cmd_query_commands, no_params, no_params },
    { "query-version", cmd_query_version, no_params, no_params },
    { "query-uuid", cmd_query_uuid, no_params, no_params },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* qapi/control.json CommandInfo list. */
static void cmd_query_commands(struct control *c, const struct request *r)
{
    (void)c;
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < NCOMMANDS; i++) {
        struct json_object *info = json_object_new_object();
        json_object_object_add(info, "name", json_object_new_string(commands[i].name));
        json_object_array_add(list, info);
    }
    send_return(r->cl, r->id, list);
}

static bool in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* Argument names against the command's parameter list (QEMU's wording for the errors). */
static bool check_params(const struct command *cmd, const struct request *r)
{
    if (r->args) {
        json_object_object_foreach(r->args, key, val) {
            (void)val;
            if (!in_list(cmd->params, key)) {
                send_error(r->cl, r->id, "GenericError", "Parameter '%s' is unexpected", key);
                return false;
            }
        }
    }
    for (const char *const *p = cmd->required; *p; p++)
        if (!r->args || !json_object_object_get_ex(r->args, *p, NULL)) {
            send_error(r->cl, r->id, "GenericError", "Parameter '%s' is missing", *p);
            return false;
        }
    return true;
}

/* The request's members (qmp-spec 2.3): execute, arguments?, id?; anything else is an error. */
static bool parse_request(struct client *cl, struct json_object *msg, struct request *r, const char **name)
{
    *r = (struct request){ .cl = cl };
    if (!json_object_is_type(msg, json_type_object)) {
        send_error(cl, NULL, "GenericError", "QMP input must be a JSON object");
        return false;
    }
    json_object_object_get_ex(msg, "id", &r->id);
    json_object_object_foreach(msg, key, val) {
        (void)val;
        if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
            send_error(cl, r->id, "GenericError", "QMP input member '%s' is unexpected", key);
            return false;
        }
    }
    struct json_object *exec;
    if (!json_object_object_get_ex(msg, "execute", &exec)) {
        send_error(cl, r->id, "GenericError", "QMP input lacks member 'execute'");
        return false;
    }
    if (!json_object_is_type(exec, json_type_string)) {
        send_error(cl, r->id, "GenericError", "QMP input member 'execute' must be a string");
        return false;
    }
    if (json_object_object_get_ex(msg, "arguments", &r->args) && !json_object_is_type(r->args, json_type_object)) {
        send_error(cl, r->id, "GenericError", "QMP input member 'arguments' must be an object");
        return false;
    }
    *name = json_object_get_string(exec);
    return true;
}

static void handle_request(struct client *cl, struct json_object *msg)
{
    struct request r;
    const char *name;
    if (!parse_request(cl, msg, &r, &name))
        return;
    bool is_caps = strcmp(name, "qmp_capabilities") == 0;
    if (!cl->negotiated && !is_caps) {
        send_error(cl, r.id, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    if (cl->negotiated && is_caps) {
        send_error(cl, r.id, "CommandNotFound", "Capabilities negotiation is already complete, command ignored");
        return;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) {
            if (check_params(&commands[i], &r))
                commands[i].run(cl->control, &r);
            return;
        }
    send_error(cl, r.id, "CommandNotFound", "The command %s has not been found", name);
}

/* ---- input ----------------------------------------------------------------------------------- */

static void reset_parser(struct client *cl, bool discard_line)
{
    json_tokener_reset(cl->tok);
    cl->in_value = false;
    cl->value_bytes = 0;
    cl->discarding = discard_line;
}

/* After a parse error the rest of the line is dropped, so the next line starts clean. */
static size_t skip_line(struct client *cl, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    if (!nl)
        return len;
    cl->discarding = false;
    return (size_t)(nl - buf) + 1;
}

static size_t skip_space(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return i;
}

/* Feeds at most the request's remaining allowance to the tokener; returns bytes consumed. */
static size_t feed(struct client *cl, const char *buf, size_t len)
{
    size_t room = CONTROL_MAX_REQUEST - cl->value_bytes;
    if (room == 0) {
        reset_parser(cl, true);
        send_error(cl, NULL, "GenericError", "JSON parse error, request longer than %d bytes", CONTROL_MAX_REQUEST);
        return 0;
    }
    size_t chunk = len < room ? len : room;
    struct json_object *obj = json_tokener_parse_ex(cl->tok, buf, (int)chunk);
    enum json_tokener_error jerr = json_tokener_get_error(cl->tok);
    size_t used = json_tokener_get_parse_end(cl->tok);
    if (jerr == json_tokener_continue) {
        cl->value_bytes += chunk;
        return chunk;
    }
    if (jerr == json_tokener_success && used > 0 && used <= chunk) {
        reset_parser(cl, false);
        handle_request(cl, obj);
        json_object_put(obj);
        return used;
    }
    json_object_put(obj);
    reset_parser(cl, true);
    send_error(cl, NULL, "GenericError", "JSON parse error, %s", json_tokener_error_desc(jerr));
    /* An error on a newline itself ends the line being dropped. */
    if (used < chunk && buf[used] == '\n') {
        cl->discarding = false;
        return used + 1;
    }
    return used < chunk ? used : chunk;
}

static void consume_input(struct client *cl, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && !cl->dead) {
        if (cl->discarding) {
            pos += skip_line(cl, buf + pos, len - pos);
            continue;
        }
        if (!cl->in_value) {
            pos += skip_space(buf + pos, len - pos);
            if (pos == len)
                break;
            cl->in_value = true;
            cl->value_bytes = 0;
        }
        pos += feed(cl, buf + pos, len - pos);
    }
}

/* One read per callback (level-triggered), so a busy client cannot starve the loop. */
static void client_read(struct client *cl)
{
    char buf[READ_CHUNK];
    ssize_t n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0)
        consume_input(cl, buf, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        cl->dead = true;
}

/* ---- clients --------------------------------------------------------------------------------- */

static void client_free(struct client *cl)
{
    if (cl->watched)
        loop_remove(cl->control->loop, cl->fd);
    close(cl->fd);
    if (cl->tok)
        json_tokener_free(cl->tok);
    free(cl->out);
    free(cl);
}

static void reap_dead(struct control *c)
{
    if (c->dispatching)
        return;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (c->clients[i] && c->clients[i]->dead) {
            client_free(c->clients[i]);
            c->clients[i] = NULL;
        }
}

/* The events word may belong to another fd that reused this loop slot in the same round, so
 * nothing here trusts it: both directions are tried and failures tell a peer has gone. */
static void on_client(void *ctx, uint32_t events)
{
    struct client *cl = ctx;
    struct control *c = cl->control;
    (void)events;
    c->dispatching++;
    if (cl->out_len)
        client_flush(cl);
    if (!cl->dead && cl->out_len < OUTPUT_HIGH_WATER)
        client_read(cl);
    client_update_watch(cl);
    c->dispatching--;
    reap_dead(c);
}

static int client_watch(struct client *cl)
{
    int rc = loop_add(cl->control->loop, cl->fd, EPOLLIN, on_client, cl);
    if (rc == 0)
        cl->watched = EPOLLIN;
    return rc;
}

static struct client *client_new(struct control *c, int fd)
{
    struct client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->control = c;
    cl->fd = fd;
    cl->tok = json_tokener_new();
    cl->out = malloc(CONTROL_MAX_OUTPUT);
    if (cl->tok) {
#ifdef JSON_TOKENER_VALIDATE_UTF8
        json_tokener_set_flags(cl->tok, JSON_TOKENER_VALIDATE_UTF8);
#endif
    }
    if (!cl->tok || !cl->out || client_watch(cl) < 0) {
        client_free(cl);
        return NULL;
    }
    return cl;
}

static void on_accept(void *ctx, uint32_t events)
{
    struct control *c = ctx;
    (void)events;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int slot = -1;
    for (int i = 0; i < CONTROL_MAX_CLIENTS && slot < 0; i++)
        if (!c->clients[i])
            slot = i;
    struct client *cl = slot >= 0 ? client_new(c, fd) : NULL;
    if (!cl) {
        close(fd);
        return;
    }
    c->clients[slot] = cl;
    send_greeting(cl);
    reap_dead(c);
}

/* ---- the control server ---------------------------------------------------------------------- */

/* A path that exists must be a socket nobody answers on; then it is stale and removed. */
static int clear_path(const char *path, const struct sockaddr_un *addr, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "control socket %s: %s", path, strerror(errno)), -errno);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "control socket %s: the path exists and is not a socket", path);
        return -EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);   /* never wait on a full backlog */
    if (probe < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        return -errno;
    }
    int rc = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
    int e = errno;
    close(probe);
    if (rc == 0 || (e != ECONNREFUSED && e != ENOENT)) {
        snprintf(err, errlen, "control socket %s is in use", path);
        return -EADDRINUSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "control socket %s: cannot remove the stale socket: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* bind() creates the socket file under the umask: 0177 leaves 0600 from the start. */
static int listen_on(struct control *c, const struct sockaddr_un *addr, char *err, size_t errlen)
{
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->listen_fd < 0) {
        snprintf(err, errlen, "control socket %s: %s", c->path, strerror(errno));
        return -errno;
    }
    mode_t old = umask(0177);
    int rc = bind(c->listen_fd, (const struct sockaddr *)addr, sizeof(*addr));
    int e = errno;
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "control socket %s: %s", c->path, strerror(e));
        return -e;
    }
    if (chmod(c->path, 0600) < 0 || listen(c->listen_fd, CONTROL_MAX_CLIENTS) < 0) {
        e = errno;
        unlink(c->path);
        snprintf(err, errlen, "control socket %s: %s", c->path, strerror(e));
        return -e;
    }
    return 0;
}

int control_start(struct control **out, const char *path, const struct control_ops *ops,
                  struct event_loop *loop, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen(path) >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "control socket path '%s' is empty or longer than %zu bytes",
                 path ? path : "", sizeof(addr.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(addr.sun_path, path);
    struct control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "control socket %s: out of memory", path);
        return -ENOMEM;
    }
    c->listen_fd = -1;
    c->loop = loop;
    c->ops = *ops;
    strcpy(c->path, path);
    int rc = clear_path(path, &addr, err, errlen);
    if (!rc)
        rc = listen_on(c, &addr, err, errlen);
    if (!rc && (rc = loop_add(loop, c->listen_fd, EPOLLIN, on_accept, c)) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(-rc));
        unlink(path);
    }
    if (rc) {
        if (c->listen_fd >= 0)
            close(c->listen_fd);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void control_stop(struct control *c)
{
    if (!c)
        return;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (c->clients[i]) {
            client_flush(c->clients[i]);
            client_free(c->clients[i]);
        }
    loop_remove(c->loop, c->listen_fd);
    close(c->listen_fd);
    unlink(c->path);
    free(c);
}

int control_client_count(const struct control *c)
{
    int n = 0;
    for (int i = 0; c && i < CONTROL_MAX_CLIENTS; i++)
        n += c->clients[i] && !c->clients[i]->dead;
    return n;
}

/* qmp-spec 2.5 "Asynchronous events": event, data, timestamp (wall clock). */
void control_event(struct control *c, const char *name, struct json_object *data)
{
    if (!c) {
        json_object_put(data);
        return;
    }
    if (strcmp(name, "SHUTDOWN") == 0)
        c->shutdown = true;
    else if (strcmp(name, "RESET") == 0 || strcmp(name, "RESUME") == 0)
        c->shutdown = false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct json_object *ts = json_object_new_object();
    json_object_object_add(ts, "seconds", json_object_new_int64((int64_t)now.tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(now.tv_nsec / 1000));
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "event", json_object_new_string(name));
    json_object_object_add(msg, "data", data ? data : json_object_new_object());
    json_object_object_add(msg, "timestamp", ts);
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (c->clients[i] && c->clients[i]->negotiated)
            client_send(c->clients[i], msg);
    json_object_put(msg);
    reap_dead(c);
}

/* qapi/block-core.json BlockInfo with its BlockDeviceInfo ("inserted"). */
void control_add_block(struct json_object *array, const char *device, const char *file, bool readonly,
                       const char *drv, bool removable)
{
    struct json_object *info = json_object_new_object();
    json_object_object_add(info, "device", json_object_new_string(device));
    json_object_object_add(info, "locked", json_object_new_boolean(0));
    json_object_object_add(info, "removable", json_object_new_boolean(removable));
    if (removable)
        json_object_object_add(info, "tray_open", json_object_new_boolean(0));
    if (file) {
        struct json_object *ins = json_object_new_object();
        json_object_object_add(ins, "file", json_object_new_string(file));
        json_object_object_add(ins, "ro", json_object_new_boolean(readonly));
        json_object_object_add(ins, "drv", json_object_new_string(drv ? drv : "raw"));
        json_object_object_add(ins, "encrypted", json_object_new_boolean(0));
        json_object_object_add(ins, "backing_file_depth", json_object_new_int(0));
        json_object_object_add(info, "inserted", ins);
    }
    json_object_array_add(array, info);
}

/* qapi/ui.json VncInfo. */
void control_set_vnc(struct json_object *obj, bool enabled, const char *host, const char *service,
                     const char *auth)
{
    json_object_object_add(obj, "enabled", json_object_new_boolean(enabled));
    if (!enabled)
        return;
    json_object_object_add(obj, "host", json_object_new_string(host ? host : ""));
    json_object_object_add(obj, "family", json_object_new_string(host && strchr(host, ':') ? "ipv6" : "ipv4"));
    json_object_object_add(obj, "service", json_object_new_string(service ? service : ""));
    json_object_object_add(obj, "auth", json_object_new_string(auth ? auth : "none"));
    json_object_object_add(obj, "clients", json_object_new_array());
}
