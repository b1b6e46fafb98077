/* Unit tests for the 16550A UART model: THRE/RX interrupts, LSR, loopback, DLAB, FIFO, overrun. */
#include <stdbool.h>

#include "devices/serial.h"
#include "tests/unit/check.h"

TEST_MAIN()

/* Register offsets and bits (PC16550D datasheet, section 8). */
enum { RBR = 0, THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* What the UART did to its interrupt line and backend. */
struct uart_probe {
    int level, edges, set_calls;
    unsigned gsi;
    uint8_t out[8192];
    size_t nout;
    int rx_space_calls;
};

static void probe_irq(void *ctx, unsigned gsi, int level)
{
    struct uart_probe *p = ctx;
    if (level != p->level)
        p->edges++;
    p->level = level;
    p->gsi = gsi;
    p->set_calls++;
}

static void probe_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct uart_probe *p = ctx;
    for (size_t i = 0; i < len && p->nout < sizeof(p->out); i++)
        p->out[p->nout++] = buf[i];
}

static void probe_rx_space(void *ctx)
{
    struct uart_probe *p = ctx;
    p->rx_space_calls++;
}

static void setup(struct serial *s, struct uart_probe *p)
{
    memset(p, 0, sizeof(*p));
    struct irq_line irq = { .set = probe_irq, .ctx = p, .gsi = 4 };
    struct serial_backend be = { .write = probe_write, .rx_space = probe_rx_space, .ctx = p };
    serial_init(s, irq, be);
}

static uint8_t inb(struct serial *s, unsigned reg)
{
    uint8_t v = 0;
    serial_io(s, reg, &v, 1, false);
    return v;
}

static void outb(struct serial *s, unsigned reg, uint8_t v)
{
    serial_io(s, reg, &v, 1, true);
}

static size_t receive_str(struct serial *s, const char *str)
{
    return serial_receive(s, (const uint8_t *)str, strlen(str));
}

TEST(reset_state)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    CHECK_EQ(inb(&s, LSR), LSR_THRE | LSR_TEMT);
    CHECK_EQ(inb(&s, IIR), 0x01);        /* no interrupt pending, FIFOs off */
    CHECK_EQ(inb(&s, IER), 0);
    CHECK_EQ(inb(&s, LCR), 0);
    CHECK_EQ(inb(&s, MCR), 0);
    CHECK_EQ(inb(&s, MSR), 0xb0);        /* DCD, DSR, CTS: a cable that is always ready */
    CHECK_EQ(p.level, 0);
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF);
    serial_destroy(&s);
}

TEST(thre_interrupt_raised_on_enable_and_cleared_by_iir_read)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0x02);                 /* IER.THRI with an empty THR */
    CHECK_EQ(p.level, 1);
    CHECK_EQ(p.gsi, 4);
    CHECK_EQ(inb(&s, IIR), 0x02);        /* THRE is the pending source */
    CHECK_EQ(p.level, 0);                /* reading IIR cleared it */
    CHECK_EQ(inb(&s, IIR), 0x01);
    /* Writing IER.THRI again while already enabled does not re-arm. */
    outb(&s, IER, 0x02);
    CHECK_EQ(p.level, 0);
    /* Disabling and enabling re-arms. */
    outb(&s, IER, 0x00);
    outb(&s, IER, 0x02);
    CHECK_EQ(p.level, 1);
    CHECK_EQ(p.edges, 3);
    serial_destroy(&s);
}

TEST(thre_interrupt_after_transmit)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0x02);
    (void)inb(&s, IIR);
    CHECK_EQ(p.level, 0);
    outb(&s, THR, 'A');
    CHECK_EQ(p.nout, 1);
    CHECK_EQ(p.out[0], 'A');
    CHECK_EQ(p.level, 1);                /* the byte left at once: THR empty again */
    CHECK_EQ(inb(&s, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    CHECK_EQ(inb(&s, IIR), 0x02);
    CHECK_EQ(p.level, 0);
    serial_destroy(&s);
}

TEST(transmit_without_interrupts_enabled_reaches_backend)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    const char *msg = "hello, world\n";
    for (const char *c = msg; *c; c++)
        outb(&s, THR, (uint8_t)*c);
    CHECK_EQ(p.nout, strlen(msg));
    CHECK(!memcmp(p.out, msg, p.nout));
    CHECK_EQ(p.level, 0);
    CHECK_EQ(p.set_calls, 0);
    serial_destroy(&s);
}

