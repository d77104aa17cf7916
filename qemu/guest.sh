#!/usr/bin/env bash
# Runs inside the guest (see vm.sh): load the driver, run the command,
# unload, and fail on any kernel report in dmesg.
#
#   guest.sh KO|'' CMD [ARGS...]
set -u
ko=$1
shift
# vm.sh tells a kernel that died while booting from a failed run by this.
echo "RTUN-VM-GUEST-START"
export PATH=/usr/sbin:/sbin:$PATH
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug

pattern='Oops|BUG:|WARNING:|Call Trace:|KASAN:|general protection|Kernel panic|detected stall|stall on CPU|possible recursive locking|circular locking|inconsistent lock state|suspicious RCU usage|suspected memory leak|refcount_t:|list_add corruption|list_del corruption|blocked for more than'

# A report from before any driver was loaded is the kernel's (seen: a rare
# KASAN report from an interrupt in early boot under TCG). vm.sh boots
# again once; the report is still printed.
if dmesg | grep -qaE "$pattern"; then
	echo "guest: kernel report during boot, before any driver was loaded:"
	dmesg | grep -aE -A25 "$pattern" | head -60 | sed 's/^/guest| /'
	echo "RTUN-VM-BOOT-REPORT"
	echo "RTUN-VM-EXIT 1"
	exit 1
fi

rc=0
name=
if [ -n "$ko" ]; then
	name=$(basename "$ko" .ko)
	insmod "$ko" || { echo "guest: insmod $ko failed"; rc=1; }
fi
[ $rc -ne 0 ] || "$@" || rc=$?
# Unloading is part of every run: a clean unload after the command's
# worst is what the debug kernel checks.
if [ -n "$name" ] && grep -q "^$name " /proc/modules; then
	rmmod "$name" || { echo "guest: rmmod $name failed"; rc=1; }
fi

# kmemleak reports objects unreferenced for 5 s or more: wait that long, then
# scan. The list is empty on a clean run.
if [ -w /sys/kernel/debug/kmemleak ]; then
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	[ -z "$leaks" ] || { echo "guest: kmemleak:"; echo "$leaks" | head -60 | sed 's/^/guest| /'; rc=1; }
fi

bad=$(dmesg | grep -aE "$pattern")
if [ -n "$bad" ]; then
	echo "guest: kernel reports in dmesg:"
	# Prefixed, or the host would take them for console noise.
	dmesg | grep -aE -A25 "$pattern" | head -120 | sed 's/^/guest| /'
	rc=1
fi
echo "RTUN-VM-EXIT $rc"
exit $rc
