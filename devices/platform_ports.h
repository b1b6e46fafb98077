/* Small PC platform ports: reset control 0xcf9, system control port A 0x92, pvpanic 0x505, POST 0x80. */
#ifndef DEVICES_PLATFORM_PORTS_H
#define DEVICES_PLATFORM_PORTS_H

#include <stdint.h>
#include <stdbool.h>

#include "devices/device.h"

#define RESET_CONTROL_PORT 0xcf9
#define RESET_CONTROL_VALUE 0x06  /* SYS_RST | RST_CPU: what the FADT RESET_REG holds */
#define PORT_A_PORT 0x92
#define PVPANIC_PORT 0x505
#define POST_PORT 0x80

struct platform_ports {
    struct machine_ops machine;
    uint8_t reset_control;   /* 0xcf9 latch */
    uint8_t port_a;          /* 0x92: bit 1 A20 gate */
};

void platform_ports_init(struct platform_ports *p, struct machine_ops machine);
void reset_control_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void port_a_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pvpanic_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void post_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
