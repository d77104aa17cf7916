# SPDX-License-Identifier: GPL-2.0
#
# Builds rtun.ko out of tree. `make` uses the debug kernel that
# `kernel/build.sh` keeps in the cache; `make KDIR=/path/to/build` any other
# configured and built 6.12 tree with CONFIG_RUST=y.
#
#   make            build rtun.ko
#   make CLIPPY=1   build with Clippy (warnings are errors in ./dev test)
#   make clean

RTUN_CACHE ?= $(HOME)/.cache/rtun
KDIR ?= $(RTUN_CACHE)/build-debug
RUSTC ?= /usr/bin/rustc
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 RUSTC=$(RUSTC)

ifeq ($(CLIPPY),1)
KMAKE += CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver
endif

all:
	@test -f $(KDIR)/Module.symvers || { echo "error: no built kernel in $(KDIR); run ./dev kernel or pass KDIR=" >&2; exit 1; }
	$(KMAKE) modules

clean:
	$(KMAKE) clean

.PHONY: all clean
