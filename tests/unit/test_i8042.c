/* Unit tests for the i8042 PS/2 controller, keyboard and mouse models, and the key code tables. */
#include <stdbool.h>
#include <linux/input-event-codes.h>

#include "devices/i8042.h"
#include "devices/keymap.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_AUX 0x20

struct line_probe {
    int level, raises, set_calls;
};

struct board {
    struct i8042 k;
    struct line_probe kbd, aux;
    int resets, other_events;
};

static void probe_line(void *ctx, unsigned gsi, int level)
{
    struct line_probe *p = ctx;
    (void)gsi;
    if (level && !p->level)
        p->raises++;
    p->level = level;
    p->set_calls++;
}

static void probe_machine(void *ctx, enum machine_event ev)
{
    struct board *b = ctx;
    if (ev == MACHINE_RESET)
        b->resets++;
    else
        b->other_events++;
}

static void setup(struct board *b)
{
    memset(b, 0, sizeof(*b));
    i8042_init(&b->k, (struct irq_line){ probe_line, &b->kbd, I8042_KBD_IRQ },
               (struct irq_line){ probe_line, &b->aux, I8042_AUX_IRQ },
               (struct machine_ops){ probe_machine, b });
}

static uint8_t status(struct board *b)
{
    uint8_t v;
    i8042_cmd_io(&b->k, 0, &v, 1, false);
    return v;
}

static uint8_t data(struct board *b)
{
    uint8_t v;
    i8042_data_io(&b->k, 0, &v, 1, false);
    return v;
}

static void cmd(struct board *b, uint8_t v)
{
    i8042_cmd_io(&b->k, 0, &v, 1, true);
}

static void put(struct board *b, uint8_t v)
{
    i8042_data_io(&b->k, 0, &v, 1, true);
}

/* Read everything waiting; returns how many bytes, at most max. */
static unsigned drain(struct board *b, uint8_t *out, unsigned max)
{
    unsigned n = 0;
    while ((status(b) & ST_OBF) && n < max)
        out[n++] = data(b);
    return n;
}

static void set_command_byte(struct board *b, uint8_t v)
{
    cmd(b, 0x60);
    put(b, v);
}

TEST(self_tests)
{
    struct board b;
    setup(&b);
    CHECK(!(status(&b) & ST_OBF));
    cmd(&b, 0xaa);
    CHECK_EQ(status(&b) & (ST_OBF | ST_SYS | ST_CMD), ST_OBF | ST_SYS | ST_CMD);
    CHECK_EQ(data(&b), 0x55);
    cmd(&b, 0xab);
    CHECK_EQ(data(&b), 0x00);
    cmd(&b, 0xa9);
    CHECK_EQ(data(&b), 0x00);
    CHECK(!(status(&b) & ST_OBF));
    i8042_destroy(&b.k);
}

TEST(command_byte_read_write)
{
    struct board b;
    setup(&b);
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x47);
    set_command_byte(&b, 0x65);
    CHECK(!(status(&b) & ST_CMD));   /* last write went to the data port */
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x65);
    cmd(&b, 0xa8);                   /* aux enable clears bit 5 */
    cmd(&b, 0xad);                   /* keyboard disable sets bit 4 */
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x55);
    cmd(&b, 0xae);
    cmd(&b, 0xa7);
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x65);
    set_command_byte(&b, 0x00);
    CHECK(!(status(&b) & ST_SYS));
    cmd(&b, 0x65);                   /* controller RAM byte 5 */
    put(&b, 0x9c);
    cmd(&b, 0x25);
    CHECK_EQ(data(&b), 0x9c);
    i8042_destroy(&b.k);
}

