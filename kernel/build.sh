#!/usr/bin/env bash
# Build (or reuse) the patched Linux 6.12 that rtun is built and tested against.
#
#   kernel/build.sh [debug|perf]     prints the build directory (KDIR) last
#   kernel/build.sh package CONFIG [SUFFIX]   the same kernel as Debian
#                                    packages, release KVER+SUFFIX (-rtun)
#
# Source: Debian's linux-source-6.12, whatever 6.12.y it serves. It is
# unpacked once into $RTUN_CACHE/linux (default ~/.cache/rtun) and our patches
# from kernel/patches/series are applied. Each flavour builds out of tree into
# $RTUN_CACHE/build-<flavour> from tinyconfig + kvm_guest.config +
# kernel/config/base.config + kernel/config/<flavour>.config. The package
# flavour (./dev package) starts from CONFIG instead, a machine's own kernel
# config, merges kernel/config/package.config over it and builds with
# `make bindeb-pkg` into $RTUN_CACHE/package-<key>/build, the .debs landing
# beside it (no debug-symbols package).
#
# Both paths are stable and carry a stamp of what they were made from
# (package version, patches, config). A changed stamp re-unpacks or
# re-configures in place, so make rebuilds only what changed; an unchanged
# stamp with a finished build costs nothing.
set -euo pipefail

flavour=${1:-debug}
case $flavour in
debug|perf) ;;
package)
	[ $# -ge 2 ] && [ -r "$2" ] || { echo "kernel/build.sh: package needs a readable kernel config, not '${2:-}'" >&2; exit 2; }
	suffix=${3:--rtun}
	[[ $suffix =~ ^-[a-z0-9.+-]+$ ]] || { echo "kernel/build.sh: a release suffix is - and [a-z0-9.+-], not '$suffix'" >&2; exit 2; }
	;;
*) echo "kernel/build.sh: flavour must be debug, perf or package, not '$flavour'" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
cache=${RTUN_CACHE:-$HOME/.cache/rtun}
tarball=/usr/src/linux-source-6.12.tar.xz
src=$cache/linux
mkdir -p "$cache"

die() { echo "kernel/build.sh: $*" >&2; exit 1; }
[ -r "$tarball" ] || die "no $tarball: run ./dev setup (apt-get install linux-source-6.12)"
[ -x /usr/bin/rustc ] || die "no /usr/bin/rustc: run ./dev setup (apt-get install rustc-web rust-web-src)"
command -v bindgen >/dev/null || die "no bindgen on PATH: run ./dev setup (cargo install --locked bindgen-cli)"

pkgver=$(dpkg-query -W -f '${Version}' linux-source-6.12)
src_key=$( { echo "$pkgver"; cd "$here/patches"; for p in $(cat series); do echo "$p"; cat "$p"; done; } | sha256sum | cut -c1-16)
# config_key LINE FILE...: what a build is made from, as a short hash.
config_key() { { echo "$1"; shift; cat "$@"; /usr/bin/rustc --version; } | sha256sum | cut -c1-16; }
if [ "$flavour" = package ]; then
	cfg_key=$(config_key "$src_key $suffix" "$2" "$here/config/package.config")
	out=$cache/package-$cfg_key/build
	log=$cache/package-$cfg_key/build.log
	mkdir -p "$out"
	echo "CONFIG_LOCALVERSION=\"$suffix\"" >"$out/../localversion.config"
	fragments=("$here/config/package.config" "$out/../localversion.config")
	# What rtun needs; the rest of the fragment only helps a config get there.
	required=$(printf '%s\n' CONFIG_RUST=y CONFIG_MODULES=y CONFIG_MODVERSIONS=n CONFIG_TUN=m \
		CONFIG_VHOST_NET=m "CONFIG_LOCALVERSION=\"$suffix\"")
else
	fragments=("$src/kernel/configs/kvm_guest.config" "$here/config/base.config" "$here/config/$flavour.config")
	cfg_key=$(config_key "$src_key" "$here/config/base.config" "$here/config/$flavour.config")
	out=$cache/build-$flavour
	log=$cache/build-$flavour.log
	# Every option we asked for.
	required=$(grep -hE '^CONFIG_[A-Z0-9_]+=' "$here/config/base.config" "$here/config/$flavour.config")
