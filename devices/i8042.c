/* i8042 PS/2 controller (ports 0x60/0x64) with an AT keyboard (IRQ 1) and a PS/2 mouse (IRQ 12).
 * Controller: IBM PC/AT Technical Reference, "Keyboard controller" (status register, command
 * byte, commands 20h-FFh). Devices: IBM PS/2 Hardware Interface Technical Reference, "Keyboard
 * and auxiliary device controller" (keyboard commands EDh-FFh, mouse commands E6h-FFh, the
 * 3-byte mouse data packet); the 4-byte wheel packet follows Microsoft's IntelliMouse spec. */
#include "devices/i8042.h"

#include <string.h>

#include "devices/keymap.h"

/* Status register (port 0x64 read). */
#define STATUS_OBF 0x01
#define STATUS_IBF 0x02
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08        /* last write went to port 0x64 */
#define STATUS_UNLOCKED 0x10   /* keyboard not inhibited by the key lock */
#define STATUS_AUX 0x20        /* output buffer holds mouse data */

/* Command byte (controller RAM byte 0). */
#define CMDB_KBD_INT 0x01
#define CMDB_AUX_INT 0x02
#define CMDB_SYS 0x04
#define CMDB_KBD_DISABLE 0x10
#define CMDB_AUX_DISABLE 0x20
#define CMDB_TRANSLATE 0x40
#define CMDB_DEFAULT (CMDB_KBD_INT | CMDB_AUX_INT | CMDB_SYS | CMDB_TRANSLATE)

/* Output port (commands D0h/D1h). */
#define OUTPORT_RESET 0x01     /* 0 holds the CPU in reset */
#define OUTPORT_A20 0x02
#define OUTPORT_DEFAULT (OUTPORT_RESET | OUTPORT_A20)
#define INPUT_PORT_VALUE 0x80  /* keyboard not inhibited */

#define CTRL_AUX_FLAG 0x100

/* Device replies. */
#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe
#define PS2_ECHO 0xee
#define PS2_SELF_TEST_OK 0xaa
#define PS2_BREAK_PREFIX 0xf0

/* Host input stops at these queue depths: whole sequences or packets only. */
#define KBD_INPUT_LIMIT 16
#define AUX_INPUT_LIMIT 48

#define MOUSE_MAX_STEP 255     /* a 9-bit two's-complement count holds -256..255 */
#define WHEEL_MAX_STEP 7       /* IntelliMouse Z: 4-bit two's complement */

/* ---- byte queues ---- */

static unsigned queue_room(const struct ps2_queue *q)
{
    return PS2_QUEUE_SIZE - q->count;
}

/* All or nothing: a partial scan code sequence or packet would desynchronise the guest. */
static bool queue_push(struct ps2_queue *q, const uint8_t *bytes, unsigned n)
{
    if (n > queue_room(q))
        return false;
    for (unsigned i = 0; i < n; i++)
        q->bytes[(q->head + q->count++) % PS2_QUEUE_SIZE] = bytes[i];
    return true;
}

static uint8_t queue_pop(struct ps2_queue *q)
{
    uint8_t b = q->bytes[q->head];
    q->head = (q->head + 1) % PS2_QUEUE_SIZE;
    q->count--;
    return b;
}

static void queue_clear(struct ps2_queue *q)
{
    q->head = q->count = 0;
}

/* ---- set 2 -> set 1 translation (the 8042's table for codes below 80h) ---- */

