/* Test guest "prompt": an interactive serial prompt that also powers off on the ACPI power button. */
#include "rt.h"
#include "io.h"

/* FADT fields (ACPI 6.4 §5.2.9 table 5.9) and PM1 status bits (§4.8.3.1). */
#define FADT_PM1A_EVT_BLK 56
#define FADT_X_PM1A_EVT_BLK 148
#define PM1_PWRBTN (1u << 8)

static uint16_t pm1_sts_port;

/* PM1a_EVT_BLK, or the I/O address in X_PM1a_EVT_BLK when the 32-bit field is zero. */
static uint16_t find_pm1_sts(void)
{
    const struct acpi_header *fadt = acpi.fadt;
    uint32_t port = 0;
    if (!fadt || fadt->length < FADT_X_PM1A_EVT_BLK + 12)
        return 0;
    memcpy(&port, (const uint8_t *)fadt + FADT_PM1A_EVT_BLK, 4);
    if (port == 0 && ((const uint8_t *)fadt)[FADT_X_PM1A_EVT_BLK] == 1)
        memcpy(&port, (const uint8_t *)fadt + FADT_X_PM1A_EVT_BLK + 4, 4);
    return port <= 0xffff ? (uint16_t)port : 0;
}

/* The power button sets PWRBTN_STS whether or not its SCI is enabled; polling it is enough here. */
static bool power_button_pressed(void)
{
    if (!pm1_sts_port)
        return false;
    uint16_t v = inw(pm1_sts_port);
    if (!(v & PM1_PWRBTN))
        return false;
    outw(pm1_sts_port, PM1_PWRBTN);
    return true;
}

/* Reads one line with echo; returns false when the power button was pressed instead. */
static bool read_line(char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        if (power_button_pressed())
            return false;
        if (!serial_can_read()) {
            udelay(1000);
            continue;
        }
        char c = serial_getc();
        if (c == '\r' || c == '\n') {
            serial_puts("\n");
            buf[n] = 0;
            return true;
        }
        if ((c == 0x7f || c == '\b') && n > 0) {
            n--;
            serial_puts("\b \b");
        } else if (c >= ' ' && n + 1 < size) {
            buf[n++] = c;
            serial_putc(c);
        }
    }
}

int main(void)
{
    char line[128];
    pm1_sts_port = find_pm1_sts();
    if (pm1_sts_port)
        outw(pm1_sts_port, PM1_PWRBTN); /* a stale press does not count */
    printf("prompt: ready (%s)\n", boot_mode_name());
    for (;;) {
        serial_puts("prompt> ");
        if (!read_line(line, sizeof(line))) {
            printf("prompt: power button, powering off\n");
            return 0;
        }
        if (!memcmp(line, "poweroff", 9)) {
            printf("prompt: powering off\n");
            return 0;
        }
        if (line[0])
            printf("prompt: you said '%s'\n", line);
    }
}
