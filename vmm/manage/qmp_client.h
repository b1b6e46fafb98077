/* A small QMP client: connect to a VM's control socket, run commands, read their answers. */
#ifndef VMM_MANAGE_QMP_CLIENT_H
#define VMM_MANAGE_QMP_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>

/* Connects, reads the greeting and negotiates capabilities. Returns the fd or -errno (err set). */
int qmp_open(const char *path, char *err, size_t errlen);
/* Runs `command` with `args` (NULL: none; ownership taken) and waits for its answer, skipping
 * events. On success *ret (if not NULL) gets the "return" value (caller puts it). An "error"
 * answer becomes -EIO with its description in err. */
int qmp_call(int fd, const char *command, struct json_object *args, struct json_object **ret, char *err, size_t errlen);
/* qmp_open + qmp_call + close. */
int qmp_run(const char *path, const char *command, struct json_object *args, struct json_object **ret, char *err,
            size_t errlen);

#endif
