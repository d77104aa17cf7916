#!/usr/bin/env bash
# The package test's guest half, booted on the kernel of ROOT (see
# prepare.sh): the root's modules and modprobe configuration stand in for the
# guest's own, as if installed, and rtun must serve /dev/net/tun, `modprobe
# tun` and vhost_net; with both rtun packages purged, tun.ko again.
#
#   tests/package/guest.sh ROOT      ends with `package: N passed, M failed`
set -u
root=$1 n=0 fail=0
check() { # DESCRIPTION CMD...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n $what"; else echo "not ok $n $what"; fail=$((fail + 1)); fi
}
loaded() { [ -d "/sys/module/$1" ]; }
echo "KTAP version 1"
echo "1..9"
krel=$(uname -r)
# The guest's root is the host's, read only; /lib is /usr/lib there. The
# overlay's upper layer takes the package removal at the end.
lib=$root/lib
[ -d "$lib/modules" ] || lib=$root/usr/lib
ovl=$(mktemp -d)
mount -t tmpfs tmpfs "$ovl" && mkdir "$ovl/upper" "$ovl/work" &&
	mount -t overlay overlay -o "lowerdir=$lib:/usr/lib,upperdir=$ovl/upper,workdir=$ovl/work" /usr/lib &&
	mount --bind "$root/etc/modprobe.d" /etc/modprobe.d ||
	{ echo "package: 0 passed, 1 failed (mounting the root)"; exit 1; }
check "booted the packaged kernel $krel, rtun installed for it" \
	test -f "/lib/modules/$krel/updates/rtun.ko" -a -f "/lib/modules/$krel/modules.dep"
mkdir -p /dev/net
[ -e /dev/net/tun ] || mknod /dev/net/tun c 10 200
# Opening the node asks for char-major-10-200, as on a machine that loads
# drivers on demand.
check "opening /dev/net/tun loads rtun, not tun.ko" \
	sh -c 'exec 3<>/dev/net/tun; [ -d /sys/module/rtun ] && [ ! -d /sys/module/tun ]'
check "modprobe tun keeps rtun" sh -c 'modprobe tun && [ ! -d /sys/module/tun ]'
check "ip tuntap makes a device rtun serves" \
	sh -c 'ip tuntap add dev rtpkg0 mode tap && [ -f /sys/class/net/rtpkg0/tun_flags ] &&
		[ "$(cat /sys/module/rtun/refcnt)" -gt 0 ]'
# rtun exports tun's symbols and is no module of the kernel's own
# (modules.order), so depmod's last word on them is rtun's.
check "vhost_net depends on rtun itself" sh -c 'modprobe --show-depends vhost_net | grep -q updates/rtun.ko'
check "modprobe vhost_net binds to rtun" \
	sh -c 'modprobe vhost_net && [ -e /sys/module/rtun/holders/vhost_net ] && [ -c /dev/vhost-net ]'
# The way back, as the README gives it: rtun unloaded, both packages
# purged (their files, then rtun-modules' postrm, whose depmod makes tun.ko
# vhost_net's provider of the tun symbols again), tun.ko loaded.
ip link del rtpkg0 2>/dev/null
check "rtun and vhost_net unload" modprobe -r vhost_net rtun
umount /etc/modprobe.d
rm "/lib/modules/$krel/updates/rtun.ko"
"$root.control/postrm" remove
check "with rtun removed, modprobe tun loads tun.ko" sh -c 'modprobe tun && [ -d /sys/module/tun ] && ! [ -d /sys/module/rtun ]'
check "which vhost_net binds to" sh -c 'modprobe vhost_net && [ -e /sys/module/tun/holders/vhost_net ]'
modprobe -r vhost_net tun
echo "# Totals: pass:$((n - fail)) fail:$fail xfail:0 xpass:0 skip:0 error:0"
echo "package: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
