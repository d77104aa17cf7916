#!/usr/bin/env bash
# The differential suite: every test in tests/src runs in a fresh QEMU guest
# against tun.ko, then in another against rtun.ko.
#
#   tests/run.sh [FILTER]
#
# Expects the debug and perf kernels and rtun.ko for each built (./dev test
# does all). Prints
# each guest's per-test lines, then `tun: N passed, M failed`,
# `rtun: N passed, M failed`, `bpf-tun`/`bpf-rtun` (the kernel's BPF
# selftests that open tun devices, see tests/bpf), `fuzz: N passed, M failed`
# (the differential fuzzer, see tests/src/fuzz.rs), `stress`, `package` (the
# Debian packages, see tests/package) and exits non-zero if any failed. A guest
# whose dmesg shows a kernel report counts as one more failure for that
# driver, as does a guest that does not finish.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${RTUN_CACHE:-$HOME/.cache/rtun}

cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml" ||
	{ echo "tests/run.sh: building the tests failed" >&2; exit 1; }
bin=$here/target/release/rtun-tests

# The kernel's own tun selftest, from the cached source, unmodified.
kst=$cache/kselftest-net-tun
ksrc=$cache/linux/tools/testing/selftests
if [ ! -x "$kst" ] || [ "$ksrc/net/tun.c" -nt "$kst" ]; then
	gcc -O2 -I "$ksrc" -o "$kst" "$ksrc/net/tun.c" ||
		{ echo "tests/run.sh: building selftests/net/tun.c failed" >&2; exit 1; }
fi
mkdir -p "$cache/logs"

# The kernel's own vhost-net test, from the cached source, unmodified.
vnt=$cache/vhost_net_test
"$here/vhost/build.sh" || exit 1

# The kernel's BPF selftests that use tun, from the cached source,
# unmodified, when the filter names them.
bpf=
if [ $# -eq 0 ] || [[ bpf-selftests == *"$1"* ]]; then
	bpf=$("$here/bpf/build.sh" | tail -1) || exit 1
fi

# The fuzzer's and the stress's budgets in the suite, sized with the rest to
# finish inside CI's 90 minutes on two cores; `./dev fuzz` and `./dev
# stress` run campaigns.
: "${RTUN_FUZZ_FIRST:=1}" "${RTUN_FUZZ_SEEDS:=30}" "${RTUN_FUZZ_OPS:=400}"
: "${RTUN_STRESS_SECONDS:=30}" "${RTUN_STRESS_CYCLES:=150}" "${RTUN_STRESS_RELOADS:=5}"

summary=()
total_pass=0 total_fail=0
# guest NAME DRIVER CMD...: runs CMD in a guest with DRIVER loaded (or
# none), streaming its lines, and counts its closing `NAME: N passed, M
# failed`. A guest without that line, or whose dmesg shows a kernel report,
# a failed unload or a crash, counts one more failure.
guest() {
	local name=$1 driver=$2 res=$cache/logs/tests-$1.out vm line pass fail
	shift 2
	"$repo/qemu/vm.sh" --flavour "${RTUN_VM_FLAVOUR:-debug}" ${RTUN_VM_KERNEL:+--kernel "$RTUN_VM_KERNEL"} \
		--driver "$driver" --log "$cache/logs/vm-$name.log" -- "$@" | tee "$res"
	vm=${PIPESTATUS[0]}
	# The KTAP summary names the driver: `tun-own` reports as `tun`.
	line=$(grep -E "^${name%%-*}: [0-9]+ passed, [0-9]+ failed$" "$res" | tail -1)
	pass=$(sed -En 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
	fail=$(sed -En 's/.* ([0-9]+) failed$/\1/p' <<<"$line")
	pass=${pass:-0} fail=${fail:-1}
	if [ "$vm" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "FAIL $name guest: kernel report, hang or crash (see above and $cache/logs/vm-$name.log)"
		fail=1
	fi
	summary+=("$name: $pass passed, $fail failed")
	total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail))
}

for driver in tun rtun; do
	case $driver in
	tun) ko=$cache/build-debug/drivers/net/tun.ko ;;
	rtun) ko=$repo/rtun.ko ;;
	esac
	echo "== $driver ($ko)"
	guest "$driver" "$driver" "$bin" --module "$ko" --kselftest-tun "$kst" \
		--vhost-net-test "$vnt" --vhost-modules "$cache/build-debug/drivers/vhost" "$@"
	# Tests that need a boot of their own (tests/src/main.rs OWN_BOOT), in
	# a second guest, when the filter names any.
	if [ $# -eq 0 ] || "$bin" --list-own-boot | grep -qE "${1:-.}"; then
		guest "$driver-own" "$driver" "$bin" --module "$ko" --own-boot \
			--vhost-modules "$cache/build-debug/drivers/vhost" "$@"
	fi
	# Tests that run on the perf kernel (tests/src/main.rs PERF_BOOT): a
	# QEMU guest on taps, whose kernel is the perf kernel too.
	if [ $# -eq 0 ] || "$bin" --list-perf-boot | grep -qE "${1:-.}"; then
		case $driver in
		tun) pko=$cache/build-perf/drivers/net/tun.ko ;;
		rtun) pko=$cache/rtun-perf/rtun.ko ;;
		esac
		RTUN_VM_FLAVOUR=perf guest "$driver-perf" "$driver" "$bin" --module "$pko" --perf-boot \
			--vhost-modules "$cache/build-perf/drivers/vhost" \
			--inner-kernel "$cache/build-perf/arch/x86/boot/bzImage" "$@"
	fi
	# The kernel's own BPF selftests that open tun devices (tests/bpf).
	if [ -n "$bpf" ]; then
		RTUN_VM_TIMEOUT=${RTUN_VM_TIMEOUT:-1800} guest "bpf-$driver" "$driver" \
			"$here/bpf/guest.sh" "$bpf"
	fi
