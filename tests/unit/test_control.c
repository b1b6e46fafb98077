/* Unit tests for the QMP control socket: real event loop and UNIX sockets, stub VM hooks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "vmm/control.h"
#include "vmm/loop.h"

/* ---- stub VM --------------------------------------------------------------------------------- */

struct stub {
    struct control *control;        /* for hooks that emit events */
    bool running;
    int pause_rc;
    int pauses, resumes, powerdowns, resets, quits, dumps;
    bool emit_on_pause;
    char dump_path[256];
};

static int stub_pause(void *ctx)
{
    struct stub *s = ctx;
    s->pauses++;
    if (s->pause_rc)
        return s->pause_rc;
    s->running = false;
    if (s->emit_on_pause)
        control_event(s->control, "STOP", NULL);
    return 0;
}

static int stub_resume(void *ctx)
{
    struct stub *s = ctx;
    s->resumes++;
    s->running = true;
    return 0;
}

static bool stub_running(void *ctx) { return ((struct stub *)ctx)->running; }
static void stub_powerdown(void *ctx) { ((struct stub *)ctx)->powerdowns++; }
static void stub_reset(void *ctx) { ((struct stub *)ctx)->resets++; }
static void stub_quit(void *ctx) { ((struct stub *)ctx)->quits++; }

static int stub_screendump(void *ctx, const char *path, char *err, size_t errlen)
{
    struct stub *s = ctx;
    s->dumps++;
    snprintf(s->dump_path, sizeof(s->dump_path), "%s", path);
    if (strstr(path, "/nonexistent/")) {
        snprintf(err, errlen, "cannot write %s", path);
        return -ENOENT;
    }
    return 0;
}

static void stub_query_block(void *ctx, struct json_object *array)
{
    (void)ctx;
    control_add_block(array, "virtio0", "/images/disk.img", false, "raw", false);
    control_add_block(array, "cd0", "/images/cd.iso", true, "raw", true);
}

static void stub_query_vnc(void *ctx, struct json_object *obj)
{
    (void)ctx;
    control_set_vnc(obj, true, "127.0.0.1", "5901", "vnc");
}

static const struct control_ops full_ops = {
    .pause = stub_pause, .resume = stub_resume, .running = stub_running, .powerdown = stub_powerdown,
    .reset = stub_reset, .quit = stub_quit, .screendump = stub_screendump,
    .query_block = stub_query_block, .query_vnc = stub_query_vnc,
};

/* ---- test environment ------------------------------------------------------------------------ */

struct env {
    struct event_loop loop;
    struct stub stub;
    struct control *control;
    char dir[64];
    char path[96];
};

static int env_start(struct env *e, const struct control_ops *ops)
{
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN);
    strcpy(e->dir, "/tmp/vmm-control-XXXXXX");
    if (!mkdtemp(e->dir) || loop_init(&e->loop))
        return -1;
    snprintf(e->path, sizeof(e->path), "%s/qmp.sock", e->dir);
    struct control_ops o = *ops;
    o.ctx = &e->stub;
    e->stub.running = true;
    char err[256];
    int rc = control_start(&e->control, e->path, &o, &e->loop, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  control_start: %s\n", err);
    e->stub.control = e->control;
    return rc;
}

static void env_stop(struct env *e)
{
    control_stop(e->control);
    loop_destroy(&e->loop);
    unlink(e->path);
    rmdir(e->dir);
}

struct client {
    int fd;
    char buf[512 * 1024];
    size_t len;
};

static int connect_to(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct client *client_open(struct env *e)
{
    struct client *c = calloc(1, sizeof(*c));
    c->fd = connect_to(e->path);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void client_close(struct client *c)
{
    if (c) {
        close(c->fd);
        free(c);
    }
}

/* Runs the loop until the client has a whole line (or EOF/timeout); returns the parsed message,
 * NULL on timeout, or sets *eof. */
static struct json_object *recv_msg_eof(struct env *e, struct client *c, bool *eof)
{
    *eof = false;
    for (int round = 0; round < 400; round++) {
        char *nl = memmem(c->buf, c->len, "\r\n", 2);
        if (nl) {
            *nl = 0;
            struct json_object *m = json_tokener_parse(c->buf);
            size_t used = (size_t)(nl - c->buf) + 2;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return m;
        }
        loop_poll(&e->loop, 5);
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            *eof = true;
            return NULL;
        }
        if (n > 0)
            c->len += (size_t)n;
    }
    return NULL;
}

static struct json_object *recv_msg(struct env *e, struct client *c)
{
    bool eof;
    return recv_msg_eof(e, c, &eof);
}

static void send_raw(struct client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void send_str(struct client *c, const char *s)
{
    send_raw(c, s, strlen(s));
}

static struct json_object *command(struct env *e, struct client *c, const char *json)
{
    send_str(c, json);
    send_str(c, "\n");
    return recv_msg(e, c);
}

static struct json_object *member(struct json_object *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save, *key = strtok_r(buf, ".", &save); key && o; key = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, key, &o))
            return NULL;
    return o;
}

