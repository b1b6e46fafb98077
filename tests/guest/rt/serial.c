/* Guest runtime: polled 16550A driver for COM1 (LSR bit 5 to send, bit 0 to receive). */
#include "rt.h"
#include "io.h"

#define UART_THR 0 /* transmit holding (write), receive buffer (read) */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

/* 115200 8N1, FIFOs on, no interrupts (the programs poll). */
void serial_init(void)
{
    outb(COM1_BASE + UART_IER, 0x00);
    outb(COM1_BASE + UART_LCR, 0x80); /* DLAB: divisor follows */
    outb(COM1_BASE + 0, 0x01);        /* divisor 1 = 115200 baud */
    outb(COM1_BASE + 1, 0x00);
    outb(COM1_BASE + UART_LCR, 0x03); /* 8 bits, no parity, 1 stop */
    outb(COM1_BASE + UART_FCR, 0x07); /* enable and clear FIFOs */
    outb(COM1_BASE + UART_MCR, 0x03); /* DTR, RTS */
}

static void serial_put_raw(char c)
{
    /* Bounded wait: a missing UART reads 0xff (THR empty) so this never spins forever. */
    for (unsigned spins = 0; spins < 1000000; spins++) {
        if (inb(COM1_BASE + UART_LSR) & LSR_THR_EMPTY)
            break;
    }
    outb(COM1_BASE + UART_THR, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_put_raw('\r');
    serial_put_raw(c);
}

void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

bool serial_can_read(void)
{
    uint8_t lsr = inb(COM1_BASE + UART_LSR);
    return lsr != 0xff && (lsr & LSR_DATA_READY);
}

char serial_getc(void)
{
    while (!serial_can_read())
        cpu_relax();
    return (char)inb(COM1_BASE + UART_THR);
}

size_t serial_read_line(char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return 0;
    for (;;) {
        char c = serial_getc();
        if (c == '\r' || c == '\n')
            break;
        if ((c == 0x7f || c == 0x08) && len > 0) { /* backspace */
            len--;
            serial_puts("\b \b");
            continue;
        }
        if ((unsigned char)c < 0x20 || len + 1 >= size)
            continue;
        buf[len++] = c;
        serial_putc(c);
    }
    buf[len] = '\0';
    serial_putc('\n');
    return len;
}
