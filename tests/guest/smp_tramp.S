/*
 * Test guest "smp": the AP start-up path. The BSP copies ap_tramp_start..ap_tramp_end to
 * AP_TRAMPOLINE_ADDR; a STARTUP IPI with vector AP_TRAMPOLINE_ADDR >> 12 starts the AP there in
 * real mode (SDM vol 3 §9.4.4). It loads the runtime's GDT, enters protected mode, takes a stack
 * slot, shares the BSP's page tables to reach long mode and calls ap_main(slot).
 */
#include "layout.h"

    .section .text
    .code16
    .globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    /* 32-bit operand size: the GDT lives above 1 MiB. */
    lgdtl (ap_gdt_desc - ap_tramp_start)
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $CODE32_SEL, $ap_pm32
    .p2align 2
ap_gdt_desc:
    .word GDT_LIMIT
    .long gdt
ap_tramp_end:

    .code32
ap_pm32:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    /* Stack slot: ap_next_slot++ atomically; slot n uses ap_stacks[n]. */
    movl $1, %eax
    lock xaddl %eax, ap_next_slot
    cmpl $SMP_MAX_APS, %eax
    jae 2f
    movl %eax, %edi
    leal 1(%eax), %esp
    shll $12, %esp             /* AP_STACK_SIZE == 4096 */
    addl $ap_stacks, %esp
    call enter_long_mode
    ljmp $CODE64_SEL, $ap_long64

    .code64
ap_long64:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    call ap_main
2:  cli
    hlt
    jmp 2b

    .section .note.GNU-stack, "", @progbits
