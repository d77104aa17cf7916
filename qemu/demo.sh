#!/usr/bin/env bash
# Runs in the guest with rtun loaded (./dev demo): show the driver as user
# space meets it.
set -u
echo "--- lsmod"
grep -E '^(r?tun) ' /proc/modules
echo "--- /dev/net/tun"
ls -l /dev/net/tun
echo "--- TUNGETFEATURES and an unattached queue"
"$(dirname "$0")/../tests/target/release/rtun-tests" --module "$(dirname "$0")/../rtun.ko" getfeatures
echo "--- a TUN device carrying traffic"
if ! ip tuntap add dev rtun0 mode tun 2>/tmp/err; then
	echo "rtun does not create devices yet: $(cat /tmp/err)"
	echo "(TUNSETIFF and the data path are issue 3)"
	exit 0
fi
ip tuntap del dev rtun0 mode tun
