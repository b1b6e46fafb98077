/* 16550A UART model (COM1): registers, 16-byte-compatible FIFOs, interrupts, loopback. */
#ifndef DEVICES_SERIAL_H
#define DEVICES_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "devices/device.h"

#define SERIAL_RX_BUF 4096

/* Host side of the UART: where transmitted bytes go, and a note that receive space freed up. */
struct serial_backend {
    void (*write)(void *ctx, const uint8_t *buf, size_t len);
    void (*rx_space)(void *ctx);   /* may be NULL */
    void *ctx;
};

struct serial {
    pthread_mutex_t lock;
    struct irq_line irq;
    struct serial_backend backend;
    uint8_t ier, lcr, mcr, lsr_errors, scr, fcr, dll, dlm;
    bool thr_irq_pending;          /* THR-empty interrupt latched until IIR read or THR write */
    bool irq_level;
    uint8_t rx[SERIAL_RX_BUF];
    size_t rx_head, rx_count;
};

void serial_init(struct serial *s, struct irq_line irq, struct serial_backend backend);
void serial_destroy(struct serial *s);
void serial_reset(struct serial *s);
/* Bus callback for the 8 registers at the base port. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Host input: queue up to serial_rx_free() bytes for the guest; returns bytes taken. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
size_t serial_rx_free(struct serial *s);

#endif
