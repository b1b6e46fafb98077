/* Test guest "triple": loads an empty IDT and faults, so the vCPU shuts down (triple fault). */
#include "rt.h"

int main(void)
{
    printf("triple: faulting\n");
    triple_fault();
}
