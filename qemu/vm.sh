#!/usr/bin/env bash
# Boot the cached kernel in QEMU, load a tun driver, run a command, report.
#
#   qemu/vm.sh [--flavour debug|perf] [--kernel IMAGE] [--driver tun|rtun|none] [--log FILE] -- CMD [ARGS...]
#
# The guest is a virtme-ng guest: it sees the host's root filesystem (read
# only, with tmpfs overlays), so host-built binaries run in it unchanged, and
# starts in the repository. --kernel boots IMAGE instead of the flavour's
# kernel (the package test's, with --driver none). The driver is tun.ko from the kernel build or
# rtun.ko: the repository's for the debug kernel, $RTUN_CACHE/rtun-perf's
# (./dev's module_perf) for the perf kernel. The exit status is the command's, unless the
# guest's dmesg shows an oops, BUG, WARNING, KASAN, lockdep, kmemleak or RCU
# stall report, or the guest dies: then it is non-zero whatever the command
# said, and the offending lines are printed.
#
# RTUN_VM_APPEND adds kernel arguments (the fuzzer's guests expedite RCU).
# RTUN_VM_PLUGIN="file=PLUGIN.so,ARG=VAL..." loads a QEMU TCG plugin (QEMU's
# `-plugin` option; `./dev bench` loads qemu/icount's) and so forces TCG.
# RTUN_VM_RWDIR=DIR lets the guest write DIR, at the same path, for files
# the host reads afterwards.
#
# KVM is used when it works (probed once, cached in $RTUN_CACHE/kvm); on
# this machine guests hang under KVM, so runs fall back to TCG. RTUN_KVM=0/1
# overrides the probe.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${RTUN_CACHE:-$HOME/.cache/rtun}
flavour=debug driver=none log= kernel=
while [ $# -gt 0 ]; do
	case $1 in
	--flavour) flavour=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--driver) driver=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: qemu/vm.sh [--flavour debug|perf] [--kernel IMAGE] [--driver tun|rtun|none] [--log FILE] -- CMD..." >&2; exit 2; }

die() { echo "qemu/vm.sh: $*" >&2; exit 1; }
kdir=$cache/build-$flavour
kernel=${kernel:-$kdir/arch/x86/boot/bzImage}
[ -f "$kernel" ] || die "no kernel at $kernel: run ./dev kernel"
vng=$cache/venv/bin/vng
[ -x "$vng" ] || die "no virtme-ng at $vng: run ./dev setup"
export PATH=$cache/venv/bin:$PATH
command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64: run ./dev setup"
case $driver in
tun) ko=$kdir/drivers/net/tun.ko ;;
rtun) ko=$repo/rtun.ko; [ "$flavour" = debug ] || ko=$cache/rtun-$flavour/rtun.ko ;;
none) ko= ;;
*) die "--driver must be tun, rtun or none" ;;
esac
[ -z "$ko" ] || [ -f "$ko" ] || die "no $ko: run ./dev module"

# One argument string for the guest shell, each word quoted.
cmd=$(printf '%q ' "$@")
mkdir -p "$cache/logs"
[ -n "$log" ] || log=$cache/logs/vm-$driver.log

boot() { # boot ACCEL TIMEOUT GUEST-COMMAND
	local accel=() extra=()
	# timeout signals its whole process group, qemu included: with
	# --foreground it signalled only vng, and a hung guest's qemu ran on,
	# holding the log's pipe open, past any timeout.
	[ "$1" = kvm ] || accel=(--disable-kvm)
	# vng joins --qemu-opts into a shell command line: no spaces in paths.
	[ -z "${RTUN_VM_PLUGIN:-}" ] || extra+=(--qemu-opts="-plugin $RTUN_VM_PLUGIN")
	[ -z "${RTUN_VM_RWDIR:-}" ] || extra+=(--rwdir="$RTUN_VM_RWDIR")
	# no5lvl: with 5-level paging, an interrupt taken while identify_cpu()
	# has boot_cpu_data's capabilities zeroed (interrupts are on by then)
	# makes KASAN compute its shadow bounds for 4-level paging and report
	# the irq_desc lock as a wild access (seen twice in a row in CI, at
	# 1.2 s and 2.2 s into boot); 4-level paging has no such window and
	# tun does not care how many levels the page tables have.
	# --verbose puts the kernel's console in the log, so a crash is visible
	# there; the guest's own output is told apart by its lack of a
	# timestamp.
	# In the background, its pid in $BOOT_PIDFILE when set, so that a
	# watchdog can signal it (and through it qemu).
	timeout -k 10 "$2" "$vng" --verbose --run "$kernel" "${accel[@]}" "${extra[@]}" \
		--force-9p --cpus 2 --memory 2G --cwd "$repo" \
		--append "loglevel=4 kmemleak=on no5lvl ${RTUN_VM_APPEND:-}" \
		--exec "$3" </dev/null &
	[ -z "${BOOT_PIDFILE:-}" ] || echo $! >"$BOOT_PIDFILE"
	wait $!
}

