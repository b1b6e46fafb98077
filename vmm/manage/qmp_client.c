/* A small QMP client: connect to a VM's control socket, run commands, read their answers. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/manage/home.h"
#include "vmm/manage/qmp_client.h"

#define QMP_TIMEOUT_MS 10000

/* Reads one JSON message (the server ends each with CRLF). Returns NULL on EOF, timeout or junk. */
static struct json_object *read_message(int fd, char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *obj = NULL;
    char ch;
    while (tok) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, QMP_TIMEOUT_MS) != 1) {
            errorf(err, errlen, "the VM's control socket did not answer within %d s", QMP_TIMEOUT_MS / 1000);
            break;
        }
        if (read(fd, &ch, 1) != 1) {
            errorf(err, errlen, "the VM's control socket closed the connection");
            break;
        }
        obj = json_tokener_parse_ex(tok, &ch, 1);
        if (obj)
            break;
        if (json_tokener_get_error(tok) != json_tokener_continue) {
            errorf(err, errlen, "the VM's control socket sent something that is not JSON");
            break;
        }
    }
    json_tokener_free(tok);
    return obj;
}

static int send_command(int fd, const char *command, struct json_object *args)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(o, "arguments", args);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text), off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            rc = -EPIPE;
            break;
        }
        off += (size_t)n;
    }
    json_object_put(o);
    return rc;
}

int qmp_call(int fd, const char *command, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
    if (ret)
        *ret = NULL;
    if (send_command(fd, command, args)) {
        errorf(err, errlen, "cannot send '%s' to the VM's control socket", command);
        return -EPIPE;
    }
    for (;;) {
        struct json_object *m = read_message(fd, err, errlen), *v;
        if (!m)
            return -EIO;
        if (json_object_object_get_ex(m, "return", &v)) {
            if (ret)
                *ret = json_object_get(v);
            json_object_put(m);
            return 0;
        }
        if (json_object_object_get_ex(m, "error", &v)) {
            struct json_object *desc;
            json_object_object_get_ex(v, "desc", &desc);
            errorf(err, errlen, "%s: %s", command, desc ? json_object_get_string(desc) : "failed");
            json_object_put(m);
            return -EIO;
        }
        json_object_put(m); /* an event: not ours */
    }
}

int qmp_open(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(a.sun_path)) {
        errorf(err, errlen, "control socket path %s is too long", path);
        return -ENAMETOOLONG;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        int e = errno;
        errorf(err, errlen, "cannot connect to the control socket %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    struct json_object *greeting = read_message(fd, err, errlen), *v;
    bool ok = greeting && json_object_object_get_ex(greeting, "QMP", &v);
    json_object_put(greeting);
    if (!ok || qmp_call(fd, "qmp_capabilities", NULL, NULL, err, errlen)) {
        if (!ok)
            errorf(err, errlen, "%s did not greet as a QMP control socket", path);
        close(fd);
        return -EIO;
    }
    return fd;
}

int qmp_run(const char *path, const char *command, struct json_object *args, struct json_object **ret, char *err,
            size_t errlen)
{
    int fd = qmp_open(path, err, errlen);
    if (fd < 0) {
        json_object_put(args);
        return fd;
    }
    int rc = qmp_call(fd, command, args, ret, err, errlen);
    close(fd);
    return rc;
}