static const uint8_t set1_of_set2[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t i8042_translate(uint8_t set2)
{
    if (set2 < 0x80)
        return set1_of_set2[set2];
    if (set2 == 0x83)
        return 0x41;    /* F7, the one set-2 make code above 7Fh */
    if (set2 == 0x84)
        return 0x54;    /* Alt+SysRq */
    return set2;        /* prefixes and replies pass unchanged */
}

/* ---- keyboard ---- */

static void kbd_defaults(struct ps2_keyboard *kb)
{
    kb->scancode_set = 2;
    kb->leds = 0;
    kb->typematic = 0x2b;   /* 10.9 cps, 500 ms */
    kb->pending = 0;
}

static void kbd_send(struct ps2_keyboard *kb, const uint8_t *bytes, unsigned n)
{
    if (queue_push(&kb->queue, bytes, n) && n)
        kb->last_sent = bytes[n - 1];
}

static void kbd_send1(struct ps2_keyboard *kb, uint8_t b)
{
    kbd_send(kb, &b, 1);
}

static void kbd_argument(struct ps2_keyboard *kb, uint8_t cmd, uint8_t arg)
{
    switch (cmd) {
    case 0xed:                               /* set LEDs */
        kb->leds = arg & 0x07;
        kbd_send1(kb, PS2_ACK);
        break;
    case 0xf3:                               /* typematic rate and delay */
        kb->typematic = arg & 0x7f;
        kbd_send1(kb, PS2_ACK);
        break;
    default:                                 /* 0xf0: select or query the scan code set */
        if (arg == 0) {
            kbd_send(kb, (const uint8_t[]){ PS2_ACK, kb->scancode_set }, 2);
        } else if (arg == 1 || arg == 2) {
            kb->scancode_set = arg;
            kbd_send1(kb, PS2_ACK);
        } else {
            kbd_send1(kb, PS2_RESEND);       /* set 3 is not offered */
        }
        break;
    }
}

static void kbd_command(struct ps2_keyboard *kb, uint8_t cmd)
{
    switch (cmd) {
    case 0xed: case 0xf0: case 0xf3:
        kb->pending = cmd;
        kbd_send1(kb, PS2_ACK);
        break;
    case 0xee:
        kbd_send1(kb, PS2_ECHO);
        break;
    case 0xf2:                               /* identify: MF2 keyboard */
        kbd_send(kb, (const uint8_t[]){ PS2_ACK, 0xab, 0x83 }, 3);
        break;
    case 0xf4:                               /* enable scanning */
        queue_clear(&kb->queue);
        kb->scanning = true;
        kbd_send1(kb, PS2_ACK);
        break;
    case 0xf5:                               /* default and disable */
    case 0xf6:                               /* set defaults */
        queue_clear(&kb->queue);
        kbd_defaults(kb);
        kb->scanning = cmd == 0xf6;
        kbd_send1(kb, PS2_ACK);
        break;
    case 0xf7: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd:
        kbd_send1(kb, PS2_ACK);              /* set-3 key type commands: accepted, no effect */
        break;
    case 0xfe:
        kbd_send1(kb, kb->last_sent);
        break;
    case 0xff:                               /* reset and basic assurance test */
        queue_clear(&kb->queue);
        kbd_defaults(kb);
        kb->scanning = true;
        kbd_send(kb, (const uint8_t[]){ PS2_ACK, PS2_SELF_TEST_OK }, 2);
        break;
    default:
        kbd_send1(kb, PS2_RESEND);
        break;
    }
}

/* A byte for the keyboard: the argument of the previous command, or a new command. */
static void kbd_write(struct ps2_keyboard *kb, uint8_t v)
{
    uint8_t pending = kb->pending;
    kb->pending = 0;
    if (pending && v < 0xed)
        kbd_argument(kb, pending, v);
    else
        kbd_command(kb, v);
}

/* ---- mouse ---- */

static void mouse_defaults(struct ps2_mouse *m)
{
    m->rate = 100;
    m->resolution = 2;       /* 4 counts/mm */
    m->scaling_2to1 = false;
    m->reporting = false;
    m->remote = false;
    m->wrap = false;
    m->pending = 0;
    m->acc_dx = m->acc_dy = m->acc_dz = 0;
    m->sent_buttons = m->buttons;
}

static void mouse_send(struct ps2_mouse *m, const uint8_t *bytes, unsigned n)
{
    if (queue_push(&m->queue, bytes, n) && n)
        m->last_sent = bytes[n - 1];
}

static void mouse_send1(struct ps2_mouse *m, uint8_t b)
{
    mouse_send(m, &b, 1);
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static unsigned packet_size(const struct ps2_mouse *m)
{
    return m->id == 3 ? 4 : 3;
}

/* One packet: byte 0 = buttons, bit 3 always set, X/Y sign (bit 8 of the 9-bit count) and
 * overflow; bytes 1-2 = low 8 bits of X and Y; byte 3 (wheel mouse) = Z. */
static unsigned encode_packet(const struct ps2_mouse *m, int dx, int dy, int dz, uint8_t *pkt)
{
    uint8_t b0 = 0x08 | (m->buttons & 0x07);
    if (dx < -256 || dx > MOUSE_MAX_STEP)
        b0 |= 0x40;
    if (dy < -256 || dy > MOUSE_MAX_STEP)
        b0 |= 0x80;
    dx = clamp(dx, -256, MOUSE_MAX_STEP);
    dy = clamp(dy, -256, MOUSE_MAX_STEP);
    if (dx < 0)
        b0 |= 0x10;
    if (dy < 0)
        b0 |= 0x20;
    pkt[0] = b0;
    pkt[1] = (uint8_t)(dx & 0xff);
    pkt[2] = (uint8_t)(dy & 0xff);
    pkt[3] = (uint8_t)(clamp(dz, -8, WHEEL_MAX_STEP) & 0xff);
    return packet_size(m);
}

/* Stream mode: report pending motion and button changes as packets while the queue has room. */
static void mouse_flush_motion(struct ps2_mouse *m)
{
    if (!m->reporting || m->remote || m->wrap)
        return;
    while (m->acc_dx || m->acc_dy || m->acc_dz || m->buttons != m->sent_buttons) {
        unsigned size = packet_size(m);
        if (m->queue.count + size > AUX_INPUT_LIMIT)
            break;
        int dx = clamp(m->acc_dx, -MOUSE_MAX_STEP, MOUSE_MAX_STEP);
        int dy = clamp(m->acc_dy, -MOUSE_MAX_STEP, MOUSE_MAX_STEP);
        int dz = clamp(m->acc_dz, -WHEEL_MAX_STEP, WHEEL_MAX_STEP);
        uint8_t pkt[4];
        mouse_send(m, pkt, encode_packet(m, dx, dy, dz, pkt));
        m->acc_dx -= dx;
        m->acc_dy -= dy;
        m->acc_dz -= dz;
        m->sent_buttons = m->buttons;
    }
}

/* Remote mode read (EBh): everything counted since the last report, overflow bits if it did not fit. */
static void mouse_read_data(struct ps2_mouse *m)
{
    uint8_t pkt[5];
    pkt[0] = PS2_ACK;
    unsigned n = encode_packet(m, m->acc_dx, m->acc_dy, m->acc_dz, pkt + 1);
    mouse_send(m, pkt, n + 1);
    m->acc_dx = m->acc_dy = m->acc_dz = 0;
    m->sent_buttons = m->buttons;
}

static void mouse_status(struct ps2_mouse *m)
{
    uint8_t s = 0;
    if (m->remote) s |= 0x40;
    if (m->reporting) s |= 0x20;
    if (m->scaling_2to1) s |= 0x10;
    if (m->buttons & PS2_BUTTON_LEFT) s |= 0x04;
    if (m->buttons & PS2_BUTTON_MIDDLE) s |= 0x02;
    if (m->buttons & PS2_BUTTON_RIGHT) s |= 0x01;
    mouse_send(m, (const uint8_t[]){ PS2_ACK, s, m->resolution, m->rate }, 4);
}

static void mouse_argument(struct ps2_mouse *m, uint8_t cmd, uint8_t arg)
{
    if (cmd == 0xe8) {
        m->resolution = arg & 0x03;
    } else {                                 /* 0xf3: sample rate */
        m->rate = arg;
        m->rate_history[0] = m->rate_history[1];
        m->rate_history[1] = m->rate_history[2];
        m->rate_history[2] = arg;
        if (m->rate_history[0] == 200 && m->rate_history[1] == 100 && m->rate_history[2] == 80)
            m->id = 3;                       /* IntelliMouse: wheel in a fourth byte */
    }
    mouse_send1(m, PS2_ACK);
}

static void mouse_command(struct ps2_mouse *m, uint8_t cmd)
{
    switch (cmd) {
    case 0xe6: m->scaling_2to1 = false; mouse_send1(m, PS2_ACK); break;
    case 0xe7: m->scaling_2to1 = true; mouse_send1(m, PS2_ACK); break;
    case 0xe8: case 0xf3: m->pending = cmd; mouse_send1(m, PS2_ACK); break;
    case 0xe9: mouse_status(m); break;
    case 0xea: m->remote = false; m->acc_dx = m->acc_dy = m->acc_dz = 0; mouse_send1(m, PS2_ACK); break;
    case 0xeb: mouse_read_data(m); break;
    case 0xec: m->wrap = false; mouse_send1(m, PS2_ACK); break;
    case 0xee: m->wrap = true; mouse_send1(m, PS2_ACK); break;
    case 0xf0: m->remote = true; mouse_send1(m, PS2_ACK); break;
    case 0xf2: mouse_send(m, (const uint8_t[]){ PS2_ACK, m->id }, 2); break;
    case 0xf4: m->reporting = true; m->sent_buttons = m->buttons; mouse_send1(m, PS2_ACK); break;
    case 0xf5: m->reporting = false; mouse_send1(m, PS2_ACK); break;
    case 0xf6: mouse_defaults(m); mouse_send1(m, PS2_ACK); break;
    case 0xfe: mouse_send1(m, m->last_sent); break;
    case 0xff:
        queue_clear(&m->queue);
        mouse_defaults(m);
        m->id = 0;
        mouse_send(m, (const uint8_t[]){ PS2_ACK, PS2_SELF_TEST_OK, 0x00 }, 3);
        break;
    default: mouse_send1(m, PS2_RESEND); break;
    }
}

static void mouse_write(struct ps2_mouse *m, uint8_t v)
{
    uint8_t pending = m->pending;
    m->pending = 0;
    if (m->wrap && v != 0xec && v != 0xff)
        mouse_send1(m, v);                   /* wrap (echo) mode */
    else if (pending && v < 0xe6)
        mouse_argument(m, pending, v);
    else
        mouse_command(m, v);
}

/* ---- controller: output buffer and interrupts ---- */

static uint8_t command_byte(const struct i8042 *k)
{
    return k->ram[0];
}

static void update_irqs(struct i8042 *k)
{
    bool kbd = k->out_full && !k->out_aux && (command_byte(k) & CMDB_KBD_INT);
    bool aux = k->out_full && k->out_aux && (command_byte(k) & CMDB_AUX_INT);
    if (kbd != k->kbd_level) {
        k->kbd_level = kbd;
        irq_line_set(&k->kbd_irq, kbd);
    }
    if (aux != k->aux_level) {
        k->aux_level = aux;
        irq_line_set(&k->aux_irq, aux);
    }
}

static void present(struct i8042 *k, uint8_t b, bool aux)
{
    k->out_byte = b;
    k->out_full = true;
    k->out_aux = aux;
}

/* Next keyboard byte for the output buffer, translated to set 1 if the command byte says so;
 * false if the queue holds nothing to present (a lone break prefix is kept for later). */
static bool next_keyboard_byte(struct i8042 *k, uint8_t *out)
{
    while (k->kbd.queue.count) {
        uint8_t b = queue_pop(&k->kbd.queue);
        if (!(command_byte(k) & CMDB_TRANSLATE)) {
            *out = b;
            return true;
        }
        if (b == PS2_BREAK_PREFIX) {
            k->translate_break = true;
            continue;
        }
        *out = i8042_translate(b) | (k->translate_break ? 0x80 : 0);
        k->translate_break = false;
        return true;
    }
    return false;
}

/* Fill an empty output buffer: controller replies first, then the keyboard, then the mouse
 * (each device only while its interface is enabled). */
static void fill_output(struct i8042 *k)
{
    if (k->out_full)
        return;
    if (k->ctrl_count) {
        uint16_t e = k->ctrl_queue[k->ctrl_head];
        k->ctrl_head = (k->ctrl_head + 1) % I8042_CTRL_QUEUE;
        k->ctrl_count--;
        present(k, (uint8_t)e, (e & CTRL_AUX_FLAG) != 0);
        return;
    }
    uint8_t b;
    if (!(command_byte(k) & CMDB_KBD_DISABLE) && next_keyboard_byte(k, &b)) {
        present(k, b, false);
        return;
    }
    mouse_flush_motion(&k->aux);
    if (!(command_byte(k) & CMDB_AUX_DISABLE) && k->aux.queue.count)
        present(k, queue_pop(&k->aux.queue), true);
}

static void sync_output(struct i8042 *k)
{
    fill_output(k);
    update_irqs(k);
}

static void ctrl_reply(struct i8042 *k, uint8_t b, bool aux)
{
    if (k->ctrl_count == I8042_CTRL_QUEUE)
        return;
    k->ctrl_queue[(k->ctrl_head + k->ctrl_count++) % I8042_CTRL_QUEUE] = b | (aux ? CTRL_AUX_FLAG : 0);
}

static void set_command_byte(struct i8042 *k, uint8_t v)
{
    if ((v ^ k->ram[0]) & CMDB_TRANSLATE)
        k->translate_break = false;
    k->ram[0] = v;
    k->sys_flag = (v & CMDB_SYS) != 0;
}

/* ---- controller commands (port 0x64) and their data bytes (port 0x60) ---- */

/* Returns true when the guest asked for a CPU reset. */
static bool write_output_port(struct i8042 *k, uint8_t v)
{
    k->output_port = v;
    return !(v & OUTPORT_RESET);
}

static bool controller_command(struct i8042 *k, uint8_t cmd)
{
    k->pending = 0;                          /* a new command drops a missing data byte */
    if (cmd >= 0x20 && cmd <= 0x3f) {        /* read controller RAM (20h: command byte) */
        ctrl_reply(k, k->ram[cmd & 0x1f], false);
        return false;
    }
    if (cmd >= 0x60 && cmd <= 0x7f) {        /* write controller RAM: data byte follows */
        k->pending = cmd;
        return false;
    }
    if (cmd >= 0xf0)                         /* pulse output lines low; bit 0 = CPU reset */
        return !(cmd & 0x01);
    switch (cmd) {
    case 0xa7: set_command_byte(k, command_byte(k) | CMDB_AUX_DISABLE); break;
    case 0xa8: set_command_byte(k, command_byte(k) & ~CMDB_AUX_DISABLE); break;
    case 0xa9: ctrl_reply(k, 0x00, false); break;  /* aux interface test: no error */
    case 0xaa:                               /* controller self test */
        k->sys_flag = true;
        ctrl_reply(k, 0x55, false);
        break;
    case 0xab: ctrl_reply(k, 0x00, false); break;  /* keyboard interface test */
    case 0xad: set_command_byte(k, command_byte(k) | CMDB_KBD_DISABLE); break;
    case 0xae: set_command_byte(k, command_byte(k) & ~CMDB_KBD_DISABLE); break;
    case 0xc0: ctrl_reply(k, INPUT_PORT_VALUE, false); break;
    case 0xd0: ctrl_reply(k, k->output_port, false); break;
    case 0xd1: case 0xd2: case 0xd3: case 0xd4:
        k->pending = cmd;
        break;
    case 0xe0: ctrl_reply(k, 0x00, false); break;  /* test inputs */
    default: break;
    }
    return false;
}

static bool controller_data(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->pending;
    k->pending = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
        if (cmd == 0x60)
            set_command_byte(k, v);
        else
            k->ram[cmd & 0x1f] = v;
        return false;
    }
    switch (cmd) {
    case 0xd1: return write_output_port(k, v);
    case 0xd2: ctrl_reply(k, v, false); return false;
    case 0xd3: ctrl_reply(k, v, true); return false;
    case 0xd4: mouse_write(&k->aux, v); return false;
    default:
        /* A byte for the keyboard; sending enables the keyboard interface. */
        set_command_byte(k, command_byte(k) & ~CMDB_KBD_DISABLE);
        kbd_write(&k->kbd, v);
        return false;
    }
}

static uint8_t read_status(const struct i8042 *k)
{
    uint8_t s = STATUS_UNLOCKED;
    if (k->out_full) s |= STATUS_OBF;
    if (k->out_full && k->out_aux) s |= STATUS_AUX;
    if (k->sys_flag) s |= STATUS_SYS;
    if (k->last_write_was_cmd) s |= STATUS_CMD;
    return s;
}

static uint8_t read_data(struct i8042 *k)
{
    if (k->out_full) {
        k->out_full = false;
        update_irqs(k);                      /* falling edge, then maybe a new byte */
    }
    return k->out_byte;
}

static void port_access(struct i8042 *k, bool cmd_port, uint8_t *data, uint32_t len, bool is_write)
{
    if (len != 1) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    bool reset = false;
    pthread_mutex_lock(&k->lock);
    if (is_write) {
        k->last_write_was_cmd = cmd_port;
        reset = cmd_port ? controller_command(k, data[0]) : controller_data(k, data[0]);
    } else {
        data[0] = cmd_port ? read_status(k) : read_data(k);
    }
    sync_output(k);
    pthread_mutex_unlock(&k->lock);
    if (reset)
        machine_request(&k->machine, MACHINE_RESET);
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    (void)offset;
    port_access(opaque, false, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    (void)offset;
    port_access(opaque, true, data, len, is_write);
}

/* ---- host input ---- */

void i8042_key_event(struct i8042 *k, uint32_t linux_key, bool down)
{
    uint8_t seq[KEYMAP_SEQ_MAX];
    size_t n = keymap_linux_to_set2(linux_key, down, seq);
    if (!n)
        return;
    pthread_mutex_lock(&k->lock);
    struct ps2_keyboard *kb = &k->kbd;
    bool accepting = kb->scanning && !(command_byte(k) & CMDB_KBD_DISABLE);
    if (accepting && kb->queue.count + n <= KBD_INPUT_LIMIT) {
        if (kb->scancode_set == 1) {
            /* The keyboard itself sends set 1: the same sequence through the translation. */
            size_t m = 0;
            bool brk = false;
            for (size_t i = 0; i < n; i++) {
                if (seq[i] == PS2_BREAK_PREFIX) {
                    brk = true;
                    continue;
                }
                seq[m++] = i8042_translate(seq[i]) | (brk ? 0x80 : 0);
                brk = false;
            }
            n = m;
        }
        kbd_send(kb, seq, (unsigned)n);
        sync_output(k);
    }
    pthread_mutex_unlock(&k->lock);
}

static int saturating_add(int acc, long long delta)
{
    long long sum = acc + delta;
    return (int)(sum < -65536 ? -65536 : sum > 65535 ? 65535 : sum);
}

void i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons)
{
    pthread_mutex_lock(&k->lock);
    struct ps2_mouse *m = &k->aux;
    m->buttons = buttons & 0x07;
    if (m->remote || m->reporting) {
        /* PS/2 counts Y upwards; the host gives screen coordinates. */
        m->acc_dx = saturating_add(m->acc_dx, dx);
        m->acc_dy = saturating_add(m->acc_dy, -(long long)dy);
        m->acc_dz = saturating_add(m->acc_dz, dz);
        mouse_flush_motion(m);
        sync_output(k);
    }
    pthread_mutex_unlock(&k->lock);
}

/* ---- life cycle ---- */

void i8042_reset(struct i8042 *k)
{
    pthread_mutex_lock(&k->lock);
    memset(k->ram, 0, sizeof(k->ram));
    set_command_byte(k, CMDB_DEFAULT);
    k->sys_flag = false;
    k->output_port = OUTPORT_DEFAULT;
    k->pending = 0;
    k->ctrl_head = k->ctrl_count = 0;
    k->out_full = k->out_aux = false;
    k->out_byte = 0;
    k->last_write_was_cmd = false;
    k->translate_break = false;
    queue_clear(&k->kbd.queue);
    kbd_defaults(&k->kbd);
    k->kbd.scanning = true;
    k->kbd.last_sent = PS2_ACK;
    queue_clear(&k->aux.queue);
    k->aux.buttons = 0;
    mouse_defaults(&k->aux);
    k->aux.id = 0;
    k->aux.last_sent = PS2_ACK;
    memset(k->aux.rate_history, 0, sizeof(k->aux.rate_history));
    update_irqs(k);
    pthread_mutex_unlock(&k->lock);
}

void i8042_init(struct i8042 *k, struct irq_line kbd_irq, struct irq_line aux_irq,
                struct machine_ops machine)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->kbd_irq = kbd_irq;
    k->aux_irq = aux_irq;
    k->machine = machine;
    i8042_reset(k);
}

void i8042_destroy(struct i8042 *k)
{
    pthread_mutex_destroy(&k->lock);
}