TEST(keyboard_reset_and_identify)
{
    struct board b;
    uint8_t out[8];
    setup(&b);
    set_command_byte(&b, 0x05);      /* no translation */
    put(&b, 0xff);
    CHECK_EQ(drain(&b, out, 8), 2);
    CHECK_EQ(out[0], 0xfa);
    CHECK_EQ(out[1], 0xaa);
    put(&b, 0xf2);
    CHECK_EQ(drain(&b, out, 8), 3);
    CHECK_EQ(out[0], 0xfa);
    CHECK_EQ(out[1], 0xab);
    CHECK_EQ(out[2], 0x83);
    set_command_byte(&b, 0x45);      /* translated: the ID reads AB 41 */
    put(&b, 0xf2);
    CHECK_EQ(drain(&b, out, 8), 3);
    CHECK_EQ(out[1], 0xab);
    CHECK_EQ(out[2], 0x41);
    put(&b, 0xee);
    CHECK_EQ(drain(&b, out, 8), 1);
    CHECK_EQ(out[0], 0xee);
    put(&b, 0x12);                   /* not a command */
    CHECK_EQ(drain(&b, out, 8), 1);
    CHECK_EQ(out[0], 0xfe);
    i8042_destroy(&b.k);
}

TEST(keyboard_commands_with_arguments)
{
    struct board b;
    uint8_t out[8];
    setup(&b);
    set_command_byte(&b, 0x05);
    put(&b, 0xed);
    put(&b, 0x07);
    CHECK_EQ(drain(&b, out, 8), 2);
    CHECK_EQ(b.k.kbd.leds, 7);
    put(&b, 0xf3);
    put(&b, 0x20);
    CHECK_EQ(drain(&b, out, 8), 2);
    CHECK_EQ(b.k.kbd.typematic, 0x20);
    put(&b, 0xf0);
    put(&b, 0x00);                   /* query: FA FA 02 */
    CHECK_EQ(drain(&b, out, 8), 3);
    CHECK_EQ(out[2], 0x02);
    put(&b, 0xf0);
    put(&b, 0x03);                   /* set 3 is refused */
    CHECK_EQ(drain(&b, out, 8), 2);
    CHECK_EQ(out[1], 0xfe);
    put(&b, 0xf0);
    put(&b, 0x01);
    CHECK_EQ(drain(&b, out, 8), 2);
    i8042_key_event(&b.k, KEY_A, true);
    i8042_key_event(&b.k, KEY_A, false);
    CHECK_EQ(drain(&b, out, 8), 2);  /* the keyboard now speaks set 1 itself */
    CHECK_EQ(out[0], 0x1e);
    CHECK_EQ(out[1], 0x9e);
    put(&b, 0xfe);                   /* resend */
    CHECK_EQ(drain(&b, out, 8), 1);
    CHECK_EQ(out[0], 0x9e);
    i8042_destroy(&b.k);
}

TEST(key_a_set2_and_translated)
{
    struct board b;
    uint8_t out[8];
    setup(&b);
    set_command_byte(&b, 0x05);
    i8042_key_event(&b.k, KEY_A, true);
    i8042_key_event(&b.k, KEY_A, false);
    CHECK_EQ(drain(&b, out, 8), 3);
    CHECK_EQ(out[0], 0x1c);
    CHECK_EQ(out[1], 0xf0);
    CHECK_EQ(out[2], 0x1c);
    set_command_byte(&b, 0x45);
    i8042_key_event(&b.k, KEY_A, true);
    i8042_key_event(&b.k, KEY_A, false);
    CHECK_EQ(drain(&b, out, 8), 2);
    CHECK_EQ(out[0], 0x1e);
    CHECK_EQ(out[1], 0x9e);
    i8042_destroy(&b.k);
}

TEST(left_arrow_extended)
{
    struct board b;
    uint8_t out[8];
    setup(&b);
    set_command_byte(&b, 0x05);
    i8042_key_event(&b.k, KEY_LEFT, true);
    i8042_key_event(&b.k, KEY_LEFT, false);
    CHECK_EQ(drain(&b, out, 8), 5);
    CHECK_EQ(out[0], 0xe0);
    CHECK_EQ(out[1], 0x6b);
    CHECK_EQ(out[2], 0xe0);
    CHECK_EQ(out[3], 0xf0);
    CHECK_EQ(out[4], 0x6b);
    set_command_byte(&b, 0x45);
    i8042_key_event(&b.k, KEY_LEFT, true);
    i8042_key_event(&b.k, KEY_LEFT, false);
    CHECK_EQ(drain(&b, out, 8), 4);
    CHECK_EQ(out[0], 0xe0);
    CHECK_EQ(out[1], 0x4b);
    CHECK_EQ(out[2], 0xe0);
    CHECK_EQ(out[3], 0xcb);
    i8042_key_event(&b.k, KEY_SYSRQ, true);
    CHECK_EQ(drain(&b, out, 8), 4);  /* Print Screen, translated: E0 2A E0 37 */
    CHECK_EQ(out[1], 0x2a);
    CHECK_EQ(out[3], 0x37);
    i8042_destroy(&b.k);
}

