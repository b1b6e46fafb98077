# Test guest programs: freestanding x86 guests booted by vmm as PVH ELFs and as firmware ROMs.
# Included by the top-level Makefile (target `guests`); also usable alone:
#   make -f tests/guest/guest.mk guests
# Outputs: $(BUILD)/guest/NAME.elf (PVH, linked at 1 MiB) and $(BUILD)/guest/NAME.rom (firmware).

BUILD ?= build
GUEST_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

GUEST_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_OUT := $(BUILD)/guest

GUEST_CC ?= gcc
GUEST_LD ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_AR ?= ar

GUEST_PROGRAMS := hello longmode smp acpi reset assist panic triple bench bench0 vblk vnet powerbtn vwrite prompt vping

# Per program NAME: GUEST_MAIN_NAME, its C file when not NAME.c; GUEST_CDEFS_NAME, C switches;
# GUEST_EXTRA_NAME, extra objects (sources in $(GUEST_SRC)/X.S); GUEST_DEFS_NAME, assembler
# switches for entry.S and rom.S.
GUEST_EXTRA_smp := smp_tramp
GUEST_EXTRA_assist := assist_asm
GUEST_DEFS_longmode := -DSTAGE_REPORT
GUEST_DEFS_assist := -DASSIST_IRET32
GUEST_DEFS_bench := -DEARLY_MARK
GUEST_MAIN_bench0 := bench
GUEST_CDEFS_bench0 := -DBENCH_WRITES=0
GUEST_DEFS_bench0 := -DEARLY_MARK

# Firmware image size: 64 KiB (the build fails if a program no longer fits; then use 0x20000).
GUEST_ROM_SIZE ?= 0x10000

GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -mno-red-zone -mgeneral-regs-only -mno-sse -mno-mmx -march=x86-64 \
	-mtune=generic -fcf-protection=none -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns -fno-common -I$(GUEST_SRC)/rt
GUEST_ASFLAGS := -I$(GUEST_SRC)/rt -I$(GUEST_SRC)
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib -static --build-id=none -z noexecstack \
	-z max-page-size=4096 --no-warn-rwx-segments -T $(GUEST_SRC)/guest.ld

# The runtime is an archive: a program links only the parts it uses (PCI and virtio are big).
GUEST_RT_C := boot serial printf string acpi power apic time idt irq paging pci msix virtio netdev
GUEST_RT_OBJS := $(GUEST_RT_C:%=$(GUEST_OUT)/rt/%.o) $(GUEST_OUT)/rt/isr.o
GUEST_RT_LIB := $(GUEST_OUT)/rt/librt.a
GUEST_HDRS := $(wildcard $(GUEST_SRC)/rt/*.h)

GUEST_ELFS := $(GUEST_PROGRAMS:%=$(GUEST_OUT)/%.elf)
GUEST_ROMS := $(GUEST_PROGRAMS:%=$(GUEST_OUT)/%.rom)

.PHONY: guests guests-clean
guests: $(GUEST_ELFS) $(GUEST_ROMS)

guests-clean:
	rm -rf $(GUEST_OUT)

$(GUEST_RT_C:%=$(GUEST_OUT)/rt/%.o): $(GUEST_OUT)/rt/%.o: $(GUEST_SRC)/rt/%.c $(GUEST_HDRS)
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_OUT)/rt/isr.o: $(GUEST_SRC)/rt/isr.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $@ $<

$(GUEST_RT_LIB): $(GUEST_RT_OBJS)
	rm -f $@
	$(GUEST_AR) rcs $@ $^

# Per program: its C file, extra assembly, its own entry.S build, the ELF, the flat image, the ROM.
define GUEST_PROGRAM_RULES
$(GUEST_OUT)/$(1)/main.o: $(GUEST_SRC)/$(or $(GUEST_MAIN_$(1)),$(1)).c $(GUEST_HDRS)
	@mkdir -p $$(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_CDEFS_$(1)) -c -o $$@ $$<

$(GUEST_OUT)/$(1)/entry.o: $(GUEST_SRC)/rt/entry.S $(GUEST_HDRS)
	@mkdir -p $$(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) $(GUEST_DEFS_$(1)) -c -o $$@ $$<

$(foreach x,$(GUEST_EXTRA_$(1)),$(GUEST_OUT)/$(1)/$(x).o): $(GUEST_OUT)/$(1)/%.o: $(GUEST_SRC)/%.S $(GUEST_HDRS)
	@mkdir -p $$(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $$@ $$<

$(GUEST_OUT)/$(1).elf: $(GUEST_OUT)/$(1)/entry.o $(GUEST_OUT)/$(1)/main.o \
		$(foreach x,$(GUEST_EXTRA_$(1)),$(GUEST_OUT)/$(1)/$(x).o) $(GUEST_RT_LIB) $(GUEST_SRC)/guest.ld
	$(GUEST_LD) $(GUEST_LDFLAGS) -o $$@ $$(filter %.o %.a,$$^)

$(GUEST_OUT)/$(1)/image.bin: $(GUEST_OUT)/$(1).elf
	$(GUEST_OBJCOPY) -O binary $$< $$@

$(GUEST_OUT)/$(1)/rom.o: $(GUEST_SRC)/rom.S $(GUEST_OUT)/$(1)/image.bin $(GUEST_HDRS)
	$(GUEST_CC) $(GUEST_ASFLAGS) $(GUEST_DEFS_$(1)) -DROM_SIZE=$(GUEST_ROM_SIZE) \
		-DPROG_BIN='"$(GUEST_OUT)/$(1)/image.bin"' -c -o $$@ $$<

$(GUEST_OUT)/$(1).rom: $(GUEST_OUT)/$(1)/rom.o
	$(GUEST_OBJCOPY) -O binary -j .text $$< $$@
endef

$(foreach p,$(GUEST_PROGRAMS),$(eval $(call GUEST_PROGRAM_RULES,$(p))))

# Including this file must not change the includer's default goal.
.DEFAULT_GOAL := $(GUEST_SAVED_DEFAULT_GOAL)