static const char *str_at(struct json_object *o, const char *path)
{
    struct json_object *v = member(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static bool is_return_empty(struct json_object *m)
{
    struct json_object *r = member(m, "return");
    return r && json_object_is_type(r, json_type_object) && json_object_object_length(r) == 0;
}

/* A connected client that has read the greeting and negotiated. */
static struct client *ready_client(struct env *e)
{
    struct client *c = client_open(e);
    if (!c)
        return NULL;
    json_object_put(recv_msg(e, c));
    struct json_object *m = command(e, c, "{\"execute\": \"qmp_capabilities\"}");
    bool ok = is_return_empty(m);
    json_object_put(m);
    if (!ok) {
        client_close(c);
        return NULL;
    }
    return c;
}

/* ---- tests ----------------------------------------------------------------------------------- */

TEST(greeting_shape)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = client_open(&e);
    CHECK(c);
    struct json_object *g = recv_msg(&e, c);
    CHECK(g);
    CHECK(member(g, "QMP.version.qemu.major") && json_object_get_int(member(g, "QMP.version.qemu.major")) == 0);
    CHECK(member(g, "QMP.version.qemu.minor") && member(g, "QMP.version.qemu.micro"));
    CHECK(strncmp(str_at(g, "QMP.version.package"), "vmm ", 4) == 0);
    struct json_object *caps = member(g, "QMP.capabilities");
    CHECK(caps && json_object_is_type(caps, json_type_array) && json_object_array_length(caps) == 0);
    json_object_put(g);
    client_close(c);
    env_stop(&e);
}

TEST(negotiation_required)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = client_open(&e);
    CHECK(c);
    json_object_put(recv_msg(&e, c));
    struct json_object *m = command(&e, c, "{\"execute\": \"stop\"}");
    CHECK(strcmp(str_at(m, "error.class"), "CommandNotFound") == 0);
    CHECK(strstr(str_at(m, "error.desc"), "qmp_capabilities"));
    CHECK_EQ(e.stub.pauses, 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}");
    CHECK(is_return_empty(m));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"qmp_capabilities\"}");
    CHECK(strcmp(str_at(m, "error.class"), "CommandNotFound") == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"stop\"}");
    CHECK(is_return_empty(m));
    CHECK_EQ(e.stub.pauses, 1);
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(query_status_follows_the_vm)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    struct json_object *m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(strcmp(str_at(m, "return.status"), "running") == 0);
    CHECK(json_object_get_boolean(member(m, "return.running")));
    CHECK(member(m, "return.singlestep") && !json_object_get_boolean(member(m, "return.singlestep")));
    json_object_put(m);
    e.stub.running = false;
    m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(strcmp(str_at(m, "return.status"), "paused") == 0);
    CHECK(member(m, "return.running") && !json_object_get_boolean(member(m, "return.running")));
    json_object_put(m);
    control_event(e.control, "SHUTDOWN", NULL);
    json_object_put(recv_msg(&e, c));
    m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(strcmp(str_at(m, "return.status"), "shutdown") == 0);
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(run_control_commands_call_hooks)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    struct { const char *cmd; int *count; } cases[] = {
        { "stop", &e.stub.pauses }, { "cont", &e.stub.resumes },
        { "system_powerdown", &e.stub.powerdowns }, { "system_reset", &e.stub.resets },
        { "quit", &e.stub.quits },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", cases[i].cmd);
        struct json_object *m = command(&e, c, req);
        bool ok = is_return_empty(m);
        json_object_put(m);
        CHECK(ok);
        CHECK_EQ(*cases[i].count, 1);
    }
    CHECK(e.stub.running);   /* stop then cont */
    e.stub.pause_rc = -EBUSY;
    struct json_object *m = command(&e, c, "{\"execute\": \"stop\"}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"stop\", \"arguments\": {\"force\": true}}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    CHECK(strstr(str_at(m, "error.desc"), "'force'"));
    CHECK_EQ(e.stub.pauses, 2);
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(queries)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    struct json_object *m = command(&e, c, "{\"execute\": \"query-block\"}");
    struct json_object *list = member(m, "return");
    CHECK(list && json_object_is_type(list, json_type_array) && json_object_array_length(list) == 2);
    struct json_object *d0 = json_object_array_get_idx(list, 0), *d1 = json_object_array_get_idx(list, 1);
    CHECK(strcmp(str_at(d0, "device"), "virtio0") == 0);
    CHECK(strcmp(str_at(d0, "inserted.file"), "/images/disk.img") == 0);
    CHECK(strcmp(str_at(d0, "inserted.drv"), "raw") == 0);
    CHECK(member(d0, "inserted.ro") && !json_object_get_boolean(member(d0, "inserted.ro")));
    CHECK(member(d0, "removable") && !json_object_get_boolean(member(d0, "removable")));
    CHECK(json_object_get_boolean(member(d1, "inserted.ro")) && json_object_get_boolean(member(d1, "removable")));
    json_object_put(m);

    m = command(&e, c, "{\"execute\": \"query-vnc\"}");
    CHECK(json_object_get_boolean(member(m, "return.enabled")));
    CHECK(strcmp(str_at(m, "return.host"), "127.0.0.1") == 0);
    CHECK(strcmp(str_at(m, "return.service"), "5901") == 0);
    CHECK(strcmp(str_at(m, "return.auth"), "vnc") == 0);
    json_object_put(m);

    m = command(&e, c, "{\"execute\": \"query-version\"}");
    CHECK(member(m, "return.qemu.major") && strncmp(str_at(m, "return.package"), "vmm ", 4) == 0);
    json_object_put(m);

    m = command(&e, c, "{\"execute\": \"query-uuid\"}");
    CHECK(strcmp(str_at(m, "return.UUID"), "00000000-0000-0000-0000-000000000000") == 0);
    json_object_put(m);

    m = command(&e, c, "{\"execute\": \"query-commands\"}");
    list = member(m, "return");
    CHECK(list && json_object_is_type(list, json_type_array));
    const char *want[] = { "qmp_capabilities", "query-status", "stop", "cont", "system_powerdown", "system_reset",
                           "quit", "query-block", "query-vnc", "screendump", "query-commands", "query-version",
                           "query-uuid" };
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        for (size_t i = 0; i < json_object_array_length(list); i++)
            found |= strcmp(str_at(json_object_array_get_idx(list, i), "name"), want[w]) == 0;
        CHECK(found);
    }
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(screendump)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    struct json_object *m = command(&e, c, "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"/tmp/s.png\"}}");
    CHECK(is_return_empty(m));
    CHECK(strcmp(e.stub.dump_path, "/tmp/s.png") == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"/tmp/s.png\", \"format\": \"png\"}}");
    CHECK(is_return_empty(m));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"/nonexistent/s.png\"}}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    CHECK(strstr(str_at(m, "error.desc"), "cannot write"));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"screendump\"}");
    CHECK(strstr(str_at(m, "error.desc"), "'filename' is missing"));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"screendump\", \"arguments\": {\"filename\": 7}}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"/tmp/a.png\", \"format\": \"bmp\"}}");
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    json_object_put(m);
    CHECK_EQ(e.stub.dumps, 3);
    client_close(c);
    env_stop(&e);
}

