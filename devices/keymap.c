/* Key code tables: X keysyms -> Linux KEY_* codes (US layout) -> PS/2 scan code set 2 sequences.
 * Keysym values: X11 keysymdef.h (Latin-1 keysyms equal their ASCII/ISO 8859-1 code).
 * Scan codes: IBM PS/2 keyboard technical reference, scan code set 2 (make; break = F0 + make,
 * E0-prefixed keys keep the prefix before F0). */
#include "devices/keymap.h"

#include <linux/input-event-codes.h>

#define E0 0x100   /* the key's scan code follows an E0 prefix */

/* Set-2 make code of each Linux key; 0 = no such key on a PC keyboard. */
static const uint16_t set2_of_key[KEY_COMPOSE + 1] = {
    [KEY_ESC] = 0x76, [KEY_1] = 0x16, [KEY_2] = 0x1e, [KEY_3] = 0x26, [KEY_4] = 0x25,
    [KEY_5] = 0x2e, [KEY_6] = 0x36, [KEY_7] = 0x3d, [KEY_8] = 0x3e, [KEY_9] = 0x46,
    [KEY_0] = 0x45, [KEY_MINUS] = 0x4e, [KEY_EQUAL] = 0x55, [KEY_BACKSPACE] = 0x66,
    [KEY_TAB] = 0x0d, [KEY_Q] = 0x15, [KEY_W] = 0x1d, [KEY_E] = 0x24, [KEY_R] = 0x2d,
    [KEY_T] = 0x2c, [KEY_Y] = 0x35, [KEY_U] = 0x3c, [KEY_I] = 0x43, [KEY_O] = 0x44,
    [KEY_P] = 0x4d, [KEY_LEFTBRACE] = 0x54, [KEY_RIGHTBRACE] = 0x5b, [KEY_ENTER] = 0x5a,
    [KEY_LEFTCTRL] = 0x14, [KEY_A] = 0x1c, [KEY_S] = 0x1b, [KEY_D] = 0x23, [KEY_F] = 0x2b,
    [KEY_G] = 0x34, [KEY_H] = 0x33, [KEY_J] = 0x3b, [KEY_K] = 0x42, [KEY_L] = 0x4b,
    [KEY_SEMICOLON] = 0x4c, [KEY_APOSTROPHE] = 0x52, [KEY_GRAVE] = 0x0e,
    [KEY_LEFTSHIFT] = 0x12, [KEY_BACKSLASH] = 0x5d, [KEY_Z] = 0x1a, [KEY_X] = 0x22,
    [KEY_C] = 0x21, [KEY_V] = 0x2a, [KEY_B] = 0x32, [KEY_N] = 0x31, [KEY_M] = 0x3a,
    [KEY_COMMA] = 0x41, [KEY_DOT] = 0x49, [KEY_SLASH] = 0x4a, [KEY_RIGHTSHIFT] = 0x59,
    [KEY_KPASTERISK] = 0x7c, [KEY_LEFTALT] = 0x11, [KEY_SPACE] = 0x29, [KEY_CAPSLOCK] = 0x58,
    [KEY_F1] = 0x05, [KEY_F2] = 0x06, [KEY_F3] = 0x04, [KEY_F4] = 0x0c, [KEY_F5] = 0x03,
    [KEY_F6] = 0x0b, [KEY_F7] = 0x83, [KEY_F8] = 0x0a, [KEY_F9] = 0x01, [KEY_F10] = 0x09,
    [KEY_NUMLOCK] = 0x77, [KEY_SCROLLLOCK] = 0x7e, [KEY_KP7] = 0x6c, [KEY_KP8] = 0x75,
    [KEY_KP9] = 0x7d, [KEY_KPMINUS] = 0x7b, [KEY_KP4] = 0x6b, [KEY_KP5] = 0x73,
    [KEY_KP6] = 0x74, [KEY_KPPLUS] = 0x79, [KEY_KP1] = 0x69, [KEY_KP2] = 0x72,
    [KEY_KP3] = 0x7a, [KEY_KP0] = 0x70, [KEY_KPDOT] = 0x71, [KEY_102ND] = 0x61,
    [KEY_F11] = 0x78, [KEY_F12] = 0x07, [KEY_KPEQUAL] = 0x0f,
    [KEY_KPENTER] = E0 | 0x5a, [KEY_RIGHTCTRL] = E0 | 0x14, [KEY_KPSLASH] = E0 | 0x4a,
    [KEY_RIGHTALT] = E0 | 0x11, [KEY_HOME] = E0 | 0x6c, [KEY_UP] = E0 | 0x75,
    [KEY_PAGEUP] = E0 | 0x7d, [KEY_LEFT] = E0 | 0x6b, [KEY_RIGHT] = E0 | 0x74,
    [KEY_END] = E0 | 0x69, [KEY_DOWN] = E0 | 0x72, [KEY_PAGEDOWN] = E0 | 0x7a,
    [KEY_INSERT] = E0 | 0x70, [KEY_DELETE] = E0 | 0x71, [KEY_LEFTMETA] = E0 | 0x1f,
    [KEY_RIGHTMETA] = E0 | 0x27, [KEY_COMPOSE] = E0 | 0x2f,
};

