/* Test guest "panic": signals a guest panic through the pvpanic ISA port, then halts. */
#include "rt.h"
#include "io.h"

#define PVPANIC_PORT 0x505
#define PVPANIC_PANICKED 1

int main(void)
{
    printf("panic: signalling guest panic\n");
    outb(PVPANIC_PORT, PVPANIC_PANICKED);
    halt_forever();
}
