# vmm: build, test, demo, install. `make check` and `make demo` install their own Debian packages.
BUILD ?= build
CC ?= gcc
PREFIX ?= /usr/local
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

# Libraries come through pkg-config as they join (libfdt, libaio, zlib, libslirp, libvncserver).
PKGS := slirp libvncserver zlib json-c
PKG_CFLAGS := $(if $(PKGS),$(shell pkg-config --cflags $(PKGS)))
PKG_LIBS := $(if $(PKGS),$(shell pkg-config --libs $(PKGS)))

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -I. -DVMM_VERSION='"$(VERSION)"' $(PKG_CFLAGS) -MMD -MP
LDLIBS := $(PKG_LIBS) -laio -lpthread
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRCS := $(filter-out vmm/main.c,$(wildcard vmm/*.c vmm/block/*.c vmm/net/*.c vmm/ui/*.c vmm/manage/*.c devices/*.c devices/virtio/*.c arch/x86/*.c firmware/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/obj/%.o)
HARNESS_SRCS := $(wildcard tests/harness/*.c)
HARNESS_OBJS := $(HARNESS_SRCS:%.c=$(BUILD)/obj/%.o)
SAN_HARNESS_OBJS := $(HARNESS_SRCS:%.c=$(BUILD)/asan/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/%)

.PHONY: all vmm unit unit-asan guests check check-linux demo install deps bench clean
all: vmm guests

vmm: $(BUILD)/vmm

$(BUILD)/vmm: $(BUILD)/obj/vmm/main.o $(BUILD)/libvmm.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libvmm.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/asan/libvmm.a: $(SAN_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(HARNESS_OBJS) $(BUILD)/libvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(HARNESS_OBJS) $(BUILD)/libvmm.a $(LDLIBS)

$(BUILD)/asan/tests/%: tests/unit/%.c $(SAN_HARNESS_OBJS) $(BUILD)/asan/libvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< $(SAN_HARNESS_OBJS) $(BUILD)/asan/libvmm.a $(LDLIBS)

# Device-level benchmark programs (tests/bench/*.c), linked like the unit tests.
$(BUILD)/bench/%: tests/bench/%.c $(HARNESS_OBJS) $(BUILD)/libvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(HARNESS_OBJS) $(BUILD)/libvmm.a $(LDLIBS)

unit: $(UNIT_BINS)
unit-asan: $(SAN_BINS)

include tests/guest/guest.mk

# Installs the Debian packages the build and the tests need (root), or says which are missing.
deps:
	@tests/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory all unit unit-asan
	@tests/run.sh

check-linux: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh --linux

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

bench:
	@tests/install-deps.sh --bench
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

install: $(BUILD)/vmm
	install -D -m 0755 $(BUILD)/vmm $(DESTDIR)$(PREFIX)/bin/vmm

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(HARNESS_OBJS:.o=.d) $(BUILD)/obj/vmm/main.d
