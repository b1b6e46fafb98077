/*
 * MBR boot sector of build/media/disk-bootsector.img: the BIOS loads it at 0:0x7c00 in real
 * mode with DL = boot drive. It prints "vmm: booted from disk" through the video BIOS
 * teletype (int 0x10 AH=0x0e) and straight to COM1 (port 0x3f8, LSR bit 5 polled, bounded),
 * then halts. Assembled with GNU as (--32), linked at 0x7c00 as a flat binary.
 */
    .code16
    .section .text
    .globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x7c00, %sp
    ljmp $0, $start_flat
start_flat:
    sti
    cld
    movw $message, %si              /* first through the BIOS (SeaBIOS may mirror it on COM1) */
bios_char:
    lodsb
    testb %al, %al
    jz direct
    movb $0x0e, %ah                 /* int 0x10 teletype: AL char, BH page, BL colour */
    movw $0x0007, %bx
    int $0x10
    jmp bios_char
direct:
    movw $message, %si              /* then straight to COM1, whole lines, never interleaved */
next_char:
    lodsb
    testb %al, %al
    jz done
    movb %al, %cl
    movw $0x3fd, %dx                /* COM1 line status register */
    movw $0xffff, %di
wait_thre:
    inb %dx, %al
    testb $0x20, %al                /* transmitter holding register empty */
    jnz send
    decw %di
    jnz wait_thre
send:
    movw $0x3f8, %dx
    movb %cl, %al
    outb %al, %dx
    jmp next_char
done:
    cli
halt:
    hlt
    jmp halt

message:
    .asciz "vmm: booted from disk\r\n"

    .org 510
    .byte 0x55, 0xaa                /* boot signature */
