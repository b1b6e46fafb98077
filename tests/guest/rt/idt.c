/* Guest runtime: the 64-bit IDT (SDM vol 3 §6.14.1) and exception reporting. */
#include "rt.h"
#include "io.h"

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;  /* 0x8e: present, DPL 0, 64-bit interrupt gate */
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
} PACKED;

extern const char isr_stubs[];
void trap_dispatch(struct trap_frame *frame);

static struct idt_gate idt[256] __attribute__((aligned(16)));
static trap_handler handlers[256];

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "?",   "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_init(void)
{
    uint16_t cs = read_cs();
    for (unsigned v = 0; v < 256; v++) {
        uint64_t addr = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);
        idt[v] = (struct idt_gate){
            .offset_lo = (uint16_t)addr,
            .selector = cs,
            .type_attr = 0x8e,
            .offset_mid = (uint16_t)(addr >> 16),
            .offset_hi = (uint32_t)(addr >> 32),
        };
    }
    struct PACKED {
        uint16_t limit;
        uint64_t base;
    } idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_set_handler(unsigned vector, trap_handler fn)
{
    if (vector < 256)
        handlers[vector] = fn;
}

void trap_default(struct trap_frame *frame)
{
    const char *name = frame->vector < 32 && exception_names[frame->vector] ? exception_names[frame->vector] : "irq";
    printf("exception: vector %lu (%s) error 0x%lx rip 0x%lx\n", (unsigned long)frame->vector, name,
           (unsigned long)frame->error_code, (unsigned long)frame->rip);
    poweroff();
}

void trap_dispatch(struct trap_frame *frame)
{
    trap_handler fn = handlers[frame->vector & 0xff];
    if (fn)
        fn(frame);
    else
        trap_default(frame);
}
