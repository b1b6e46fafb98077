/* virt-install style option values: "a=1,b=\"x,y\",c" split in place, quotes honoured. */
#include <stddef.h>
#include <string.h>

#include "vmm/manage/kvlist.h"

bool kv_next(char **cursor, char **key, char **val)
{
    char *p = *cursor;
    if (!p || !*p)
        return false;
    *key = p;
    *val = NULL;
    char *out = p;
    char quote = 0;
    for (; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            else
                *out++ = *p;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            quote = *p;
            continue;
        }
        if (*p == ',')
            break;
        if (*p == '=' && !*val) {
            *out++ = 0;
            *val = out;
            continue;
        }
        *out++ = *p;
    }
    *cursor = *p ? p + 1 : p;
    *out = 0;
    return true;
}
