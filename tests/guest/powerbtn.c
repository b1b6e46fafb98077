/* Test guest "powerbtn": waits for the ACPI power button (an SCI through the IOAPIC), then S5. */
#include "rt.h"
#include "io.h"

/* FADT field offsets, ACPI 6.4 §5.2.9 table 5.9. */
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1_EVT_LEN 88
#define FADT_X_PM1A_EVT_BLK 148

/* PM1 status/enable (ACPI 6.4 §4.8.3.1) and control (§4.8.3.2) bits. */
#define PM1_PWRBTN (1u << 8)
#define PM1_CNT_SCI_EN 1u

/* MADT Interrupt Source Override (ACPI 6.4 §5.2.12.5) and its MPS INTI flags. */
#define MADT_SOURCE_OVERRIDE 2
#define INTI_POLARITY_MASK 3u
#define INTI_POLARITY_HIGH 1u
#define INTI_TRIGGER_SHIFT 2
#define INTI_TRIGGER_MASK 3u
#define INTI_TRIGGER_EDGE 1u

/* IOAPIC redirection entry bits (82093AA datasheet §3.2.4). */
#define IOAPIC_REDTBL 0x10
#define REDIR_ACTIVE_LOW (1u << 13)
#define REDIR_LEVEL (1u << 15)

#define SCI_VECTOR 0x40

struct sci_route {
    uint32_t gsi;
    bool level;
    bool active_low;
};

static uint16_t pm1_sts_port, pm1_en_port;
static volatile bool pressed;
static volatile uint32_t sci_count;

static uint32_t rd(const struct acpi_header *t, size_t off, size_t size)
{
    uint32_t v = 0;
    if (off + size <= t->length)
        memcpy(&v, (const uint8_t *)t + off, size);
    return v;
}

/* PM1a_EVT_BLK, or the I/O address in X_PM1a_EVT_BLK when the 32-bit field is zero. */
static uint32_t pm1a_evt_port(const struct acpi_header *fadt)
{
    uint32_t port = rd(fadt, FADT_PM1A_EVT_BLK, 4);
    if (port == 0 && rd(fadt, FADT_X_PM1A_EVT_BLK, 1) == 1)
        port = rd(fadt, FADT_X_PM1A_EVT_BLK + 4, 4);
    return port;
}

/*
 * The SCI is a sharable, level-triggered, active-low ISA interrupt unless the MADT overrides
 * it (ACPI 6.4 §5.2.9 SCI_INT, §5.2.12.5); flags 0 ("conforms to the bus") keep that default.
 */
static struct sci_route sci_route_for(uint8_t irq)
{
    struct sci_route r = { irq, true, true };
    for (const uint8_t *e = acpi_madt_next(NULL); e; e = acpi_madt_next(e)) {
        if (e[0] != MADT_SOURCE_OVERRIDE || e[1] < 10 || e[3] != irq)
            continue;
        uint32_t gsi;
        uint16_t flags;
        memcpy(&gsi, e + 4, 4);
        memcpy(&flags, e + 8, 2);
        r.gsi = gsi;
        if ((flags & INTI_POLARITY_MASK) != 0)
            r.active_low = (flags & INTI_POLARITY_MASK) != INTI_POLARITY_HIGH;
        uint16_t trigger = (flags >> INTI_TRIGGER_SHIFT) & INTI_TRIGGER_MASK;
        if (trigger != 0)
            r.level = trigger != INTI_TRIGGER_EDGE;
    }
    return r;
}

/* The SCI: clears PWRBTN_STS (write 1, §4.8.3.1.1) before the EOI so a level line drops. */
static void sci_handler(struct trap_frame *frame)
{
    (void)frame;
    sci_count++;
    uint16_t sts = inw(pm1_sts_port);
    if (sts & PM1_PWRBTN) {
        outw(pm1_sts_port, PM1_PWRBTN);
        pressed = true;
    }
    lapic_eoi();
}

/* Legacy hardware starts with SCI_EN clear: ACPI_ENABLE to SMI_CMD hands it over (§16.3.1). */
static bool acpi_mode_on(const struct acpi_header *fadt)
{
    if (!acpi.pm1a_cnt)
        return false;
    if (inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN)
        return true;
    uint32_t smi_cmd = rd(fadt, FADT_SMI_CMD, 4);
    uint8_t enable = (uint8_t)rd(fadt, FADT_ACPI_ENABLE, 1);
    if (smi_cmd == 0 || smi_cmd > 0xffff || enable == 0)
        return false;
    outb((uint16_t)smi_cmd, enable);
    for (int i = 0; i < 1000; i++) {
        if (inw(acpi.pm1a_cnt) & PM1_CNT_SCI_EN)
            return true;
        udelay(1000);
    }
    return false;
}

static void route_sci(const struct sci_route *r)
{
    uint32_t lo = SCI_VECTOR | (r->level ? REDIR_LEVEL : 0) | (r->active_low ? REDIR_ACTIVE_LOW : 0);
    ioapic_write(IOAPIC_REDTBL + 2 * r->gsi + 1, lapic_id() << 24);
    ioapic_write(IOAPIC_REDTBL + 2 * r->gsi, lo);
}

int main(void)
{
    const struct acpi_header *fadt = acpi.fadt;
    if (!fadt || !acpi.madt) {
        printf("powerbtn: FAIL no FADT or MADT\n");
        return 1;
    }
    uint32_t evt = pm1a_evt_port(fadt);
    uint8_t evt_len = (uint8_t)rd(fadt, FADT_PM1_EVT_LEN, 1);
    uint8_t irq = (uint8_t)rd(fadt, FADT_SCI_INT, 2);
    uint32_t ioapic_pins = ((ioapic_read(1) >> 16) & 0xff) + 1; /* IOAPICVER max entry */
    if (evt == 0 || evt > 0xffff || evt_len < 4) {
        printf("powerbtn: FAIL no PM1a event block\n");
        return 1;
    }
    struct sci_route r = sci_route_for(irq);
    if (r.gsi >= ioapic_pins) {
        printf("powerbtn: FAIL SCI GSI %u beyond the IOAPIC's %u pins\n", r.gsi, ioapic_pins);
        return 1;
    }
    pm1_sts_port = (uint16_t)evt;
    pm1_en_port = (uint16_t)(evt + evt_len / 2);
    printf("powerbtn: SCI irq %u -> GSI %u (%s, active %s), PM1 events at 0x%x, ACPI mode %s\n", irq,
           r.gsi, r.level ? "level" : "edge", r.active_low ? "low" : "high", evt,
           acpi_mode_on(fadt) ? "on" : "off");
    idt_set_handler(SCI_VECTOR, sci_handler);
    outw(pm1_sts_port, PM1_PWRBTN); /* a stale press does not count */
    outw(pm1_en_port, (uint16_t)(inw(pm1_en_port) | PM1_PWRBTN));
    route_sci(&r);
    irq_init();
    printf("powerbtn: waiting for the power button\n");
    irq_off();
    while (!pressed) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
    printf("powerbtn: pressed (%u SCIs)\n", sci_count);
    return 0;
}