TEST(missing_hooks_are_errors)
{
    struct env e;
    struct control_ops none = { 0 };
    CHECK(env_start(&e, &none) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    const char *cmds[] = { "stop", "cont", "system_powerdown", "system_reset", "quit" };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", cmds[i]);
        struct json_object *m = command(&e, c, req);
        bool generic = strcmp(str_at(m, "error.class"), "GenericError") == 0;
        json_object_put(m);
        CHECK(generic);
    }
    struct json_object *m = command(&e, c, "{\"execute\": \"query-vnc\"}");
    CHECK(member(m, "return.enabled") && !json_object_get_boolean(member(m, "return.enabled")));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-block\"}");
    CHECK(member(m, "return") && json_object_array_length(member(m, "return")) == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(strcmp(str_at(m, "return.status"), "running") == 0);
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(unknown_command_and_bad_requests)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    struct json_object *m = command(&e, c, "{\"execute\": \"frobnicate\", \"id\": 5}");
    CHECK(strcmp(str_at(m, "error.class"), "CommandNotFound") == 0);
    CHECK(strcmp(str_at(m, "error.desc"), "The command frobnicate has not been found") == 0);
    CHECK(member(m, "id") && json_object_get_int(member(m, "id")) == 5);
    json_object_put(m);
    const char *bad[] = { "[1, 2]", "{\"arguments\": {}}", "{\"execute\": 3}", "{\"execute\": \"stop\", \"arguments\": 1}",
                          "{\"execute\": \"stop\", \"bogus\": 1}", "\"text\"", "42" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = command(&e, c, bad[i]);
        bool generic = strcmp(str_at(m, "error.class"), "GenericError") == 0;
        json_object_put(m);
        CHECK(generic);
    }
    CHECK_EQ(e.stub.pauses, 0);
    client_close(c);
    env_stop(&e);
}

