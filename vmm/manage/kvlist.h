/* virt-install style option values: "a=1,b=\"x,y\",c" split in place, quotes honoured. */
#ifndef VMM_MANAGE_KVLIST_H
#define VMM_MANAGE_KVLIST_H

#include <stdbool.h>

/* Takes the next item from *cursor (modified in place): *key gets its name, *val the text after
 * '=' with quotes removed (NULL when there is no '='). Returns false at the end. */
bool kv_next(char **cursor, char **key, char **val);

#endif
