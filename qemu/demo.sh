#!/usr/bin/env bash
# Runs in the guest with rtun loaded (./dev demo): a TUN device made by rtun
# carries pings between the kernel's stack and a userspace responder.
set -u
bin=$(dirname "$0")/../tests/target/release
echo "--- rtun is loaded and owns /dev/net/tun"
grep -E '^rtun ' /proc/modules
ls -l /dev/net/tun
echo "--- a TUN device, answered from user space"
"$bin/responder" rtun0 10.0.0.1 10.0.0.2 6 &
sleep 1
ip addr show dev rtun0
busybox ping -c 3 -W 2 10.0.0.2
rc=$?
ip -s link show dev rtun0
wait
exit $rc
