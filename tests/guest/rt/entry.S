/* Guest runtime: image header, PVH ELF note, multiboot header, the common 32-bit entry and the switch to long mode. */
#include "layout.h"

/* Read by the firmware stub (rom.S) from the start of the ROM copy of the image. */
    .section .header, "a"
    .globl guest_header
guest_header:
    .long GUEST_HEADER_MAGIC
    .long _load_end - PROGRAM_LOAD_ADDR
    .long _bss_end
    .long entry32

/*
 * Multiboot 1 header (Multiboot Specification 0.6.96 §3.1), in the first 8 KiB of the file:
 * page-aligned modules, memory info, and the address fields (flag 16) so that loaders which
 * only take ELF32 (syslinux mboot.c32) can load this ELF64 image too. BSS end covers the
 * page tables and stacks so a loader places none of its data there.
 */
    .p2align 2
multiboot_header:
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)
    .long multiboot_header
    .long PROGRAM_LOAD_ADDR
    .long _load_end
    .long _image_end
    .long multiboot_entry

/* Xen public/elfnote.h: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 32-bit entry address. */
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .long pvh_entry

    .section .data
    .p2align 3
    .globl gdt
gdt:
    .quad 0
    .quad GDT_CODE32
    .quad GDT_DATA
    .quad GDT_CODE64
    .globl gdt_desc
gdt_desc:
    .word GDT_LIMIT
    .quad gdt
start_info_saved:
    .long 0
/* Multiboot information address from a multiboot loader (0 otherwise); in .data, not BSS. */
    .globl multiboot_info_saved
multiboot_info_saved:
    .long 0
    .globl iret32_status
iret32_status:
    .long 0
#ifdef STAGE_REPORT
msg_protected:
    .asciz "longmode: protected mode\r\n"
#endif

    .section .pagetables, "aw", @nobits
    .p2align 12
    .globl pml4
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4 * 4096

    .section .noinit, "aw", @nobits
    .p2align 12
boot_stack:
    .skip BOOT_STACK_SIZE
boot_stack_top:

    .section .text.entry, "ax"
    .code32
/*
 * Entry from PVH (EBX = struct hvm_start_info) or from the firmware stub (EBX = 0):
 * 32-bit protected mode, flat CS/DS, paging off, interrupts may be on, no stack.
 * With EARLY_MARK the PVH entry first sends 'B' to COM1 (the firmware stub does its own).
 */
    .globl pvh_entry, entry32, multiboot_entry
/*
 * Multiboot entry (Multiboot Specification §3.2): EAX = 0x2BADB002, EBX = multiboot info,
 * flat 32-bit segments, paging and interrupts off, no stack. Continues as the firmware path.
 */
multiboot_entry:
    cmpl $MULTIBOOT_LOADER_MAGIC, %eax
    jne 1f
    movl %ebx, multiboot_info_saved
1:  xorl %ebx, %ebx
    jmp entry32
/*
 * syslinux's mboot.c32 takes an ELF with machine x86-64 as ELF and jumps to e_entry (here) with
 * the multiboot registers, not to the header's entry_addr; the PVH entry leaves EAX undefined.
 */
pvh_entry:
    cmpl $MULTIBOOT_LOADER_MAGIC, %eax
    je multiboot_entry
#ifdef EARLY_MARK
    movw $0x3f8, %dx
    movb $'B', %al
    outb %al, %dx
#endif
entry32:
    cli
    cld
    movl %ebx, %edi
    lgdt gdt_desc
    ljmp $CODE32_SEL, $1f
1:  movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $boot_stack_top, %esp
    movl %edi, start_info_saved
#ifdef STAGE_REPORT
    movl $msg_protected, %esi
    call puts32
#endif
#ifdef ASSIST_IRET32
    call iret32_test
#endif
    call build_page_tables
    call enter_long_mode
    ljmp $CODE64_SEL, $long64

/* PAE, CR3, EFER.LME, then CR0.PG (SDM vol 3 §10.8.5); also used by APs. */
    .globl enter_long_mode
enter_long_mode:
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $EFER_MSR, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    andl $~(CR0_CD | CR0_NW | CR0_TS | CR0_EM), %eax
    orl $(CR0_PG | CR0_NE | CR0_MP | CR0_PE), %eax
    movl %eax, %cr0
    ret

/* Identity map of 0-4 GiB with 2 MiB pages: PML4[0] -> PDPT[0..3] -> 4 page directories. */
build_page_tables:
    xorl %ecx, %ecx
1:  movl $0, pml4(,%ecx,8)
    movl $0, pml4+4(,%ecx,8)
    movl $0, pdpt(,%ecx,8)
    movl $0, pdpt+4(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b
    movl $(pdpt + 3), pml4
    movl $(pd + 0x0003), pdpt
    movl $(pd + 0x1003), pdpt + 8
    movl $(pd + 0x2003), pdpt + 16
    movl $(pd + 0x3003), pdpt + 24
    xorl %ecx, %ecx
    movl $0x83, %eax             /* present, writable, 2 MiB page */
2:  movl %eax, pd(,%ecx,8)
    movl $0, pd+4(,%ecx,8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $2048, %ecx
    jne 2b
    ret

#ifdef STAGE_REPORT
/* Polled output of the NUL-terminated string at ESI to COM1 (LSR bit 5, then THR). */
puts32:
1:  movb (%esi), %bl
    testb %bl, %bl
    jz 3f
    movw $0x3fd, %dx
2:  inb %dx, %al
    testb $0x20, %al
    jz 2b
    movw $0x3f8, %dx
    movb %bl, %al
    outb %al, %dx
    incl %esi
    jmp 1b
3:  ret
#endif

#ifdef ASSIST_IRET32
/*
 * A 32-bit iret to the same privilege level with a crafted frame: EFLAGS in the frame has
 * CF set, so arriving with CF set proves the flags came from the frame (SDM vol 2 IRET).
 * iret32_status: 1 ok, 2 flags wrong, 3 stack wrong.
 */
iret32_test:
    movl %esp, %ebp
    pushfl
    popl %eax
    orl $0x1, %eax
    pushl %eax
    xorl %eax, %eax
    movw %cs, %ax
    pushl %eax
    pushl $1f
    clc
    iret
1:  movl $2, %eax
    jnc 2f
    movl $3, %eax
    cmpl %esp, %ebp
    jne 2f
    movl $1, %eax
2:  movl %eax, iret32_status
    ret
#endif

    .code64
long64:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $_bss_start, %rdi
    movq $_bss_end, %rcx
1:  cmpq %rcx, %rdi
    jae 2f
    movq $0, (%rdi)
    addq $8, %rdi
    jmp 1b
2:  movq $boot_stack_top, %rsp
    movl start_info_saved(%rip), %edi
    call rt_start
3:  cli
    hlt
    jmp 3b

    .section .note.GNU-stack, "", @progbits