TEST(output_buffer_and_irq1_edges)
{
    struct board b;
    setup(&b);
    set_command_byte(&b, 0x45);
    CHECK_EQ(b.kbd.level, 0);
    i8042_key_event(&b.k, KEY_LEFT, true);   /* E0 4B */
    CHECK_EQ(status(&b) & (ST_OBF | ST_AUX), ST_OBF);
    CHECK_EQ(b.kbd.level, 1);
    CHECK_EQ(b.kbd.raises, 1);
    CHECK_EQ(b.aux.raises, 0);
    CHECK_EQ(data(&b), 0xe0);
    CHECK_EQ(b.kbd.level, 1);        /* the next byte raised it again: a fresh edge */
    CHECK_EQ(b.kbd.raises, 2);
    CHECK_EQ(data(&b), 0x4b);
    CHECK_EQ(b.kbd.level, 0);
    CHECK(!(status(&b) & ST_OBF));
    CHECK_EQ(data(&b), 0x4b);        /* empty buffer: the last byte again */
    CHECK_EQ(b.kbd.raises, 2);
    set_command_byte(&b, 0x44);      /* keyboard interrupt off: data, no IRQ */
    i8042_key_event(&b.k, KEY_A, true);
    CHECK(status(&b) & ST_OBF);
    CHECK_EQ(b.kbd.level, 0);
    set_command_byte(&b, 0x45);      /* enabling it with data waiting raises the line */
    CHECK_EQ(b.kbd.level, 1);
    CHECK_EQ(data(&b), 0x1e);
    CHECK_EQ(b.kbd.level, 0);
    i8042_destroy(&b.k);
}

TEST(disabled_keyboard_queues_nothing)
{
    struct board b;
    uint8_t out[8];
    setup(&b);
    put(&b, 0xf5);
    CHECK_EQ(drain(&b, out, 8), 1);
    i8042_key_event(&b.k, KEY_A, true);
    CHECK(!(status(&b) & ST_OBF));
    put(&b, 0xf4);
    CHECK_EQ(drain(&b, out, 8), 1);
    cmd(&b, 0xad);
    i8042_key_event(&b.k, KEY_A, true);
    cmd(&b, 0xae);
    CHECK(!(status(&b) & ST_OBF));
    i8042_key_event(&b.k, KEY_A, true);
    CHECK(status(&b) & ST_OBF);
    i8042_destroy(&b.k);
}

TEST(keyboard_queue_bounded)
{
    struct board b;
    uint8_t out[300];
    setup(&b);
    for (int i = 0; i < 1000; i++)
        i8042_key_event(&b.k, KEY_DELETE, i & 1);
    unsigned n = drain(&b, out, 300);
    CHECK(n <= 16);
    CHECK(n >= 10);
    for (int i = 0; i < 1000; i++)
        put(&b, 0xee);               /* replies are bounded too */
    n = drain(&b, out, 300);
    CHECK(n <= PS2_QUEUE_SIZE + 1);   /* the queue plus the output buffer */
    i8042_destroy(&b.k);
}

TEST(resets_through_fe_and_d1)
{
    struct board b;
    setup(&b);
    cmd(&b, 0xfe);
    CHECK_EQ(b.resets, 1);
    cmd(&b, 0xff);                   /* pulses nothing */
    cmd(&b, 0xf1);                   /* bit 0 high: not the reset line */
    CHECK_EQ(b.resets, 1);
    cmd(&b, 0xf0);
    CHECK_EQ(b.resets, 2);
    cmd(&b, 0xd0);
    CHECK_EQ(data(&b), 0x03);
    cmd(&b, 0xd1);
    put(&b, 0xdf);                   /* A20 on, no reset */
    CHECK_EQ(b.resets, 2);
    cmd(&b, 0xd0);
    CHECK_EQ(data(&b), 0xdf);
    cmd(&b, 0xd1);
    put(&b, 0xde);
    CHECK_EQ(b.resets, 3);
    CHECK_EQ(b.other_events, 0);
    i8042_destroy(&b.k);
}

