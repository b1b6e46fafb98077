/*
 * Firmware image: the program (linked at 1 MiB) at the start, a 16-bit stub near the end and the
 * reset jump in the last 16 bytes. Mapped so that it ends at 4 GiB; vCPU 0 starts at 0xfffffff0
 * in real mode with CS base 0xffff0000 (SDM vol 3 §9.1.4). The stub loads a GDT from the ROM,
 * enters protected mode (SDM vol 3 §9.9.1), copies the program to 1 MiB and jumps to its
 * 32-bit entry with EBX = 0 (no start_info).
 * Built per program with PROG_BIN (the flat program) and ROM_SIZE (0x10000 or 0x20000).
 */
#include "rt/layout.h"

#ifndef ROM_SIZE
#define ROM_SIZE 0x10000
#endif
#define ROM_BASE (0x100000000 - ROM_SIZE)
#define STUB_OFFSET (ROM_SIZE - 0x100)
/* Offset of a stub label within the CS window (selector 0xf000, base 0xffff0000). */
#define CSOFF(x) ((x) - rom_start - (ROM_SIZE - 0x10000))
/* Linear address of a stub label. */
#define LINEAR(x) ((x) - rom_start + ROM_BASE)

    .section .text
rom_start:
    .incbin PROG_BIN
    .org STUB_OFFSET, 0

    .code16
stub:
#ifdef EARLY_MARK
    movw $0x3f8, %dx
    movb $'B', %al
    outb %al, %dx
#endif
    cli
    cld
#ifdef STAGE_REPORT
    movw $CSOFF(msg_real), %si
1:  movb %cs:(%si), %bl
    testb %bl, %bl
    jz 3f
    movw $0x3fd, %dx
2:  inb %dx, %al
    testb $0x20, %al
    jz 2b
    movw $0x3f8, %dx
    movb %bl, %al
    outb %al, %dx
    incw %si
    jmp 1b
3:
#endif
    /* 32-bit operand size so the whole 32-bit GDT base (in the ROM, near 4 GiB) is loaded. */
    lgdtl %cs:CSOFF(rom_gdt_desc)
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $CODE32_SEL, $LINEAR(pm32)

    .code32
pm32:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $ROM_BASE, %esi
    cmpl $GUEST_HEADER_MAGIC, (%esi)
    jne 9f
    movl GUEST_HEADER_LOAD_SIZE(%esi), %ecx
    cmpl $(STUB_OFFSET), %ecx
    ja 9f
    movl $PROGRAM_LOAD_ADDR, %edi
    addl $3, %ecx
    shrl $2, %ecx
    rep movsl
    xorl %ebx, %ebx
    movl (PROGRAM_LOAD_ADDR + GUEST_HEADER_ENTRY), %eax
    jmp *%eax
9:  cli
    hlt
    jmp 9b

#ifdef STAGE_REPORT
msg_real:
    .asciz "longmode: real mode entered\r\n"
#endif
    .p2align 3
rom_gdt:
    .quad 0
    .quad GDT_CODE32
    .quad GDT_DATA
rom_gdt_desc:
    .word 23
    .long LINEAR(rom_gdt)

    .org ROM_SIZE - 16, 0
    .code16
reset_vector:
    jmp stub
    .org ROM_SIZE, 0

    .section .note.GNU-stack, "", @progbits
