#!/usr/bin/env bash
# The kernel's own BPF selftests that open tun devices, from the cached 6.12
# source, unmodified: a test_progs runner holding only flow_dissector (a TAP
# with IFF_NAPI|IFF_NAPI_FRAGS), tc_redirect (tc_redirect_peer_l3 through a
# TUN), lwt_redirect and lwt_reroute (routes that redirect into a TUN or TAP
# read back from its fd).
#
#   tests/bpf/build.sh      prints the runner's directory last
#
# Upstream's Makefile builds all 349 test files and 825 BPF objects, plus
# bpf_testmod.ko and its helpers: an hour on two cores. This script runs the
# same steps for these four tests only: libbpf and the bootstrap bpftool from
# the tree, vmlinux.h from the debug kernel's BTF, the BPF objects with
# clang-19 (the first clang here new enough for the selftests' BPF code),
# skeletons by bpftool, the generated prog_tests/tests.h, test_progs.c and
# its helpers. test_progs runs without bpf_testmod.ko (none of the four
# needs it; it says so and goes on). The build is cached under a stamp of
# the kernel build and this script.
set -euo pipefail

cache=${RTUN_CACHE:-$HOME/.cache/rtun}
src=$cache/linux
st=$src/tools/testing/selftests/bpf
kdir=$cache/build-debug
out=$cache/bpf-selftests
log=$cache/logs/bpf-selftests-build.log
clang=clang-19

tests=(flow_dissector tc_redirect lwt_redirect lwt_reroute)
# BPF objects the tests embed as skeletons, and those `ip route ... encap
# bpf obj FILE` loads by name from the working directory.
skels=(bpf_flow test_tc_neigh_fib test_tc_neigh test_tc_peer test_tc_dtime)
files=(test_lwt_redirect test_lwt_reroute)
# TRUNNER_EXTRA_SOURCES of test_progs in the selftests' Makefile.
extra=(test_progs cgroup_helpers trace_helpers network_helpers testing_helpers
	btf_helpers cap_helpers unpriv_helpers netlink_helpers jit_disasm_helpers
	test_loader xsk disasm disasm_helpers json_writer)

die() { echo "tests/bpf/build.sh: $*" >&2; exit 1; }
[ -d "$st" ] || die "no $st: run ./dev kernel"
[ -f "$kdir/vmlinux" ] || die "no $kdir/vmlinux: run ./dev kernel debug"
command -v "$clang" >/dev/null || die "no $clang: run ./dev setup"

key=$( { cat "$src/.rtun-stamp" "$kdir/.rtun-stamp" "$0"; "$clang" --version; } | sha256sum | cut -c1-16)
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$key" ] && [ -x "$out/test_progs" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/prog_tests" "$out/libbpf" "$out/bpftool" "$out/khdr" "$(dirname "$log")"
: >"$log"
run() { "$@" >>"$log" 2>&1 || { tail -30 "$log" >&2; die "failed: $* (see $log)"; }; }
start=$SECONDS
echo "bpf selftests: building test_progs for ${tests[*]} (log: $log)" >&2

# libbpf and its headers, as the selftests' Makefile builds them.
run make -C "$src/tools/lib/bpf" -j"$(nproc)" OUTPUT="$out/libbpf/" DESTDIR="$out/tools" \
	prefix= EXTRA_CFLAGS='-g -O0' all install_headers
# bpftool's bootstrap build has every command used here: btf dump, gen
# object, gen skeleton.
run make -C "$src/tools/bpf/bpftool" -j"$(nproc)" OUTPUT="$out/bpftool/" bootstrap
bpftool=$out/bpftool/bootstrap/bpftool
# The UAPI headers of this kernel, which the BPF programs include.
run make -C "$src" O="$out/khdr" headers_install INSTALL_HDR_PATH="$out/usr"
"$bpftool" btf dump file "$kdir/vmlinux" format c >"$out/tools/include/vmlinux.h" 2>>"$log" ||
	die "bpftool btf dump of $kdir/vmlinux failed (see $log)"

# The Makefile's get_sys_includes: clang's system include directories, last.
mapfile -t sysinc < <("$clang" -v -E - </dev/null 2>&1 |
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter\n\1|p }')
bpf_cflags=(-g -Wall -Werror -D__TARGET_ARCH_x86 -mlittle-endian -I"$out/tools/include" -I"$st"
	-I"$src/tools/include/uapi" -I"$out/usr/include" -Wno-compare-distinct-pointer-types
	"${sysinc[@]}" -DENABLE_ATOMICS_TESTS)
for p in "${skels[@]}" "${files[@]}"; do
	run "$clang" "${bpf_cflags[@]}" -O2 --target=bpf -c "$st/progs/$p.c" -mcpu=v3 -o "$out/$p.bpf.o"
done
for p in "${skels[@]}"; do
	run "$bpftool" gen object "$out/$p.linked.o" "$out/$p.bpf.o"
	"$bpftool" gen skeleton "$out/$p.linked.o" name "$p" >"$out/$p.skel.h" 2>>"$log" ||
		die "bpftool gen skeleton $p failed (see $log)"
done

# prog_tests/tests.h, generated as the Makefile generates it.
{
	echo '/* Generated header, do not edit */'
	for t in "${tests[@]}"; do
		sed -n -E 's/^void (serial_)?test_([a-zA-Z0-9_]+)\((void)?\).*/DEFINE_TEST(\2)/p' "$st/prog_tests/$t.c"
	done | sort
} >"$out/prog_tests/tests.h"

# The Makefile's CFLAGS, without -Werror: a newer gcc's new warning in
# upstream code must not stop the run.
cflags=(-g -O0 -rdynamic -Wall -fno-omit-frame-pointer -I"$st" -I"$out/tools/include"
	-I"$src/tools/lib" -I"$src/tools/include" -I"$src/tools/arch/x86/include"
	-I"$src/tools/include/uapi" -I"$out")
objs=()
for f in "${extra[@]}"; do
	run gcc "${cflags[@]}" -c "$st/$f.c" -o "$out/$f.o"
	objs+=("$out/$f.o")
done
for t in "${tests[@]}"; do
	run gcc -I"$out" "${cflags[@]}" -c "$st/prog_tests/$t.c" -o "$out/$t.test.o"
	objs+=("$out/$t.test.o")
done
run gcc -rdynamic -o "$out/test_progs" "${objs[@]}" "$out/libbpf/libbpf.a" -lelf -lz -lrt -lpthread
echo "$key" >"$out/.stamp"
echo "bpf selftests: built in $((SECONDS - start)) s" >&2
echo "$out"
