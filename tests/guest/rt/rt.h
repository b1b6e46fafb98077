/* Guest runtime API shared by every test guest: boot info, serial, ACPI, power, APIC, IDT, time. */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))

/* ---- boot (rt/boot.c) ---------------------------------------------------------------- */

/* Xen public/arch-x86/hvm/start_info.h: handed over in EBX on the PVH entry. */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;   /* version >= 1 */
    uint32_t memmap_entries; /* version >= 1 */
    uint32_t reserved;
};

/* Multiboot Specification 0.6.96 §3.3: the start of the boot information structure. */
#define MULTIBOOT_INFO_CMDLINE (1u << 2)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
} PACKED;

enum boot_mode { BOOT_FIRMWARE, BOOT_PVH, BOOT_MULTIBOOT };

struct boot_info {
    enum boot_mode mode;
    const struct hvm_start_info *start_info; /* NULL unless PVH */
    const char *cmdline;                     /* "" when there is none */
};

/* Set by entry.S on the multiboot entry: EBX as the loader handed it over (0 otherwise). */
extern uint32_t multiboot_info_saved;

extern struct boot_info boot;

/* "firmware", "pvh" or "multiboot" (a multiboot boot otherwise runs as the firmware path). */
const char *boot_mode_name(void);
/* True when the PVH or multiboot command line contains word (as a substring). */
bool boot_cmdline_has(const char *word);
/* Called by rt_start once the runtime is up; the program's verdict comes from here. */
int main(void);
/* Entry from entry.S in long mode: start_info is EBX of the 32-bit entry (0 in firmware mode). */
NORETURN void rt_start(uint32_t start_info);

/* Set by entry.S when built with ASSIST_IRET32: 1 once a 32-bit iret returned correctly. */
extern volatile uint32_t iret32_status;

/* ---- serial COM1 (rt/serial.c, rt/printf.c) ------------------------------------------ */

#define COM1_BASE 0x3f8

void serial_init(void);
void serial_putc(char c);             /* '\n' goes out as "\r\n" */
void serial_puts(const char *s);
bool serial_can_read(void);           /* LSR bit 0: data ready */
char serial_getc(void);               /* blocks (polls LSR bit 0) */
/* Reads one line with echo into buf (NUL-terminated, at most size-1 characters). */
size_t serial_read_line(char *buf, size_t size);

/* printf subset: %s %c %d %i %u %x %X %p %%, flags '0' '-', width, length l ll z. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);

/* ---- strings (rt/string.c) ----------------------------------------------------------- */

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* First occurrence of needle[0..nlen) in hay[0..hlen), or NULL. */
const void *mem_find(const void *hay, size_t hlen, const void *needle, size_t nlen);

/* ---- ACPI (rt/acpi.c), ACPI 6.4 chapter 5 -------------------------------------------- */

struct acpi_rsdp { /* §5.2.5.3 */
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;
    uint8_t reserved[3];
} PACKED;

struct acpi_header { /* §5.2.6 */
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} PACKED;

/* What the runtime learnt from the tables at start-up (all zero when there is no ACPI). */
struct acpi_info {
    const struct acpi_rsdp *rsdp;
    const struct acpi_header *root;  /* XSDT when usable, else RSDT */
    bool root_is_xsdt;
    const struct acpi_header *fadt;
    const struct acpi_header *madt;
    const struct acpi_header *dsdt;
    uint16_t pm1a_cnt, pm1b_cnt;     /* PM1x_CNT_BLK I/O ports (0 = none) */
    uint16_t pm_tmr;                 /* PM_TMR_BLK I/O port (0 = none) */
    bool pm_tmr_32bit;               /* FADT flag TMR_VAL_EXT */
    bool have_s5;
    uint8_t slp_typ_a, slp_typ_b;    /* from \_S5 */
    bool have_reset;                 /* FADT RESET_REG usable */
    uint8_t reset_space;             /* GAS address space: 0 memory, 1 I/O */
    uint64_t reset_addr;
    uint8_t reset_value;
};

extern struct acpi_info acpi;

