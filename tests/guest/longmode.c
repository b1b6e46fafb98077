/* Test guest "longmode": reports each mode switch; the 16- and 32-bit stages print from assembly. */
#include "rt.h"
#include "io.h"

#define EFER_LMA (1u << 10)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)

int main(void)
{
    uint64_t efer = rdmsr(MSR_EFER);
    uint16_t cs = read_cs();
    if (!(efer & EFER_LMA) || !(read_cr0() & CR0_PG) || !(read_cr4() & CR4_PAE)) {
        printf("longmode: FAIL (cs=0x%x efer=0x%lx cr0=0x%lx cr4=0x%lx)\n", cs, (unsigned long)efer,
               (unsigned long)read_cr0(), (unsigned long)read_cr4());
        return 1;
    }
    printf("longmode: long mode ok (cs=0x%x efer=0x%lx)\n", cs, (unsigned long)efer);
    return 0;
}