done
# The differential fuzzer: both drivers in one guest boot, seed by seed.
# A filter runs it only if it names it.
if [ $# -eq 0 ] || [[ fuzz == *"$1"* ]]; then
	echo "== fuzz (seeds $RTUN_FUZZ_FIRST..+$RTUN_FUZZ_SEEDS, $RTUN_FUZZ_OPS operations each)"
	RTUN_VM_APPEND=rcupdate.rcu_expedited=1 RTUN_VM_TIMEOUT=${RTUN_VM_TIMEOUT:-3600} guest fuzz none "$bin" --fuzz "$cache/build-debug/drivers/net/tun.ko" "$repo/rtun.ko" \
		"$RTUN_FUZZ_FIRST" "$RTUN_FUZZ_SEEDS" "$RTUN_FUZZ_OPS"
fi
# A short concurrency and lifetime stress of rtun.ko (`./dev stress` runs
# longer ones).
if [ $# -eq 0 ] || [[ stress == *"$1"* ]]; then
	echo "== stress (rtun, ${RTUN_STRESS_SECONDS}s with vhost, $RTUN_STRESS_CYCLES create/destroy cycles, $RTUN_STRESS_RELOADS reloads)"
	RTUN_VM_APPEND=rcupdate.rcu_expedited=1 RTUN_VM_TIMEOUT=${RTUN_VM_TIMEOUT:-2400} guest stress none "$bin" --stress "$repo/rtun.ko" "$RTUN_STRESS_SECONDS" "$RTUN_STRESS_CYCLES" \
		"$RTUN_STRESS_RELOADS" "$cache/build-debug/drivers/vhost"
fi
# `./dev package` from the perf kernel's small config, installed into a
# throwaway root whose kernel then boots (tests/package).
if [ $# -eq 0 ] || [[ package == *"$1"* ]]; then
	echo "== package (./dev package from the perf kernel's config, its kernel booted)"
	if root=$("$here/package/prepare.sh" | tail -1); then
		RTUN_VM_KERNEL=$(echo "$root"/boot/vmlinuz-*) guest package none "$here/package/guest.sh" "$root"
	else
		echo "FAIL package: building or installing the packages failed"
		summary+=("package: 0 passed, 1 failed")
		total_fail=$((total_fail + 1))
	fi
fi
printf '%s\n' "${summary[@]}"
echo "$total_pass $total_fail" >"$cache/logs/suite-counts"
[ "$total_fail" -eq 0 ]
