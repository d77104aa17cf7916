#!/usr/bin/env bash
# The package test's host half: `./dev package` from the suite's own small
# config (a distribution config takes hours to build on two cores), the
# packages installed into a throwaway root as dpkg would unpack them, and
# rtun-modules' postinst run there. Prints the root; guest.sh, booted on
# the root's kernel, checks it, and removes rtun again with the package's
# postrm, which it finds in ROOT.control.
#
#   tests/package/prepare.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${RTUN_CACHE:-$HOME/.cache/rtun}
# A release of its own: a machine's real build is `-rtun`.
debs=$(RTUN_PACKAGE_SUFFIX=-rtun-test "$repo/dev" package "$cache/build-perf/.config")
pkg=$(dirname "$(echo "$debs" | head -1)")
root=$pkg/root
rm -rf "$root" && mkdir -p "$root"
for deb in $debs; do
	case $(basename "$deb") in
	linux-image-* | rtun-*) dpkg-deb -x "$deb" "$root" ;;
	esac
done
ctl=$root.control
rm -rf "$ctl"
dpkg-deb -e "$pkg"/rtun-modules-*.deb "$ctl"
DPKG_ROOT=$root "$ctl/postinst" configure
echo "$root"
