/* Key code tables: X keysyms -> Linux KEY_* codes (US layout) -> PS/2 scan code set 2 sequences. */
#ifndef DEVICES_KEYMAP_H
#define DEVICES_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYMAP_SEQ_MAX 8

/* Linux KEY_* code for an X11 keysym (letters, digits, punctuation with shifted symbols on the
 * same key, function, editing, modifier and keypad keys); -1 when unknown. */
int keymap_keysym_to_linux(uint32_t keysym);

/* The set-2 bytes a keyboard sends when `linux_key` goes down (make) or up (break).
 * Returns how many were written to `seq` (at most KEYMAP_SEQ_MAX); 0 for an unknown key,
 * or for the release of Pause, which has none. */
size_t keymap_linux_to_set2(uint32_t linux_key, bool down, uint8_t seq[KEYMAP_SEQ_MAX]);

#endif
