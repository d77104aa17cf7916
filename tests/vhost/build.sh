#!/usr/bin/env bash
# Builds the kernel's own vhost-net test, tools/virtio/vhost_net_test of the
# cached 6.12 source, unmodified, into $RTUN_CACHE/vhost_net_test (only when
# missing or older than its sources).
#
# tools/virtio builds in place and expects the source tree's exported
# headers in usr/include, so those are installed there first, from a
# separate output directory: `make headers_install` run in the source tree
# itself would leave it unfit for the out-of-tree kernel builds. Debian's 6.12.y carries
# stable backports in drivers/virtio/virtio_ring.c that tools/virtio's
# stand-in kernel headers lack: compat.h stands in for them, and the kernel's
# own include/ is searched last for headers the backports added.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${RTUN_CACHE:-$HOME/.cache/rtun}
out=$cache/vhost_net_test
src=$cache/linux/tools/virtio
log=$cache/logs/vhost_net_test-build.log
if [ -x "$out" ] && [ "$out" -nt "$src/vhost_net_test.c" ] && [ "$out" -nt "$here/compat.h" ]; then
	exit 0
fi
mkdir -p "$cache/logs"
{ make -s -C "$cache/linux" O="$cache/build-headers" headers_install INSTALL_HDR_PATH="$cache/linux/usr" &&
	make -s -C "$src" clean &&
	make -s -C "$src" vhost_net_test \
		CPPFLAGS="-idirafter $cache/linux/include -include $here/compat.h -Wno-error" &&
	cp "$src/vhost_net_test" "$out"; } >"$log" 2>&1 ||
	{ cat "$log" >&2; echo "tests/vhost/build.sh: building tools/virtio/vhost_net_test failed" >&2; exit 1; }