TEST(id_is_echoed)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = client_open(&e);
    CHECK(c);
    json_object_put(recv_msg(&e, c));
    struct json_object *m = command(&e, c, "{\"execute\": \"query-status\", \"id\": \"early\"}");
    CHECK(strcmp(str_at(m, "id"), "early") == 0 && member(m, "error"));
    json_object_put(m);
    m = command(&e, c, "{\"id\": {\"seq\": 1, \"tag\": [\"a\"]}, \"execute\": \"qmp_capabilities\"}");
    CHECK(is_return_empty(m));
    CHECK(member(m, "id.seq") && json_object_get_int(member(m, "id.seq")) == 1);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-status\", \"id\": 123456789012}");
    CHECK(member(m, "id") && json_object_get_int64(member(m, "id")) == 123456789012LL);
    CHECK(member(m, "return.status"));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(!member(m, "id"));
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(events_reach_negotiated_clients_only)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *a = ready_client(&e), *b = client_open(&e);
    CHECK(a && b);
    json_object_put(recv_msg(&e, b));     /* greeting only: not negotiated */
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "guest", json_object_new_boolean(1));
    json_object_object_add(data, "reason", json_object_new_string("guest-shutdown"));
    control_event(e.control, "SHUTDOWN", data);
    struct json_object *m = recv_msg(&e, a);
    CHECK(strcmp(str_at(m, "event"), "SHUTDOWN") == 0);
    CHECK(strcmp(str_at(m, "data.reason"), "guest-shutdown") == 0);
    CHECK(member(m, "timestamp.seconds") && member(m, "timestamp.microseconds"));
    CHECK(json_object_get_int64(member(m, "timestamp.seconds")) > 1600000000);
    int64_t us = json_object_get_int64(member(m, "timestamp.microseconds"));
    CHECK(us >= 0 && us < 1000000);
    json_object_put(m);
    const char *names[] = { "POWERDOWN", "RESET", "STOP", "RESUME" };
    for (size_t i = 0; i < 4; i++)
        control_event(e.control, names[i], NULL);
    for (size_t i = 0; i < 4; i++) {
        m = recv_msg(&e, a);
        bool ok = strcmp(str_at(m, "event"), names[i]) == 0 && member(m, "data");
        json_object_put(m);
        CHECK(ok);
    }
    /* b's next message is the answer to its own request, not an event */
    m = command(&e, b, "{\"execute\": \"query-status\"}");
    CHECK(strcmp(str_at(m, "error.class"), "CommandNotFound") == 0);
    json_object_put(m);
    control_event(NULL, "STOP", json_object_new_object());   /* no socket: released */
    client_close(a);
    client_close(b);
    env_stop(&e);
}

