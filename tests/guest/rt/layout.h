/* Guest runtime: fixed addresses and selectors shared by the assembly stages and the C code. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Every program is linked and run here (PVH loads it there, the firmware stub copies it there). */
#define PROGRAM_LOAD_ADDR 0x100000
/* First word of the image header: "GEST"; then load size, BSS end, 32-bit entry. */
#define GUEST_HEADER_MAGIC 0x54534547
#define GUEST_HEADER_LOAD_SIZE 4
#define GUEST_HEADER_BSS_END 8
#define GUEST_HEADER_ENTRY 12

/* Multiboot 1 (Multiboot Specification 0.6.96 §3.1.1, §3.2): header magic, flags (bit 0
 * page-aligned modules, bit 1 memory info, bit 16 address fields valid), loader magic in EAX. */
#define MULTIBOOT_MAGIC 0x1BADB002
#define MULTIBOOT_FLAGS 0x00010003
#define MULTIBOOT_LOADER_MAGIC 0x2BADB002

/* The runtime's GDT (and the firmware stub's, which has the first three the same). */
#define CODE32_SEL 0x08
#define DATA_SEL 0x10
#define CODE64_SEL 0x18
#define GDT_LIMIT 31
#define GDT_CODE32 0x00cf9b000000ffff /* base 0, 4 GiB, execute/read, accessed */
#define GDT_DATA 0x00cf93000000ffff   /* base 0, 4 GiB, read/write, accessed */
#define GDT_CODE64 0x00af9b000000ffff /* L=1 */

/* Where APs start in real mode (SIPI vector 0x08). */
#define AP_TRAMPOLINE_ADDR 0x8000
/*
 * The reset program's boot counter: RAM that neither the programs, the ELF loader nor the
 * firmware stub write (QEMU's SeaBIOS, on the PVH path, reuses 0x7000 across a reset; 2 MiB
 * survives there too). The alternative is used if PVH boot data lies on the first.
 */
#define RESET_COUNTER_ADDR 0x200000
#define RESET_COUNTER_ALT_ADDR 0x7000

#define BOOT_STACK_SIZE 16384
#define AP_STACK_SIZE 4096
#define SMP_MAX_APS 63

/* Control-register and MSR bits used by the mode switches (SDM vol 3 §2.5, §2.2.1). */
#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_EM 0x00000004
#define CR0_TS 0x00000008
#define CR0_NE 0x00000020
#define CR0_NW 0x20000000
#define CR0_CD 0x40000000
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define EFER_MSR 0xc0000080
#define EFER_LME 0x00000100

#endif