TEST(write_output_buffers_d2_d3)
{
    struct board b;
    setup(&b);
    cmd(&b, 0xd2);
    put(&b, 0x42);
    CHECK_EQ(status(&b) & (ST_OBF | ST_AUX), ST_OBF);
    CHECK_EQ(b.kbd.level, 1);
    CHECK_EQ(data(&b), 0x42);
    cmd(&b, 0xd3);
    put(&b, 0x5a);
    CHECK_EQ(status(&b) & (ST_OBF | ST_AUX), ST_OBF | ST_AUX);
    CHECK_EQ(b.aux.level, 1);
    CHECK_EQ(data(&b), 0x5a);
    CHECK_EQ(b.aux.level, 0);
    i8042_destroy(&b.k);
}

static void aux_put(struct board *b, uint8_t v)
{
    cmd(b, 0xd4);
    put(b, v);
}

static bool aux_expect(struct board *b, const uint8_t *want, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if ((status(b) & (ST_OBF | ST_AUX)) != (ST_OBF | ST_AUX))
            return false;
        if (data(b) != want[i])
            return false;
    }
    return !(status(b) & ST_OBF);
}

TEST(aux_commands)
{
    struct board b;
    setup(&b);
    aux_put(&b, 0xff);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0xaa, 0x00 }, 3));
    CHECK(b.aux.raises >= 3);
    aux_put(&b, 0xf2);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x00 }, 2));
    aux_put(&b, 0xf3);
    aux_put(&b, 40);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0xfa }, 2));
    aux_put(&b, 0xe8);
    aux_put(&b, 3);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0xfa }, 2));
    aux_put(&b, 0xe7);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    aux_put(&b, 0xf4);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    i8042_mouse_event(&b.k, 0, 0, 0, PS2_BUTTON_LEFT);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x09, 0, 0 }, 3));
    aux_put(&b, 0xe9);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x34, 3, 40 }, 4));
    aux_put(&b, 0xf6);
    aux_put(&b, 0xe9);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0xfa, 0x04, 2, 100 }, 5));
    aux_put(&b, 0x42);               /* unknown */
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfe }, 1));
    i8042_destroy(&b.k);
}

TEST(intellimouse_knock)
{
    struct board b;
    setup(&b);
    const uint8_t rates[] = { 200, 100, 80 };
    for (int i = 0; i < 3; i++) {
        aux_put(&b, 0xf3);
        aux_put(&b, rates[i]);
        CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0xfa }, 2));
    }
    aux_put(&b, 0xf2);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x03 }, 2));
    aux_put(&b, 0xf4);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    i8042_mouse_event(&b.k, 1, 0, 1, 0);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x08, 1, 0, 1 }, 4));
    i8042_mouse_event(&b.k, 0, 0, -20, 0);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x08, 0, 0, 0xf9, 0x08, 0, 0, 0xf9, 0x08, 0, 0, 0xfa }, 12));
    i8042_destroy(&b.k);
}

TEST(mouse_packets_sign_and_split)
{
    struct board b;
    setup(&b);
    aux_put(&b, 0xf4);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    int before = b.aux.raises;
    i8042_mouse_event(&b.k, -10, 5, 0, PS2_BUTTON_RIGHT);  /* 5 down on screen = -5 in PS/2 */
    CHECK(b.aux.raises > before);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x08 | 0x02 | 0x10 | 0x20, 0xf6, 0xfb }, 3));
    i8042_mouse_event(&b.k, 600, -300, 0, PS2_BUTTON_RIGHT);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x0a, 0xff, 0xff, 0x0a, 0xff, 45, 0x0a, 90, 0 }, 9));
    i8042_mouse_event(&b.k, -256, 0, 0, 0);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0x18, 0x01, 0, 0x18, 0xff, 0 }, 6));
    i8042_destroy(&b.k);
}

