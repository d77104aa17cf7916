#!/usr/bin/env bash
# Every `unsafe` block and `unsafe impl` in the module is justified by a
# `// SAFETY:` comment at most four lines above it, and every public or
# `extern "C"` `unsafe fn` (trait impls inherit the trait's contract)
# has a `# Safety` section in its documentation (coding-guidelines.rst).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
status=0
for f in *.rs kapi/*.rs; do
	awk -v f="$f" '
		{ line[NR] = $0 }
		/^[[:space:]]*\/\// { next }
		/unsafe (\{|impl)/ {
			ok = 0
			for (i = NR; i >= NR - 4 && i > 0; i--) if (line[i] ~ /SAFETY:/) ok = 1
			if (!ok) { printf "%s:%d: unsafe without // SAFETY: comment\n", f, NR; bad = 1 }
		}
		/pub[^ ]* unsafe fn |unsafe extern "C" fn / {
			ok = 0
			for (i = NR - 1; i > 0 && line[i] ~ /^[[:space:]]*(\/\/\/|#\[)/; i--) if (line[i] ~ /# Safety/) ok = 1
			if (!ok) { printf "%s:%d: unsafe fn without # Safety section\n", f, NR; bad = 1 }
		}
		END { exit bad }
	' "$f" || status=1
done
exit $status