TEST(rx_data_available_sets_dr_and_interrupt)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    CHECK_EQ(receive_str(&s, "hi"), 2);
    CHECK_EQ(inb(&s, LSR) & LSR_DR, LSR_DR);
    CHECK_EQ(p.level, 0);                /* IER.RDI still off */
    outb(&s, IER, 0x01);
    CHECK_EQ(p.level, 1);
    CHECK_EQ(inb(&s, IIR), 0x04);
    CHECK_EQ(p.level, 1);                /* reading IIR does not clear RDI */
    CHECK_EQ(inb(&s, RBR), 'h');
    CHECK_EQ(p.level, 1);
    CHECK_EQ(p.rx_space_calls, 0);
    CHECK_EQ(inb(&s, RBR), 'i');
    CHECK_EQ(p.level, 0);
    CHECK_EQ(inb(&s, LSR) & LSR_DR, 0);
    CHECK_EQ(inb(&s, IIR), 0x01);
    CHECK_EQ(p.rx_space_calls, 1);       /* drained: the host may send more */
    CHECK_EQ(inb(&s, RBR), 0);           /* empty RBR reads 0, no second drain note */
    CHECK_EQ(p.rx_space_calls, 1);
    serial_destroy(&s);
}

TEST(rx_interrupt_outranks_thre)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0x03);
    receive_str(&s, "x");
    CHECK_EQ(inb(&s, IIR), 0x04);        /* data available first (datasheet table 4) */
    CHECK_EQ(inb(&s, RBR), 'x');
    CHECK_EQ(inb(&s, IIR), 0x02);        /* then the still-latched THRE */
    CHECK_EQ(inb(&s, IIR), 0x01);
    CHECK_EQ(p.level, 0);
    serial_destroy(&s);
}

TEST(loopback_echoes_thr_to_rbr)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, MCR, 0x10);
    CHECK_EQ(inb(&s, MCR), 0x10);
    outb(&s, THR, 0x5a);
    outb(&s, THR, 0xa5);
    CHECK_EQ(p.nout, 0);                 /* nothing reaches the host in loopback */
    CHECK_EQ(inb(&s, LSR) & LSR_DR, LSR_DR);
    CHECK_EQ(inb(&s, RBR), 0x5a);
    CHECK_EQ(inb(&s, RBR), 0xa5);
    CHECK_EQ(inb(&s, LSR) & LSR_DR, 0);
    outb(&s, MCR, 0x00);
    outb(&s, THR, 'z');
    CHECK_EQ(p.nout, 1);
    CHECK_EQ(inb(&s, LSR) & LSR_DR, 0);
    serial_destroy(&s);
}

TEST(loopback_maps_mcr_to_msr)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    /* CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2 (datasheet 8.6). */
    outb(&s, MCR, 0x10);
    CHECK_EQ(inb(&s, MSR), 0x00);
    outb(&s, MCR, 0x11);
    CHECK_EQ(inb(&s, MSR), 0x20);
    outb(&s, MCR, 0x12);
    CHECK_EQ(inb(&s, MSR), 0x10);
    outb(&s, MCR, 0x14);
    CHECK_EQ(inb(&s, MSR), 0x40);
    outb(&s, MCR, 0x18);
    CHECK_EQ(inb(&s, MSR), 0x80);
    outb(&s, MCR, 0x1f);
    CHECK_EQ(inb(&s, MSR), 0xf0);
    outb(&s, MCR, 0x0f);                 /* loopback off: the always-ready cable again */
    CHECK_EQ(inb(&s, MSR), 0xb0);
    outb(&s, MCR, 0xff);
    CHECK_EQ(inb(&s, MCR), 0x1f);        /* bits 5-7 do not exist */
    serial_destroy(&s);
}

TEST(dlab_gives_divisor_latch)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0x05);
    outb(&s, LCR, 0x83);                 /* DLAB, 8 data bits */
    CHECK_EQ(inb(&s, 0), 12);            /* 9600 baud after reset */
    CHECK_EQ(inb(&s, 1), 0);
    outb(&s, 0, 0x01);                   /* 115200 baud */
    outb(&s, 1, 0x00);
    outb(&s, 0, 0x34);
    outb(&s, 1, 0x12);
    CHECK_EQ(p.nout, 0);                 /* DLL writes are not transmitted */
    CHECK_EQ(inb(&s, 0), 0x34);
    CHECK_EQ(inb(&s, 1), 0x12);
    CHECK_EQ(inb(&s, LCR), 0x83);
    outb(&s, LCR, 0x03);
    CHECK_EQ(inb(&s, IER), 0x05);        /* IER untouched by DLM writes */
    outb(&s, THR, 'q');
    CHECK_EQ(p.nout, 1);
    outb(&s, LCR, 0x80);
    CHECK_EQ(inb(&s, 0), 0x34);          /* the latch survives DLAB toggles */
    CHECK_EQ(inb(&s, 1), 0x12);
    serial_destroy(&s);
}

