/* Guest-physical layout of the PC machine vmm builds: fixed addresses shared by boot code and devices. */
#ifndef ARCH_X86_LAYOUT_H
#define ARCH_X86_LAYOUT_H

#define LAYOUT_BOOT_GDT 0x500ULL          /* GDT for direct boot: null, null, code (0x10), data (0x18) */
#define LAYOUT_PVH_START_INFO 0x6000ULL   /* struct hvm_start_info, then module list and memory map */
#define LAYOUT_ZERO_PAGE 0x7000ULL        /* Linux struct boot_params */
#define LAYOUT_PML4 0x9000ULL             /* identity page tables for the 64-bit boot protocol */
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL               /* four page directories: 4 GiB in 2 MiB pages */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_ACPI 0x9c000ULL            /* ACPI tables; doubles as the EBDA (RSDP in its first KiB) */
#define LAYOUT_ACPI_SIZE 0x4000ULL
#define LAYOUT_BDA_EBDA_SEGMENT 0x40eULL  /* BIOS data area word holding the EBDA segment */
#define LAYOUT_KERNEL 0x100000ULL         /* protected-mode kernel load address */
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL /* one page, KVM_SET_IDENTITY_MAP_ADDR (VMX real mode) */
#define LAYOUT_KVM_TSS 0xfeffd000ULL      /* three pages, KVM_SET_TSS_ADDR; ends where a 16 MiB ROM starts */
#define LAYOUT_FIRMWARE_MAX (16ULL << 20) /* largest firmware image below 4 GiB */
#define LAYOUT_PCI_MMIO32_BASE 0xc0000000ULL
#define LAYOUT_PCI_MMIO32_LIMIT 0xfebfffffULL

#endif