use_kvm() {
	case ${RTUN_KVM:-} in 0) return 1 ;; 1) return 0 ;; esac
	[ -w /dev/kvm ] || return 1
	local stamp=$cache/kvm
	if [ ! -f "$stamp" ]; then
		echo "qemu/vm.sh: probing whether KVM guests work here (once)" >&2
		if boot kvm 60 "echo RTUN-KVM-OK" 2>&1 | grep -q '^RTUN-KVM-OK'; then
			echo yes > "$stamp"
		else
			echo no > "$stamp"
		fi
	fi
	[ "$(cat "$stamp")" = yes ]
}
accel=tcg
[ -n "${RTUN_VM_PLUGIN:-}" ] || ! use_kvm || accel=kvm

guest="$here/guest.sh $(printf '%q' "$ko") $cmd"
# A guest must reach guest.sh within this; seen in CI under TCG: a boot
# whose second CPU's timer stopped firing (RCU stalls on CPU 1 from 26 s
# on, the 9p root never mounted) and that hung until the guest's timeout.
# Boots reach guest.sh in under a minute, on the debug kernel too.
boot_limit=${RTUN_VM_BOOT_TIMEOUT:-300}
pidfile=$log.pid
for attempt in 1 2; do
	rm -f "$pidfile" "$log.rc"
	# The serial console ends lines with CR LF. sed -u, not tr: tr's
	# output to a file is block-buffered, so the watchdog below did not
	# see the start marker until 4 KiB more had come and killed guests
	# that were running (every guest of a CI run, each boot).
	{ BOOT_PIDFILE=$pidfile boot "$accel" "${RTUN_VM_TIMEOUT:-1200}" "$guest"; echo $? >"$log.rc"; } 2>&1 |
		sed -u 's/\r//g' >"$log" &
	job=$! hung=0 start=$SECONDS
	while kill -0 "$job" 2>/dev/null && ! grep -qas '^RTUN-VM-GUEST-START' "$log"; do
		if [ $((SECONDS - start)) -ge "$boot_limit" ]; then
			hung=1
			# timeout passes the signal on to its process group, qemu too.
			kill -TERM "$(cat "$pidfile")" 2>/dev/null
			break
		fi
		sleep 1
	done
	wait "$job"
	status=$(cat "$log.rc" 2>/dev/null || echo 1)
	rm -f "$pidfile" "$log.rc"
	# A kernel that reports or dies while booting, before guest.sh has
	# loaded any driver, is the emulated machine's problem, not the
	# driver's: boot once more. Seen in CI, 1-2 s into boot: a KASAN
	# report from an interrupt in identify_cpu() (see no5lvl above), and
	# a panic from an interrupt that found an IO-APIC pin's chip data not
	# yet set during setup_IO_APIC(). A guest that timed out is not booted
	# again: its time is spent.
	[ $attempt = 1 ] || break
	if [ $hung = 1 ]; then
		why="the guest did not reach guest.sh within $boot_limit s (a boot hang), before any driver was loaded"
	elif grep -q '^RTUN-VM-BOOT-REPORT' "$log"; then
		why="kernel report while booting, before any driver was loaded"
	elif [ "$status" != 124 ] && ! grep -q '^RTUN-VM-GUEST-START' "$log"; then
		why="the kernel died while booting (qemu status $status), before any driver was loaded"
	else
		break
	fi
	cp "$log" "$log.boot-report"
	echo "qemu/vm.sh: $why (kept in $log.boot-report); booting again" >&2
done
# The guest's output: every console line that is not a kernel message.
grep -avE '^\[ *[0-9]+\.[0-9]+\]' "$log" | grep -av '^RTUN-VM-' || true
rc=$(sed -n 's/^RTUN-VM-EXIT \([0-9]*\).*/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
	echo "qemu/vm.sh: the guest did not finish (qemu status $status); last console lines, full log in $log:" >&2
	tail -40 "$log" >&2
	exit 1
fi
exit "$rc"