TEST(dlab_hides_rx_data)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    receive_str(&s, "k");
    outb(&s, LCR, 0x80);
    CHECK_EQ(inb(&s, 0), 12);            /* DLL, not the received byte */
    outb(&s, LCR, 0x00);
    CHECK_EQ(inb(&s, RBR), 'k');
    serial_destroy(&s);
}

TEST(fifo_enable_and_clear)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, FCR, 0x01);
    CHECK_EQ(inb(&s, IIR), 0xc1);        /* FIFOs enabled, nothing pending */
    outb(&s, IER, 0x01);
    receive_str(&s, "abc");
    CHECK_EQ(p.level, 1);
    CHECK_EQ(inb(&s, IIR), 0xc4);
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF - 3);
    outb(&s, FCR, 0x03);                 /* clear the receive FIFO */
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF);
    CHECK_EQ(inb(&s, LSR) & LSR_DR, 0);
    CHECK_EQ(p.level, 0);
    CHECK_EQ(inb(&s, IIR), 0xc1);
    outb(&s, FCR, 0x00);
    CHECK_EQ(inb(&s, IIR), 0x01);
    serial_destroy(&s);
}

TEST(rx_free_and_partial_receive)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    static uint8_t big[SERIAL_RX_BUF + 100];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    CHECK_EQ(serial_receive(&s, big, 100), 100);
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF - 100);
    CHECK_EQ(serial_receive(&s, big + 100, SERIAL_RX_BUF), SERIAL_RX_BUF - 100);
    CHECK_EQ(serial_rx_free(&s), 0);
    CHECK_EQ(serial_receive(&s, big, 10), 0);
    CHECK_EQ(inb(&s, LSR) & (LSR_DR | LSR_OE), LSR_DR);  /* host input waits: no overrun */
    for (size_t i = 0; i < SERIAL_RX_BUF; i++) {
        uint8_t c = inb(&s, RBR);
        if (c != (uint8_t)i)
            CHECK_EQ(c, (uint8_t)i);
    }
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF);
    CHECK_EQ(p.rx_space_calls, 1);
    /* The ring wraps: queue again from a non-zero head. */
    CHECK_EQ(receive_str(&s, "wrap"), 4);
    CHECK_EQ(inb(&s, RBR), 'w');
    CHECK_EQ(inb(&s, RBR), 'r');
    serial_destroy(&s);
}

TEST(overrun_when_buffer_full)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    static uint8_t fill[SERIAL_RX_BUF];
    memset(fill, 'f', sizeof(fill));
    CHECK_EQ(serial_receive(&s, fill, sizeof(fill)), SERIAL_RX_BUF);
    outb(&s, IER, 0x04);                 /* receiver line status interrupt */
    CHECK_EQ(p.level, 0);
    outb(&s, MCR, 0x10);
    outb(&s, THR, 'x');                  /* loopback byte finds 4096 queued: overrun */
    CHECK_EQ(p.level, 1);
    CHECK_EQ(inb(&s, IIR), 0x06);
    CHECK_EQ(inb(&s, LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
    CHECK_EQ(p.level, 0);                /* reading LSR clears the error */
    CHECK_EQ(inb(&s, LSR), LSR_DR | LSR_THRE | LSR_TEMT);
    CHECK_EQ(serial_rx_free(&s), 0);     /* the extra byte was lost, not queued */
    serial_destroy(&s);
}

TEST(scratch_register)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    CHECK_EQ(inb(&s, SCR), 0);
    outb(&s, SCR, 0x5a);
    CHECK_EQ(inb(&s, SCR), 0x5a);
    outb(&s, SCR, 0xa5);
    CHECK_EQ(inb(&s, SCR), 0xa5);
    outb(&s, LCR, 0x80);
    CHECK_EQ(inb(&s, SCR), 0xa5);        /* not affected by DLAB */
    serial_destroy(&s);
}

