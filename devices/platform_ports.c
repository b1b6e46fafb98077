/* Small PC platform ports: reset control 0xcf9, system control port A 0x92, pvpanic 0x505, POST 0x80. */
#include "platform_ports.h"

#include <string.h>

void platform_ports_init(struct platform_ports *p, struct machine_ops machine)
{
    memset(p, 0, sizeof(*p));
    p->machine = machine;
    p->port_a = 0x02; /* A20 enabled */
}

/* Intel PIIX4/ICH reset control register: a 0->1 edge of RST_CPU (bit 2) resets the machine. */
void reset_control_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform_ports *p = opaque;
    (void)offset;
    if (len != 1) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    if (!is_write) {
        data[0] = p->reset_control;
        return;
    }
    uint8_t old = p->reset_control;
    p->reset_control = data[0] & 0x0e;
    if ((data[0] & 0x04) && !(old & 0x04))
        machine_request(&p->machine, MACHINE_RESET);
    p->reset_control &= ~0x04;
}

/* System control port A: bit 0 is a fast reset, bit 1 the A20 gate. */
void port_a_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform_ports *p = opaque;
    (void)offset;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = p->port_a;
        return;
    }
    p->port_a = data[0] & 0x02;
    if (data[0] & 0x01)
        machine_request(&p->machine, MACHINE_RESET);
}

/* pvpanic (QEMU's docs/specs/pvpanic.txt): reads give the supported events, a write reports one:
 * bit 0 guest panicked, bit 1 crash kernel loaded (ignored: the guest carries on). */
void pvpanic_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform_ports *p = opaque;
    (void)offset;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = 0x03;
        return;
    }
    if (data[0] & 0x01)
        machine_request(&p->machine, MACHINE_PANIC);
}

/* POST code port: accepted and dropped (firmware and guests use it as an I/O delay). */
void post_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    (void)opaque;
    (void)offset;
    if (!is_write)
        memset(data, 0xff, len);
}
