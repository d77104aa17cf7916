#!/usr/bin/env bash
# Debian packages of rtun for a kernel built by `kernel/build.sh package`:
#
#   package/build.sh KDIR RTUN.KO OUTDIR
#
# rtun-modules-KREL installs RTUN.KO (signed with the build's key when the
# kernel checks module signatures) as /lib/modules/KREL/updates/rtun.ko,
# where depmod prefers it to tun.ko as the provider of the symbols
# vhost_net imports; rtun-modprobe installs /etc/modprobe.d/rtun.conf,
# which makes `modprobe tun` load rtun. One config serves every kernel, so
# it is a package of its own. Prints the packages' paths.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kdir=$1 ko=$2 out=$3
die() { echo "package/build.sh: $*" >&2; exit 1; }
[ -f "$kdir/include/config/kernel.release" ] || die "$kdir is not a built kernel"
[ -f "$ko" ] || die "no $ko"
krel=$(cat "$kdir/include/config/kernel.release")
# A Debian version must start with a digit, and later builds sort after
# earlier ones: the commit's time, then its hash.
version=0+$(git -C "$here/.." log -1 --format=%cd.g%h --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0)
# The kernel package this module was built against, exactly: MODVERSIONS is
# off, so nothing else would stop it loading into another build's kernel.
kver=$(dpkg-parsechangelog -l "$kdir/debian/changelog" -S Version)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

deb() { # NAME DIR: DIR/DEBIAN/control written by the caller
	dpkg-deb --root-owner-group -Zxz --build "$2" "$out/$1" >/dev/null
	echo "$out/$1"
}

m=$stage/modules
mod=$m/lib/modules/$krel/updates/rtun.ko
install -D -m644 "$ko" "$mod"
# As `modules_install` does: debug info off (a distribution config has it
# on), then the build's signature when the kernel checks them.
llvm-strip --strip-debug "$mod"
if grep -qx CONFIG_MODULE_SIG=y "$kdir/.config"; then
	hash=$(sed -n 's/^CONFIG_MODULE_SIG_HASH="\(.*\)"$/\1/p' "$kdir/.config")
	key=$(sed -n 's/^CONFIG_MODULE_SIG_KEY="\(.*\)"$/\1/p' "$kdir/.config")
	case $key in /*) ;; *) key=$kdir/$key ;; esac
	"$kdir/scripts/sign-file" "$hash" "$key" "$kdir/certs/signing_key.x509" "$mod"
fi
mkdir -p "$m/DEBIAN"
cat >"$m/DEBIAN/control" <<EOC
Package: rtun-modules-$krel
Version: $version
Architecture: amd64
Maintainer: rtun developers <rtun@localhost>
Depends: linux-image-$krel (= $kver), kmod
Recommends: rtun-modprobe
Section: kernel
Priority: optional
Description: rtun, Linux's TUN/TAP driver in Rust, for Linux $krel
 A drop-in for tun.ko: /dev/net/tun, the tun link kind and the queues
 vhost-net drives. With rtun-modprobe it is loaded in tun.ko's place;
 purge both to go back (vhost_net depends on it while it is installed).
EOC
for script in postinst postrm; do
	# DPKG_ROOT: dpkg's own, and the package test's throwaway root.
	printf '#!/bin/sh\nset -e\n[ ! -d "$DPKG_ROOT/lib/modules/%s" ] || depmod -b "${DPKG_ROOT:-/}" -a %s\n' \
		"$krel" "$krel" >"$m/DEBIAN/$script"
	chmod 755 "$m/DEBIAN/$script"
done
deb "rtun-modules-${krel}_${version}_amd64.deb" "$m"

c=$stage/modprobe
install -D -m644 "$here/rtun.conf" "$c/etc/modprobe.d/rtun.conf"
mkdir -p "$c/DEBIAN"
echo /etc/modprobe.d/rtun.conf >"$c/DEBIAN/conffiles"
cat >"$c/DEBIAN/control" <<EOC
Package: rtun-modprobe
Version: $version
Architecture: all
Maintainer: rtun developers <rtun@localhost>
Depends: kmod
Section: kernel
Priority: optional
Description: load rtun in tun.ko's place
 modprobe configuration: \`modprobe tun\` and opening /dev/net/tun load
 rtun on kernels that have it (rtun-modules-*), tun.ko on the others.
 Purge it, and rtun-modules-*, to go back to tun.ko.
EOC
deb "rtun-modprobe_${version}_all.deb" "$c"
