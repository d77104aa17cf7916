#!/usr/bin/env bash
# Builds the icount QEMU plugin (icount.c beside this script) into
# $RTUN_CACHE/icount.so (default ~/.cache/rtun), only when missing or older
# than its source; prints the plugin's path last.
#
# Plain gcc: the plugin declares the bit of QEMU's plugin API it uses itself,
# so neither QEMU's headers nor glib's are needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${RTUN_CACHE:-$HOME/.cache/rtun}
out=$cache/icount.so
if [ ! -f "$out" ] || [ "$here/icount.c" -nt "$out" ]; then
	mkdir -p "$cache"
	gcc -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -pthread \
		-o "$out.tmp" "$here/icount.c"
	mv "$out.tmp" "$out"
fi
echo "$out"