/* Print Screen is sent as a fake left shift plus keypad '*'; Pause as Ctrl+NumLock behind E1,
 * make only. */
static const uint8_t print_screen_make[] = { 0xe0, 0x12, 0xe0, 0x7c };
static const uint8_t print_screen_break[] = { 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 };
static const uint8_t pause_make[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };

static size_t copy_seq(uint8_t *seq, const uint8_t *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        seq[i] = from[i];
    return n;
}

size_t keymap_linux_to_set2(uint32_t linux_key, bool down, uint8_t seq[KEYMAP_SEQ_MAX])
{
    if (linux_key == KEY_SYSRQ)
        return down ? copy_seq(seq, print_screen_make, sizeof(print_screen_make))
                    : copy_seq(seq, print_screen_break, sizeof(print_screen_break));
    if (linux_key == KEY_PAUSE)
        return down ? copy_seq(seq, pause_make, sizeof(pause_make)) : 0;
    if (linux_key >= sizeof(set2_of_key) / sizeof(set2_of_key[0]) || !set2_of_key[linux_key])
        return 0;
    uint16_t code = set2_of_key[linux_key];
    size_t n = 0;
    if (code & E0)
        seq[n++] = 0xe0;
    if (!down)
        seq[n++] = 0xf0;
    seq[n++] = (uint8_t)code;
    return n;
}

/* Printable Latin-1 keysyms (0x20-0x7e) -> key; shifted symbols share their key. */
static const uint8_t key_of_ascii[0x7f] = {
    [' '] = KEY_SPACE, ['!'] = KEY_1, ['"'] = KEY_APOSTROPHE, ['#'] = KEY_3, ['$'] = KEY_4,
    ['%'] = KEY_5, ['&'] = KEY_7, ['\''] = KEY_APOSTROPHE, ['('] = KEY_9, [')'] = KEY_0,
    ['*'] = KEY_8, ['+'] = KEY_EQUAL, [','] = KEY_COMMA, ['-'] = KEY_MINUS, ['.'] = KEY_DOT,
    ['/'] = KEY_SLASH, ['0'] = KEY_0, ['1'] = KEY_1, ['2'] = KEY_2, ['3'] = KEY_3,
    ['4'] = KEY_4, ['5'] = KEY_5, ['6'] = KEY_6, ['7'] = KEY_7, ['8'] = KEY_8, ['9'] = KEY_9,
    [':'] = KEY_SEMICOLON, [';'] = KEY_SEMICOLON, ['<'] = KEY_COMMA, ['='] = KEY_EQUAL,
    ['>'] = KEY_DOT, ['?'] = KEY_SLASH, ['@'] = KEY_2, ['['] = KEY_LEFTBRACE,
    ['\\'] = KEY_BACKSLASH, [']'] = KEY_RIGHTBRACE, ['^'] = KEY_6, ['_'] = KEY_MINUS,
    ['`'] = KEY_GRAVE, ['{'] = KEY_LEFTBRACE, ['|'] = KEY_BACKSLASH, ['}'] = KEY_RIGHTBRACE,
    ['~'] = KEY_GRAVE,
    ['a'] = KEY_A, ['b'] = KEY_B, ['c'] = KEY_C, ['d'] = KEY_D, ['e'] = KEY_E, ['f'] = KEY_F,
    ['g'] = KEY_G, ['h'] = KEY_H, ['i'] = KEY_I, ['j'] = KEY_J, ['k'] = KEY_K, ['l'] = KEY_L,
    ['m'] = KEY_M, ['n'] = KEY_N, ['o'] = KEY_O, ['p'] = KEY_P, ['q'] = KEY_Q, ['r'] = KEY_R,
    ['s'] = KEY_S, ['t'] = KEY_T, ['u'] = KEY_U, ['v'] = KEY_V, ['w'] = KEY_W, ['x'] = KEY_X,
    ['y'] = KEY_Y, ['z'] = KEY_Z,
};