fi

if [ "$(cat "$src/.rtun-stamp" 2>/dev/null)" != "$src_key" ]; then
	echo "kernel: unpacking linux-source-6.12 $pkgver and applying kernel/patches" >&2
	rm -rf "$src" "$src.new"
	mkdir -p "$src.new"
	tar -xJf "$tarball" -C "$src.new" --strip-components=1
	while read -r p; do
		[ -n "$p" ] || continue
		patch -d "$src.new" -p1 -s --no-backup-if-mismatch < "$here/patches/$p" \
			|| die "patch $p does not apply to linux-source-6.12 $pkgver"
	done < "$here/patches/series"
	echo "$src_key" > "$src.new/.rtun-stamp"
	mv "$src.new" "$src"
fi

# bindgen takes the newest libclang it finds; the kernel's C compiler is
# clang 14, whose flags a newer libclang rejects (clang-19 is here for the
# BPF selftests' objects), so bindgen gets clang 14's.
export LIBCLANG_PATH=/usr/lib/llvm-14/lib
mk() { make -C "$src" O="$out" LLVM=1 RUSTC=/usr/bin/rustc "$@"; }

if [ "$(cat "$out/.rtun-config-stamp" 2>/dev/null)" != "$cfg_key" ]; then
	echo "kernel: configuring $flavour ($(make -s -C "$src" kernelversion))" >&2
	mkdir -p "$out"
	rm -f "$out/.rtun-stamp"
	{
		if [ "$flavour" = package ]; then cp "$2" "$out/.config"; else mk tinyconfig; fi
		"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}"
		mk olddefconfig
	} > "$log" 2>&1 || die "configuring failed, see $log"
	mk rustavailable >> "$log" 2>&1 || die "Rust is not available to the kernel build (make rustavailable), see $log"
	# The options required must have survived olddefconfig.
	missing=$(echo "$required" |
		while IFS= read -r line; do
			opt=${line%%=*} val=${line#*=}
			if [ "$val" = n ]; then
				grep -qE "^$opt=" "$out/.config" && echo "$line"
			else
				grep -qxF "$line" "$out/.config" || echo "$line"
			fi
		done || true)
	[ -z "$missing" ] || die "config options did not take (a dependency is missing): $(echo $missing)"
	echo "$cfg_key" > "$out/.rtun-config-stamp"
fi

built() {
	[ "$(cat "$out/.rtun-stamp" 2>/dev/null)" = "$cfg_key" ] && [ -f "$out/arch/x86/boot/bzImage" ] &&
		{ [ "$flavour" != package ] || compgen -G "$out/../linux-image-*.deb" >/dev/null; }
}
if ! built; then
	echo "kernel: building $flavour in $out (log: $log; ~6-8 min cold on 2 cores)" >&2
	start=$SECONDS
	if [ "$flavour" = package ]; then
		# -d: the build dependencies are what ./dev setup installs (the
		# kernel's own list names gcc, which an LLVM=1 build does not use).
		targets=(bindeb-pkg "DPKG_FLAGS=-d -Ppkg.linux-upstream.nokerneldbg")
		# One set of packages: each build numbers its own.
		rm -f "$out"/../linux-*.deb "$out"/../linux-upstream_*
	else
		targets=(bzImage modules)
	fi
	mk -j"$(nproc)" "${targets[@]}" >> "$log" 2>&1 || { tail -30 "$log" >&2; die "kernel build failed, see $log"; }
	# bindgen's view of the C structs rtun touches must be C's.
	"$here/check-layout.py" "$out" "$src" $(cat "$here/layout-structs") >> "$log" 2>&1 ||
		{ tail -25 "$log" >&2; die "Rust bindings disagree with C on a struct layout, see $log"; }
	echo "$cfg_key" > "$out/.rtun-stamp"
	echo "kernel: built $flavour in $((SECONDS - start)) s" >&2
fi
echo "$out"
