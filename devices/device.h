/* What a device model gets from the VMM: an interrupt line and a way to ask for machine events. */
#ifndef DEVICES_DEVICE_H
#define DEVICES_DEVICE_H

/* An interrupt line (a GSI of the in-kernel irqchip, or a test stub). */
struct irq_line {
    void (*set)(void *ctx, unsigned gsi, int level);
    void *ctx;
    unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
    if (l->set)
        l->set(l->ctx, l->gsi, level);
}

/* Machine-level requests a device can make (ACPI sleep, reset register, pvpanic). */
enum machine_event {
    MACHINE_POWEROFF,
    MACHINE_RESET,
    MACHINE_PANIC,
};

struct machine_ops {
    void (*request)(void *ctx, enum machine_event ev);
    void *ctx;
};

static inline void machine_request(const struct machine_ops *m, enum machine_event ev)
{
    if (m->request)
        m->request(m->ctx, ev);
}

#endif