/* Function, editing, modifier and keypad keysyms (0xff00-0xffff). */
struct keysym_key {
    uint16_t keysym;
    uint8_t key;
};

static const struct keysym_key special_keys[] = {
    { 0xff08, KEY_BACKSPACE }, { 0xff09, KEY_TAB }, { 0xff0d, KEY_ENTER },
    { 0xff13, KEY_PAUSE }, { 0xff14, KEY_SCROLLLOCK }, { 0xff15, KEY_SYSRQ },
    { 0xff1b, KEY_ESC }, { 0xff50, KEY_HOME }, { 0xff51, KEY_LEFT }, { 0xff52, KEY_UP },
    { 0xff53, KEY_RIGHT }, { 0xff54, KEY_DOWN }, { 0xff55, KEY_PAGEUP },
    { 0xff56, KEY_PAGEDOWN }, { 0xff57, KEY_END }, { 0xff61, KEY_SYSRQ },
    { 0xff63, KEY_INSERT }, { 0xff67, KEY_COMPOSE }, { 0xff7f, KEY_NUMLOCK },
    { 0xff8d, KEY_KPENTER }, { 0xff95, KEY_KP7 }, { 0xff96, KEY_KP4 }, { 0xff97, KEY_KP8 },
    { 0xff98, KEY_KP6 }, { 0xff99, KEY_KP2 }, { 0xff9a, KEY_KP9 }, { 0xff9b, KEY_KP3 },
    { 0xff9c, KEY_KP1 }, { 0xff9d, KEY_KP5 }, { 0xff9e, KEY_KP0 }, { 0xff9f, KEY_KPDOT },
    { 0xffaa, KEY_KPASTERISK }, { 0xffab, KEY_KPPLUS }, { 0xffac, KEY_KPDOT },
    { 0xffad, KEY_KPMINUS }, { 0xffae, KEY_KPDOT }, { 0xffaf, KEY_KPSLASH },
    { 0xffb0, KEY_KP0 }, { 0xffb1, KEY_KP1 }, { 0xffb2, KEY_KP2 }, { 0xffb3, KEY_KP3 },
    { 0xffb4, KEY_KP4 }, { 0xffb5, KEY_KP5 }, { 0xffb6, KEY_KP6 }, { 0xffb7, KEY_KP7 },
    { 0xffb8, KEY_KP8 }, { 0xffb9, KEY_KP9 }, { 0xffbd, KEY_KPEQUAL },
    { 0xffbe, KEY_F1 }, { 0xffbf, KEY_F2 }, { 0xffc0, KEY_F3 }, { 0xffc1, KEY_F4 },
    { 0xffc2, KEY_F5 }, { 0xffc3, KEY_F6 }, { 0xffc4, KEY_F7 }, { 0xffc5, KEY_F8 },
    { 0xffc6, KEY_F9 }, { 0xffc7, KEY_F10 }, { 0xffc8, KEY_F11 }, { 0xffc9, KEY_F12 },
    { 0xffe1, KEY_LEFTSHIFT }, { 0xffe2, KEY_RIGHTSHIFT }, { 0xffe3, KEY_LEFTCTRL },
    { 0xffe4, KEY_RIGHTCTRL }, { 0xffe5, KEY_CAPSLOCK }, { 0xffe7, KEY_LEFTMETA },
    { 0xffe8, KEY_RIGHTMETA }, { 0xffe9, KEY_LEFTALT }, { 0xffea, KEY_RIGHTALT },
    { 0xffeb, KEY_LEFTMETA }, { 0xffec, KEY_RIGHTMETA }, { 0xffff, KEY_DELETE },
};

#define KEYSYM_ISO_LEVEL3_SHIFT 0xfe03   /* AltGr */

int keymap_keysym_to_linux(uint32_t keysym)
{
    if (keysym >= 'A' && keysym <= 'Z')
        keysym += 'a' - 'A';
    if (keysym < sizeof(key_of_ascii))
        return key_of_ascii[keysym] ? key_of_ascii[keysym] : -1;
    if (keysym == KEYSYM_ISO_LEVEL3_SHIFT)
        return KEY_RIGHTALT;
    for (size_t i = 0; i < sizeof(special_keys) / sizeof(special_keys[0]); i++)
        if (special_keys[i].keysym == keysym)
            return special_keys[i].key;
    return -1;
}