/* Finds the RSDP (start_info, then EBDA and 0xe0000-0xfffff scan) and caches the facts above. */
void acpi_init(void);
/* Checksum of len bytes at p sums to zero (mod 256). */
bool acpi_checksum_ok(const void *p, size_t len);
/* True when [addr, addr+len) lies below 4 GiB, i.e. inside the identity map. */
bool acpi_addr_ok(uint64_t addr, uint64_t len);
/* Number of entries in the XSDT/RSDT, and the table at index i (NULL if out of range or bad). */
int acpi_table_count(void);
const struct acpi_header *acpi_table(int i);
/* The first table with this 4-character signature (looks at the root's entries only). */
const struct acpi_header *acpi_find_table(const char *sig);
/* Parses \_S5 in an AML table: the first two package elements (SLP_TYPa, SLP_TYPb). */
bool acpi_parse_s5(const struct acpi_header *dsdt, uint8_t *slp_typ_a, uint8_t *slp_typ_b);

/* MADT (§5.2.12): entry types used here. */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_X2APIC 9
/* Walks MADT entries: pass NULL for the first; returns NULL after the last or on a bad entry. */
const uint8_t *acpi_madt_next(const uint8_t *prev);
/* Collects the APIC IDs of enabled (or online-capable) processors; returns how many (<= max). */
int acpi_madt_cpus(uint32_t *ids, int max);

/* ---- power (rt/power.c) -------------------------------------------------------------- */

/* S5 through PM1a/b_CNT; falls back to port 0xf4 (isa-debug-exit) and then cli;hlt. */
NORETURN void poweroff(void);
/* FADT RESET_REG; falls back to 0xcf9, the i8042 and a triple fault. */
NORETURN void system_reset(void);
/* Loads an IDT with limit 0 and raises an exception: the CPU shuts down (triple fault). */
NORETURN void triple_fault(void);

/* ---- APIC (rt/apic.c), Intel SDM vol 3 ch 10/11 --------------------------------------- */

#define LAPIC_BASE 0xfee00000u
#define IOAPIC_BASE 0xfec00000u
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_TRIGGER_LEVEL 0x00008000u
#define ICR_DELIVERY_PENDING 0x00001000u

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t val);
uint32_t lapic_id(void);
/* Sets the software-enable bit in the spurious-vector register (vector 0xff). */
void lapic_enable(void);
void lapic_eoi(void);
/* Sends an IPI (ICR low value) to apic_id and waits for delivery; false on timeout. */
bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t val);
/* Programs redirection entry pin: fixed delivery, edge, active high, physical dest. */
void ioapic_route(unsigned pin, uint8_t vector, uint8_t dest_apic_id, bool masked);

/* ---- external interrupts (rt/irq.c) ------------------------------------------------- */

/* Masks the 8259 PICs, enables the local APIC (spurious vector 0xff) and sets RFLAGS.IF. */
void irq_init(void);
/* Counts interrupts on vector (32..254) from now on, each acknowledged with a LAPIC EOI. */
void irq_count_vector(uint8_t vector);
uint32_t irq_count(uint8_t vector);

/* ---- paging (rt/paging.c) ----------------------------------------------------------- */

/* Identity-maps [addr, addr+size) uncached with 2 MiB pages where the boot map (0-4 GiB) does
 * not reach, e.g. 64-bit BARs; false beyond the CPU's physical address width or out of tables. */
bool paging_map_mmio(uint64_t addr, uint64_t size);

/* ---- time (rt/time.c) ---------------------------------------------------------------- */

/* Microseconds since an arbitrary point: ACPI PM timer when known, else the TSC. */
uint64_t time_us(void);
void udelay(uint64_t us);
/* True when time_us is backed by the ACPI PM timer (3.579545 MHz, ACPI 6.4 §4.8.3.3). */
bool time_uses_pm_timer(void);

/* ---- IDT and exceptions (rt/idt.c, isr.S) ------------------------------------------- */

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU (SDM vol 3 §6.14.2) */
};

typedef void (*trap_handler)(struct trap_frame *frame);

/* Loads a 256-entry IDT whose gates all go to the default handler. */
void idt_init(void);
/* Installs a C handler for one vector; returning resumes at frame->rip (through iretq). */
void idt_set_handler(unsigned vector, trap_handler fn);
/* The default: prints vector, error code and RIP, then powers off. */
void trap_default(struct trap_frame *frame);

#endif