TEST(mouse_huge_moves_bounded)
{
    struct board b;
    uint8_t out[600];
    setup(&b);
    aux_put(&b, 0xf4);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    for (int i = 0; i < 100; i++)
        i8042_mouse_event(&b.k, 2000000000, -2000000000, 0, 0);
    CHECK(b.k.aux.queue.count <= PS2_QUEUE_SIZE);
    unsigned n = drain(&b, out, 600);
    CHECK_EQ(n, 600);                /* sent as the guest reads, never all at once */
    CHECK_EQ(n % 3, 0);
    for (unsigned i = 0; i < n; i += 3) {
        CHECK_EQ(out[i] & 0xc8, 0x08);   /* split packets never overflow */
        CHECK_EQ(out[i + 1], 0xff);
        CHECK_EQ(out[i + 2], 0xff);      /* upward on screen: positive PS/2 Y */
    }
    i8042_destroy(&b.k);
}

TEST(remote_mode_overflow)
{
    struct board b;
    setup(&b);
    aux_put(&b, 0xf0);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa }, 1));
    i8042_mouse_event(&b.k, 1000, 0, 0, 0);
    i8042_mouse_event(&b.k, 0, 400, 0, 0);
    CHECK(!(status(&b) & ST_OBF));   /* remote mode: nothing until asked */
    aux_put(&b, 0xeb);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x08 | 0x40 | 0x80 | 0x20, 0xff, 0x00 }, 4));
    aux_put(&b, 0xeb);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x08, 0, 0 }, 4));
    i8042_destroy(&b.k);
}

TEST(aux_waits_while_disabled)
{
    struct board b;
    setup(&b);
    cmd(&b, 0xa7);
    aux_put(&b, 0xf2);
    CHECK(!(status(&b) & ST_OBF));
    cmd(&b, 0xa8);
    CHECK(aux_expect(&b, (const uint8_t[]){ 0xfa, 0x00 }, 2));
    i8042_destroy(&b.k);
}

TEST(hostile_sequences)
{
    struct board b;
    uint8_t out[64];
    setup(&b);
    CHECK_EQ(data(&b), 0x00);        /* nothing ever sent */
    cmd(&b, 0x60);                   /* missing data byte: the next command wins */
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x47);
    cmd(&b, 0xd4);
    cmd(&b, 0xd1);
    cmd(&b, 0xd3);
    cmd(&b, 0xaa);
    CHECK_EQ(data(&b), 0x55);
    CHECK_EQ(data(&b), 0x55);
    CHECK_EQ(b.resets, 0);
    put(&b, 0xed);                   /* keyboard: command, then another command */
    put(&b, 0xf2);
    CHECK_EQ(drain(&b, out, 64), 4);
    aux_put(&b, 0xf3);
    aux_put(&b, 0xff);               /* a command instead of the rate: reset */
    CHECK_EQ(drain(&b, out, 64), 4);
    CHECK_EQ(out[1], 0xfa);
    CHECK_EQ(out[2], 0xaa);
    for (int i = 0; i < 40; i++)
        cmd(&b, 0x20);               /* controller replies are bounded */
    CHECK(drain(&b, out, 64) <= I8042_CTRL_QUEUE + 1);
    for (unsigned v = 0; v < 256; v++) {
        cmd(&b, (uint8_t)v == 0xfe || ((uint8_t)v >= 0xf0 && !(v & 1)) ? 0x20 : (uint8_t)v);
        put(&b, (uint8_t)v);
        drain(&b, out, 64);
    }
    uint8_t wide[4] = { 0 };
    i8042_data_io(&b.k, 0, wide, 4, false);
    CHECK_EQ(wide[0], 0xff);
    i8042_data_io(&b.k, 0, wide, 2, true);
    i8042_key_event(&b.k, 0xffffffffu, true);
    i8042_key_event(&b.k, KEY_PAUSE, false);
    i8042_destroy(&b.k);
}

TEST(reset_restores_defaults)
{
    struct board b;
    setup(&b);
    set_command_byte(&b, 0x00);
    i8042_key_event(&b.k, KEY_A, true);
    i8042_reset(&b.k);
    CHECK(!(status(&b) & ST_OBF));
    cmd(&b, 0x20);
    CHECK_EQ(data(&b), 0x47);
    i8042_destroy(&b.k);
}

/* ---- key code tables ---- */