TEST(event_from_a_hook_precedes_the_reply)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    e.stub.emit_on_pause = true;
    struct client *a = ready_client(&e), *b = ready_client(&e);
    CHECK(a && b);
    struct json_object *m = command(&e, a, "{\"execute\": \"stop\", \"id\": 1}");
    CHECK(strcmp(str_at(m, "event"), "STOP") == 0);
    json_object_put(m);
    m = recv_msg(&e, a);
    CHECK(is_return_empty(m) && json_object_get_int(member(m, "id")) == 1);
    json_object_put(m);
    m = recv_msg(&e, b);
    CHECK(strcmp(str_at(m, "event"), "STOP") == 0);
    json_object_put(m);
    client_close(a);
    client_close(b);
    env_stop(&e);
}

TEST(two_clients_interleaved)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *a = ready_client(&e), *b = ready_client(&e);
    CHECK(a && b);
    CHECK_EQ(control_client_count(e.control), 2);
    send_str(a, "{\"execute\": \"query-status\", \"id\": \"a\"}\n");
    send_str(b, "{\"execute\": \"query-version\", \"id\": \"b\"}\n");
    struct json_object *mb = recv_msg(&e, b), *ma = recv_msg(&e, a);
    CHECK(strcmp(str_at(ma, "id"), "a") == 0 && member(ma, "return.status"));
    CHECK(strcmp(str_at(mb, "id"), "b") == 0 && member(mb, "return.package"));
    json_object_put(ma);
    json_object_put(mb);
    client_close(a);
    client_close(b);
    env_stop(&e);
}

TEST(split_and_batched_requests)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    const char *req = "{\"execute\": \"query-status\", \"id\": 1}\r\n";
    for (size_t i = 0; req[i]; i++) {
        send_raw(c, req + i, 1);
        loop_poll(&e.loop, 0);
    }
    struct json_object *m = recv_msg(&e, c);
    CHECK(json_object_get_int(member(m, "id")) == 1);
    json_object_put(m);
    send_str(c, "{\"execute\": \"query-status\", \"id\": 2}{\"execute\": \"query-status\", \"id\": 3}\n  \n"
                "{\"execute\": \"stop\", \"id\": 4}");
    for (int id = 2; id <= 4; id++) {
        m = recv_msg(&e, c);
        bool ok = m && json_object_get_int(member(m, "id")) == id;
        json_object_put(m);
        CHECK(ok);
    }
    client_close(c);
    env_stop(&e);
}

TEST(malformed_json_keeps_the_client)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    const char *bad[] = { "{\"execute\": }", "{]", "nonsense", "{\"execute\" \"stop\"}", "\"unterminated\\q\"" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *m = command(&e, c, bad[i]);
        bool ok = strcmp(str_at(m, "error.class"), "GenericError") == 0 &&
                  strncmp(str_at(m, "error.desc"), "JSON parse error", 16) == 0;
        json_object_put(m);
        CHECK(ok);
        m = command(&e, c, "{\"execute\": \"query-status\"}");
        ok = member(m, "return.status") != NULL;
        json_object_put(m);
        CHECK(ok);
    }
    /* nesting deeper than the tokener allows */
    char deep[400];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = 0;
    struct json_object *m = command(&e, c, deep);
    CHECK(strncmp(str_at(m, "error.desc"), "JSON parse error", 16) == 0);
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-status\"}");
    CHECK(member(m, "return.status"));
    json_object_put(m);
    CHECK_EQ(e.stub.pauses, 0);
    client_close(c);
    env_stop(&e);
}

TEST(huge_line_is_refused_without_harm)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    CHECK(c);
    /* a 200 KiB string value: over the request limit */
    size_t n = 200 * 1024;
    char *big = malloc(n + 64);
    strcpy(big, "{\"execute\": \"");
    memset(big + strlen(big), 'x', n);
    strcpy(big + 13 + n, "\"}\n");
    /* feed it while running the loop, as the socket buffer is smaller than the line */
    size_t len = strlen(big), sent = 0;
    for (int round = 0; sent < len && round < 10000; round++) {
        ssize_t k = send(c->fd, big + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0)
            sent += (size_t)k;
        loop_poll(&e.loop, 1);
    }
    free(big);
    CHECK_EQ(sent, len);
    struct json_object *m = recv_msg(&e, c);
    CHECK(strcmp(str_at(m, "error.class"), "GenericError") == 0);
    CHECK(strstr(str_at(m, "error.desc"), "longer than"));
    json_object_put(m);
    m = command(&e, c, "{\"execute\": \"query-status\", \"id\": 9}");
    CHECK(json_object_get_int(member(m, "id")) == 9 && member(m, "return.status"));
    json_object_put(m);
    client_close(c);
    env_stop(&e);
}

