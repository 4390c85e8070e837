# SPDX-License-Identifier: GPL-2.0
#
# make            build tcpflow.ko and the tools
# make demo       watch one connection's handshake and teardown
# make check      every test: host unit tests, then the guest suite
# make check-debug   the guest suite and the stress tests on a KASAN+lockdep
#                    +kmemleak kernel (built once, cached; docs/reliability.md)
# make check-matrix  build and test on the 6.1, 6.12, 7.3 and 5.10 kernel series
# make install    tcpflow.ko into /lib/modules/$(KVER)/extra, then depmod
#                 (make uninstall removes it; docs/kernels.md, DKMS too)
# make protocheck the hooked functions' prototypes in the running kernel's
#                 BTF against what module/hooks.c reads (make and make
#                 install run it first; docs/kernels.md)
#
# The module builds against the running kernel's headers when they exist,
# else against the newest installed Debian linux-headers-*-amd64.
# KDIR=/path/to/kernel/build overrides.

KVER ?= $(shell test -d /lib/modules/$$(uname -r)/build && uname -r || scripts/lab.d/kver 2>/dev/null)
KDIR ?= /lib/modules/$(KVER)/build
export KVER

.PHONY: all module tools deps demo check check-host check-guest clean print-kver \
	lint sparse check-debug check-matrix install uninstall \
	module-testing module-floor module-percpu protocheck

all: module tools

module:
	@test -d "$(KDIR)" || { echo "no kernel headers at '$(KDIR)': run 'scripts/deps' (as root)"; exit 1; }
	@$(PROTOCHECK)
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# Building for the running kernel, where it has BTF: every position a
# handler reads must be there, of the type it reads (scripts/protocheck).
# A mismatch fails the build; otherwise one line says why it was skipped.
PROTOCHECK = if command -v python3 >/dev/null; then \
	python3 scripts/protocheck --kdir "$(KDIR)"; \
	else echo "protocheck: skipped: no python3"; fi

protocheck:
	@$(PROTOCHECK)

# tcpflow-bpf needs the running kernel's BTF; where there is none it is
# skipped, and said so, rather than failing the build.
tools:
	$(MAKE) -C tools
	@if [ -r /sys/kernel/btf/vmlinux ]; then $(MAKE) -C tools/bpf; \
	else echo "tools/bpf: no /sys/kernel/btf/vmlinux here, tcpflow-bpf not built"; fi

deps:
	scripts/deps

demo: deps
	$(MAKE) all
	scripts/demo handshake

check: deps
	$(MAKE) all
	tests/run

check-host: deps
	$(MAKE) all
	tests/run --host-only

check-guest: deps
	$(MAKE) all
	tests/run --guest-only

# The reliability lane: the debug kernel (built once, ~12 min, cached in
# ~/.cache), the guest suite and tests/stress in one boot of it.
check-debug: deps
	$(MAKE) all
	scripts/check-debug

# The kernel release the module is built for (tests/scripts/test_kbuild.py).
print-kver:
	@echo $(KVER)

# The test-only builds, never installed: module/ring.c's knob that holds
# a ring writer up (TCPFLOW_TESTING=1), made from copies of Kbuild and
# module/ in TESTING_DIR, for tests/guest/92-lapped.t; and tfdelay.ko
# (tests/guest/kmod), which widens a kernel race window for 38-reqsk-dup.t.
#
# test-module: such a build of tcpflow.ko in $(1), from fresh copies of
# Kbuild and module/, with Kbuild's TCPFLOW_TESTING=1 and the knobs $(2).
define test-module
	@test -d "$(KDIR)" || { echo "no kernel headers at '$(KDIR)': run 'scripts/deps' (as root)"; exit 1; }
	mkdir -p "$(1)/module"
	rm -f "$(1)"/module/*.[ch]
	cp -p Kbuild "$(1)/"
	cp -p module/*.[ch] "$(1)/module/"
	$(MAKE) -C $(KDIR) M="$(1)" TCPFLOW_TESTING=1 $(2) modules
endef

TESTING_DIR ?= $(CURDIR)/tests/out/testing
module-testing:
	$(call test-module,$(TESTING_DIR),)
	mkdir -p "$(TESTING_DIR)/tfdelay"
	cp -p tests/guest/kmod/Kbuild tests/guest/kmod/tfdelay.c "$(TESTING_DIR)/tfdelay/"
	$(MAKE) -C $(KDIR) M="$(TESTING_DIR)/tfdelay" modules

# The floor, test-only too (Kbuild's TCPFLOW_FLOOR): tcpflow.ko with every
# hook armed and every handler returning at once, in FLOOR_DIR, for
# scripts/bench's variant F.
FLOOR_DIR ?= $(CURDIR)/tests/out/floor
module-floor:
	$(call test-module,$(FLOOR_DIR),TCPFLOW_FLOOR=1)

# Records numbered per CPU, test-only too (Kbuild's TCPFLOW_PERCPU), in
# PERCPU_DIR, for scripts/bench --scaling's variant P.
PERCPU_DIR ?= $(CURDIR)/tests/out/percpu
module-percpu:
	$(call test-module,$(PERCPU_DIR),TCPFLOW_PERCPU=1)

# Each Debian kernel series (default, bookworm-backports, trixie-backports,
# bullseye):
# get it, build against it, boot it in the lab, run the guest suite.
check-matrix: deps
	scripts/matrix

# The release of the tree in KDIR, as the module's vermagic has it (KDIR
# may be given without KVER; Debian 6.1's include/config/kernel.release
# says 6.1.192, not 6.1.0-N-amd64).
KREL = $(or $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null),$(KVER))

# INSTALL_MOD_PATH=DIR installs under DIR instead of / (staging, packages).
install: module
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=extra modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KREL)

uninstall:
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$(KREL)/extra/tcpflow.ko*
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KREL)

# Kernel style: checkpatch from linux-source-6.1, sparse through kbuild.
lint:
	scripts/checkpatch
	scripts/lint-scripts

sparse:
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	$(MAKE) -C tools clean
	$(MAKE) -C tools/bpf clean