TEST(ier_keeps_low_four_bits)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0xf0);
    CHECK_EQ(inb(&s, IER), 0x00);
    CHECK_EQ(p.level, 0);
    outb(&s, IER, 0xff);
    CHECK_EQ(inb(&s, IER), 0x0f);
    serial_destroy(&s);
}

TEST(lsr_and_msr_are_read_only)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, LSR, 0x00);
    outb(&s, MSR, 0x00);
    CHECK_EQ(inb(&s, LSR), LSR_THRE | LSR_TEMT);
    CHECK_EQ(inb(&s, MSR), 0xb0);
    CHECK_EQ(p.nout, 0);
    serial_destroy(&s);
}

TEST(wide_and_out_of_range_accesses_ignored)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    receive_str(&s, "r");
    uint8_t w[4] = { 'a', 'b', 'c', 'd' };
    serial_io(&s, THR, w, 2, true);
    serial_io(&s, THR, w, 4, true);
    CHECK_EQ(p.nout, 0);
    uint8_t r[4] = { 0, 0, 0, 0 };
    serial_io(&s, RBR, r, 2, false);
    CHECK_EQ(r[0], 0xff);
    CHECK_EQ(r[1], 0xff);
    CHECK_EQ(r[2], 0);                   /* nothing past the access length */
    serial_io(&s, RBR, r, 4, false);
    CHECK_EQ(r[3], 0xff);
    uint8_t b = 0x12;
    serial_io(&s, 8, &b, 1, true);
    serial_io(&s, 8, &b, 1, false);
    CHECK_EQ(b, 0xff);
    serial_io(&s, UINT64_MAX, &b, 1, false);
    CHECK_EQ(b, 0xff);
    CHECK_EQ(inb(&s, RBR), 'r');         /* the wide reads did not pop the byte */
    CHECK_EQ(inb(&s, SCR), 0);
    serial_destroy(&s);
}

TEST(reset_lowers_interrupt_and_clears_state)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    outb(&s, IER, 0x01);
    outb(&s, SCR, 0x77);
    receive_str(&s, "data");
    CHECK_EQ(p.level, 1);
    serial_reset(&s);
    CHECK_EQ(p.level, 0);
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF);
    CHECK_EQ(inb(&s, IER), 0);
    CHECK_EQ(inb(&s, SCR), 0);
    CHECK_EQ(inb(&s, LSR), LSR_THRE | LSR_TEMT);
    serial_destroy(&s);
}

TEST(no_backend_and_no_irq_callback)
{
    struct serial s;
    struct irq_line irq = { 0 };
    struct serial_backend be = { 0 };
    serial_init(&s, irq, be);
    outb(&s, IER, 0x03);
    outb(&s, THR, 'a');                  /* dropped without a backend */
    CHECK_EQ(serial_receive(&s, (const uint8_t *)"b", 1), 1);
    CHECK_EQ(inb(&s, IIR), 0x04);
    CHECK_EQ(inb(&s, RBR), 'b');         /* drained without rx_space: no call */
    CHECK_EQ(inb(&s, IIR), 0x02);
    serial_destroy(&s);
}

/* The host stops feeding input while the UART is full and waits for rx_space: emptying the
 * queue any way other than reading RBR must send that note too, or host input stalls for good. */
TEST(fifo_clear_on_full_queue_notes_rx_space)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    static uint8_t fill[SERIAL_RX_BUF];
    memset(fill, 'f', sizeof(fill));
    CHECK_EQ(serial_receive(&s, fill, sizeof(fill)), SERIAL_RX_BUF);
    CHECK_EQ(serial_rx_free(&s), 0);
    outb(&s, FCR, 0x07);                 /* what Linux's 8250 driver does when the port opens */
    CHECK_EQ(serial_rx_free(&s), SERIAL_RX_BUF);
    CHECK_EQ(p.rx_space_calls, 1);
    outb(&s, FCR, 0x07);                 /* clearing an empty FIFO: nothing to note */
    CHECK_EQ(p.rx_space_calls, 1);
    serial_destroy(&s);
}

TEST(reset_with_queued_input_notes_rx_space)
{
    struct serial s;
    struct uart_probe p;
    setup(&s, &p);
    receive_str(&s, "pending");
    serial_reset(&s);
    CHECK_EQ(p.rx_space_calls, 1);
    serial_reset(&s);
    CHECK_EQ(p.rx_space_calls, 1);
    serial_destroy(&s);
}