TEST(garbage_bytes_never_hang)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c = ready_client(&e);
    struct client *other = ready_client(&e);
    CHECK(c && other);
    unsigned seed = 12345;
    char junk[8192];
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            seed = seed * 1103515245u + 12345u;
            junk[i] = (char)(seed >> 16);
        }
        send(c->fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);
        loop_poll(&e.loop, 1);
        /* keep c's replies drained so its queue stays bounded either way */
        char sink[65536];
        while (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {}
    }
    /* let the server consume everything queued, draining c's replies meanwhile */
    for (int idle = 0, i = 0; idle < 5 && i < 10000; i++) {
        idle = loop_poll(&e.loop, 2) == 0 ? idle + 1 : 0;
        char sink[65536];
        while (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {}
    }
    /* the server still serves others; c, if still connected, recovers after a 0xFF byte */
    struct json_object *m = command(&e, other, "{\"execute\": \"query-status\", \"id\": 1}");
    CHECK(json_object_get_int(member(m, "id")) == 1);
    json_object_put(m);
    if (control_client_count(e.control) == 2) {
        send_str(c, "\xff\n{\"execute\": \"query-status\", \"id\": 77}\n");
        bool seen = false;
        c->len = 0;
        for (int i = 0; i < 400 && !seen; i++) {
            loop_poll(&e.loop, 5);
            ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
            if (n > 0)
                c->len += (size_t)n;
            c->buf[c->len] = 0;
            seen = strstr(c->buf, "\"id\":77") != NULL;
        }
        CHECK(seen);
    }
    CHECK_EQ(e.stub.pauses + e.stub.quits + e.stub.resets, 0);
    client_close(c);
    client_close(other);
    env_stop(&e);
}

TEST(client_vanishing_mid_stream)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *keep = ready_client(&e);
    CHECK(keep);
    for (int i = 0; i < 20; i++) {
        struct client *c = ready_client(&e);
        CHECK(c);
        /* many requests, then gone before reading any reply */
        for (int k = 0; k < 50; k++)
            send_str(c, "{\"execute\": \"query-commands\"}\n");
        if (i % 2)
            send_str(c, "{\"execute\": \"query-st");   /* and half a request */
        client_close(c);
        for (int k = 0; k < 20; k++)
            loop_poll(&e.loop, 1);
        control_event(e.control, "RESET", NULL);
        struct json_object *m = recv_msg(&e, keep);
        bool ok = strcmp(str_at(m, "event"), "RESET") == 0;
        json_object_put(m);
        CHECK(ok);
    }
    CHECK_EQ(control_client_count(e.control), 1);
    client_close(keep);
    for (int k = 0; k < 20 && control_client_count(e.control); k++)
        loop_poll(&e.loop, 5);
    CHECK_EQ(control_client_count(e.control), 0);
    env_stop(&e);
}