TEST(set2_table_translates_to_linux_codes)
{
    /* Linux key codes 1-88 are the set-1 make codes, so each set-2 code must translate to its key. */
    for (uint32_t key = 1; key <= KEY_F12; key++) {
        uint8_t seq[KEYMAP_SEQ_MAX];
        size_t n = keymap_linux_to_set2(key, true, seq);
        if (key == 84 || key == 85)
            continue;                /* no such keys on a PC keyboard */
        CHECK_EQ(n, 1);
        CHECK_EQ(i8042_translate(seq[0]), key);
        CHECK_EQ(keymap_linux_to_set2(key, false, seq), 2);
        CHECK_EQ(seq[0], 0xf0);
    }
    uint8_t seq[KEYMAP_SEQ_MAX];
    CHECK_EQ(keymap_linux_to_set2(KEY_KPENTER, false, seq), 3);
    CHECK_EQ(seq[0], 0xe0);
    CHECK_EQ(seq[1], 0xf0);
    CHECK_EQ(seq[2], 0x5a);
    CHECK_EQ(keymap_linux_to_set2(KEY_RIGHTCTRL, true, seq), 2);
    CHECK_EQ(seq[1], 0x14);
    CHECK_EQ(keymap_linux_to_set2(KEY_PAUSE, true, seq), 8);
    CHECK_EQ(keymap_linux_to_set2(KEY_PAUSE, false, seq), 0);
    CHECK_EQ(keymap_linux_to_set2(KEY_MAX, true, seq), 0);
    CHECK_EQ(keymap_linux_to_set2(0, true, seq), 0);
}

TEST(keysyms_to_linux)
{
    CHECK_EQ(keymap_keysym_to_linux('a'), KEY_A);
    CHECK_EQ(keymap_keysym_to_linux('A'), KEY_A);
    CHECK_EQ(keymap_keysym_to_linux('z'), KEY_Z);
    CHECK_EQ(keymap_keysym_to_linux('0'), KEY_0);
    CHECK_EQ(keymap_keysym_to_linux(')'), KEY_0);
    CHECK_EQ(keymap_keysym_to_linux('@'), KEY_2);
    CHECK_EQ(keymap_keysym_to_linux('~'), KEY_GRAVE);
    CHECK_EQ(keymap_keysym_to_linux('"'), KEY_APOSTROPHE);
    CHECK_EQ(keymap_keysym_to_linux('?'), KEY_SLASH);
    CHECK_EQ(keymap_keysym_to_linux(' '), KEY_SPACE);
    CHECK_EQ(keymap_keysym_to_linux(0xff0d), KEY_ENTER);
    CHECK_EQ(keymap_keysym_to_linux(0xff1b), KEY_ESC);
    CHECK_EQ(keymap_keysym_to_linux(0xff08), KEY_BACKSPACE);
    CHECK_EQ(keymap_keysym_to_linux(0xff51), KEY_LEFT);
    CHECK_EQ(keymap_keysym_to_linux(0xff56), KEY_PAGEDOWN);
    CHECK_EQ(keymap_keysym_to_linux(0xffff), KEY_DELETE);
    CHECK_EQ(keymap_keysym_to_linux(0xffbe), KEY_F1);
    CHECK_EQ(keymap_keysym_to_linux(0xffc9), KEY_F12);
    CHECK_EQ(keymap_keysym_to_linux(0xffe4), KEY_RIGHTCTRL);
    CHECK_EQ(keymap_keysym_to_linux(0xffea), KEY_RIGHTALT);
    CHECK_EQ(keymap_keysym_to_linux(0xffe5), KEY_CAPSLOCK);
    CHECK_EQ(keymap_keysym_to_linux(0xff8d), KEY_KPENTER);
    CHECK_EQ(keymap_keysym_to_linux(0xffb7), KEY_KP7);
    CHECK_EQ(keymap_keysym_to_linux(0xffaf), KEY_KPSLASH);
    CHECK_EQ(keymap_keysym_to_linux(0x7f), -1);
    CHECK_EQ(keymap_keysym_to_linux(0x01), -1);
    CHECK_EQ(keymap_keysym_to_linux(0x1234567), -1);
    for (uint32_t s = 0x20; s < 0x7f; s++)
        CHECK(keymap_keysym_to_linux(s) > 0);
}
