/* i8042 PS/2 controller (ports 0x60/0x64) with an AT keyboard (IRQ 1) and a PS/2 mouse (IRQ 12). */
#ifndef DEVICES_I8042_H
#define DEVICES_I8042_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "devices/device.h"

#define I8042_DATA_PORT 0x60   /* register with i8042_data_io, length 1 */
#define I8042_CMD_PORT 0x64    /* register with i8042_cmd_io, length 1 */
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

#define PS2_QUEUE_SIZE 256     /* bytes a device may hold for the controller; more are dropped */
#define I8042_CTRL_QUEUE 16    /* controller responses (command byte reads, self tests, D2/D3) */
#define I8042_RAM_SIZE 32      /* controller RAM; byte 0 is the command byte */

/* Mouse buttons for i8042_mouse_event. */
#define PS2_BUTTON_LEFT 0x01
#define PS2_BUTTON_RIGHT 0x02
#define PS2_BUTTON_MIDDLE 0x04

struct ps2_queue {
    uint8_t bytes[PS2_QUEUE_SIZE];
    unsigned head, count;
};

struct ps2_keyboard {
    struct ps2_queue queue;
    uint8_t pending;           /* command waiting for its argument byte, 0 = none */
    uint8_t scancode_set;      /* 1 or 2 */
    uint8_t leds, typematic;
    uint8_t last_sent;         /* for the resend command */
    bool scanning;
};

struct ps2_mouse {
    struct ps2_queue queue;
    uint8_t pending;
    uint8_t rate, resolution, id;
    uint8_t rate_history[3];   /* last three sample rates, for the IntelliMouse knock */
    uint8_t last_sent;
    bool reporting, remote, scaling_2to1, wrap;
    unsigned buttons, sent_buttons;
    int acc_dx, acc_dy, acc_dz; /* motion not yet reported; y and z in PS/2 sense (up, wheel down) */
};

struct i8042 {
    pthread_mutex_t lock;
    struct irq_line kbd_irq, aux_irq;
    struct machine_ops machine;
    struct ps2_keyboard kbd;
    struct ps2_mouse aux;
    uint8_t ram[I8042_RAM_SIZE];
    uint16_t ctrl_queue[I8042_CTRL_QUEUE];  /* byte | 0x100 when it is aux data */
    unsigned ctrl_head, ctrl_count;
    uint8_t pending;           /* controller command waiting for a data byte, 0 = none */
    uint8_t output_port;
    uint8_t out_byte;          /* what port 0x60 reads: the current or, when empty, the last byte */
    bool out_full, out_aux;
    bool last_write_was_cmd;
    bool sys_flag;
    bool translate_break;      /* a set-2 break prefix (F0) was swallowed by translation */
    bool kbd_level, aux_level;
};

void i8042_init(struct i8042 *k, struct irq_line kbd_irq, struct irq_line aux_irq,
                struct machine_ops machine);
void i8042_destroy(struct i8042 *k);
void i8042_reset(struct i8042 *k);
/* Bus callbacks for the data port (0x60) and the status/command port (0x64). */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Host input. `linux_key` is a Linux input event code (KEY_* from <linux/input-event-codes.h>);
 * unknown codes are ignored. Events are dropped while the keyboard is disabled or its queue is
 * nearly full (a real keyboard buffers 16 bytes; Linux gives up on a controller holding more). */
void i8042_key_event(struct i8042 *k, uint32_t linux_key, bool down);
/* dx right, dy down (screen sense), dz wheel toward the user; buttons PS2_BUTTON_*. Large moves
 * leave as several packets, sent as the guest drains the queue. */
void i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons);

/* Set-2 to set-1 translation done by the controller when command-byte bit 6 is on. */
uint8_t i8042_translate(uint8_t set2);

#endif
