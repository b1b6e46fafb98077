/* 16550A UART model (COM1): registers, FIFOs, interrupts, loopback.
 * Register semantics follow the TI/National PC16550D datasheet (sections 8.1-8.10). */
#include "serial.h"

#include <string.h>

enum {
    REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
    REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI 0x01      /* received data available */
#define IER_THRI 0x02     /* transmitter holding register empty */
#define IER_RLSI 0x04     /* receiver line status */
#define IER_MSI 0x08      /* modem status */
#define IIR_NO_INT 0x01
#define IIR_RLSI 0x06
#define IIR_RDI 0x04
#define IIR_THRI 0x02
#define IIR_FIFO_ON 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

void serial_init(struct serial *s, struct irq_line irq, struct serial_backend backend)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->irq = irq;
    s->backend = backend;
    serial_reset(s);
}

void serial_destroy(struct serial *s)
{
    pthread_mutex_destroy(&s->lock);
}

void serial_reset(struct serial *s)
{
    bool had_rx = s->rx_count != 0;
    s->ier = s->lcr = s->mcr = s->lsr_errors = s->scr = s->fcr = 0;
    s->dll = 12; /* 9600 baud */
    s->dlm = 0;
    s->thr_irq_pending = false;
    s->rx_head = s->rx_count = 0;
    if (s->irq_level) {
        s->irq_level = false;
        irq_line_set(&s->irq, 0);
    }
    /* Queued input was dropped: a host waiting for room may send again. */
    if (had_rx && s->backend.rx_space)
        s->backend.rx_space(s->backend.ctx);
}

/* Highest-priority pending interrupt, as IIR reports it (datasheet table 4). */
static uint8_t pending_iir(const struct serial *s)
{
    if ((s->ier & IER_RLSI) && s->lsr_errors)
        return IIR_RLSI;
    if ((s->ier & IER_RDI) && s->rx_count)
        return IIR_RDI;
    if ((s->ier & IER_THRI) && s->thr_irq_pending)
        return IIR_THRI;
    return IIR_NO_INT;
}

/* Drive the line from the interrupt state; edges reach the (edge-triggered ISA) IOAPIC pin. */
static void update_irq(struct serial *s)
{
    bool level = pending_iir(s) != IIR_NO_INT;
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_line_set(&s->irq, level);
    }
}

static void rx_push(struct serial *s, uint8_t c)
{
    if (s->rx_count == SERIAL_RX_BUF) {
        s->lsr_errors |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_BUF] = c;
    s->rx_count++;
}

static uint8_t rx_pop(struct serial *s, bool *drained)
{
    if (!s->rx_count)
        return 0;
    uint8_t c = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % SERIAL_RX_BUF;
    s->rx_count--;
    *drained = s->rx_count == 0;
    return c;
}

static void transmit(struct serial *s, uint8_t c)
{
    if (s->mcr & MCR_LOOP)
        rx_push(s, c);
    else if (s->backend.write)
        s->backend.write(s->backend.ctx, &c, 1);
    /* The byte leaves at once, so the holding register is empty again. */
    s->thr_irq_pending = true;
}

static uint8_t modem_status(const struct serial *s)
{
    if (s->mcr & MCR_LOOP) {
        /* Loopback: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2 (datasheet 8.6). */
        uint8_t m = 0;
        if (s->mcr & MCR_RTS) m |= 0x10;
        if (s->mcr & MCR_DTR) m |= 0x20;
        if (s->mcr & MCR_OUT1) m |= 0x40;
        if (s->mcr & MCR_OUT2) m |= 0x80;
        return m;
    }
    return 0xb0; /* DCD, DSR, CTS asserted: a cable that is always ready */
}

static uint8_t read_reg(struct serial *s, unsigned reg, bool *drained)
{
    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB)
            return s->dll;
        return rx_pop(s, drained);
    case REG_IER:
        return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
    case REG_IIR_FCR: {
        uint8_t iir = pending_iir(s);
        if (iir == IIR_THRI)
            s->thr_irq_pending = false; /* reading IIR clears a THRE interrupt */
        return iir | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
    }
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR: {
        uint8_t lsr = LSR_THRE | LSR_TEMT | s->lsr_errors | (s->rx_count ? LSR_DR : 0);
        s->lsr_errors = 0;
        return lsr;
    }
    case REG_MSR:
        return modem_status(s);
    default:
        return s->scr;
    }
}

static void write_reg(struct serial *s, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB)
            s->dll = v;
        else
            transmit(s, v);
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            /* Enabling THRI with an empty THR raises the interrupt at once. */
            if ((v & IER_THRI) && !(s->ier & IER_THRI))
                s->thr_irq_pending = true;
            s->ier = v & 0x0f;
        }
        break;
    case REG_IIR_FCR:
        if (v & FCR_CLEAR_RX)
            s->rx_head = s->rx_count = 0;
        s->fcr = v & 0xc9;
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & 0x1f;
        break;
    case REG_SCR:
        s->scr = v;
        break;
    default:
        break; /* LSR and MSR are read-only */
    }
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct serial *s = opaque;
    bool drained = false;
    if (len != 1 || offset > 7) {
        /* The UART has byte registers only; wider accesses are ignored. */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (is_write) {
        size_t queued = s->rx_count;
        write_reg(s, (unsigned)offset, data[0]);
        drained = queued && !s->rx_count;  /* FCR cleared the receive FIFO */
    } else {
        data[0] = read_reg(s, (unsigned)offset, &drained);
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    if (drained && s->backend.rx_space)
        s->backend.rx_space(s->backend.ctx);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    while (n < len && s->rx_count < SERIAL_RX_BUF)
        rx_push(s, buf[n++]);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t serial_rx_free(struct serial *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = SERIAL_RX_BUF - s->rx_count;
    pthread_mutex_unlock(&s->lock);
    return n;
}