TEST(slow_reader_is_dropped_when_its_queue_overflows)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *slow = ready_client(&e), *fast = ready_client(&e);
    CHECK(slow && fast);
    int rounds = 0;
    while (control_client_count(e.control) == 2 && rounds < 100000) {
        struct json_object *data = json_object_new_object();
        json_object_object_add(data, "pad", json_object_new_string("................................................................"));
        control_event(e.control, "STOP", data);
        rounds++;
        if (rounds % 64 == 0) {   /* the fast reader keeps up */
            loop_poll(&e.loop, 0);
            char sink[65536];
            while (recv(fast->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {}
        }
    }
    CHECK_EQ(control_client_count(e.control), 1);
    char sink[65536];
    while (recv(fast->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {}
    fast->len = 0;
    /* the slow one sees its stream end (after whatever was already in the socket) */
    bool eof = false;
    for (int i = 0; i < 1000000 && !eof; i++) {
        ssize_t n = recv(slow->fd, sink, sizeof(sink), MSG_DONTWAIT);
        eof = n == 0;
        if (n < 0)
            break;
    }
    CHECK(eof);
    struct json_object *m = command(&e, fast, "{\"execute\": \"query-status\", \"id\": 3}");
    CHECK(json_object_get_int(member(m, "id")) == 3);
    json_object_put(m);
    client_close(slow);
    client_close(fast);
    env_stop(&e);
}

TEST(client_limit)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct client *c[CONTROL_MAX_CLIENTS + 1];
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        c[i] = client_open(&e);
        CHECK(c[i]);
        struct json_object *g = recv_msg(&e, c[i]);
        CHECK(member(g, "QMP"));
        json_object_put(g);
    }
    CHECK_EQ(control_client_count(e.control), CONTROL_MAX_CLIENTS);
    c[CONTROL_MAX_CLIENTS] = client_open(&e);
    CHECK(c[CONTROL_MAX_CLIENTS]);
    bool eof;
    struct json_object *m = recv_msg_eof(&e, c[CONTROL_MAX_CLIENTS], &eof);
    CHECK(!m && eof);
    client_close(c[0]);
    for (int k = 0; k < 20 && control_client_count(e.control) == CONTROL_MAX_CLIENTS; k++)
        loop_poll(&e.loop, 5);
    struct client *late = client_open(&e);
    CHECK(late);
    m = recv_msg(&e, late);
    CHECK(member(m, "QMP"));
    json_object_put(m);
    client_close(late);
    for (int i = 1; i <= CONTROL_MAX_CLIENTS; i++)
        client_close(c[i]);
    env_stop(&e);
}

TEST(socket_path_mode_busy_and_stale)
{
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    struct stat st;
    CHECK(stat(e.path, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600);

    struct control *second = NULL;
    char err[256] = "";
    struct control_ops o = full_ops;
    CHECK(control_start(&second, e.path, &o, &e.loop, err, sizeof(err)) < 0);
    CHECK(!second);
    char want[256];
    snprintf(want, sizeof(want), "control socket %s is in use", e.path);
    CHECK(strcmp(err, want) == 0);
    /* the first server is untouched */
    struct client *c = ready_client(&e);
    CHECK(c);
    client_close(c);

    control_stop(e.control);
    e.control = NULL;
    CHECK(access(e.path, F_OK) < 0);

    /* a stale socket (nobody listening) is replaced */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", e.path);
    CHECK(bind(stale, (struct sockaddr *)&a, sizeof(a)) == 0);
    close(stale);
    CHECK(access(e.path, F_OK) == 0);
    CHECK(control_start(&e.control, e.path, &o, &e.loop, err, sizeof(err)) == 0);
    c = ready_client(&e);
    CHECK(c);
    client_close(c);
    control_stop(e.control);
    e.control = NULL;

    /* a regular file is never removed */
    int fd = open(e.path, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK(control_start(&e.control, e.path, &o, &e.loop, err, sizeof(err)) < 0);
    CHECK(strstr(err, "not a socket"));
    CHECK(access(e.path, F_OK) == 0);
    unlink(e.path);

    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = 0;
    CHECK(control_start(&e.control, longpath, &o, &e.loop, err, sizeof(err)) < 0);
    env_stop(&e);
}

/* The one-liner a script would use: socat - UNIX-CONNECT:PATH. */
TEST(socat_one_liner)
{
    if (access("/usr/bin/socat", X_OK) != 0) {
        fprintf(stderr, "  socat not installed: skipped\n");
        return;
    }
    struct env e;
    CHECK(env_start(&e, &full_ops) == 0);
    int out[2];
    CHECK(pipe(out) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "printf '%%s\\n' '{\"execute\":\"qmp_capabilities\"}' '{\"execute\":\"query-status\",\"id\":\"s\"}'"
                 " | socat -t 2 - UNIX-CONNECT:%s", e.path);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    char text[8192];
    size_t len = 0;
    int status = -1;
    for (int round = 0; round < 2000; round++) {
        loop_poll(&e.loop, 5);
        ssize_t n = read(out[0], text + len, sizeof(text) - 1 - len);
        if (n > 0)
            len += (size_t)n;
        if (n == 0 && waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    close(out[0]);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    text[len] = 0;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(text, "{\"QMP\":"));
    CHECK(strstr(text, "{\"return\":{}}"));
    CHECK(strstr(text, "\"status\":\"running\""));
    CHECK(strstr(text, "\"id\":\"s\""));
    env_stop(&e);
}

TEST_MAIN()
