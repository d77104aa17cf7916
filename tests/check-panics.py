#!/usr/bin/env python3
"""No panic in rtun's own code: every call into Rust's panic machinery that
the built module holds must come from the kernel crate, not from a source
file of this repository.

    tests/check-panics.py RTUN.KO

Overflow checks are on in the kernel's Rust, so an arithmetic overflow, an
out-of-bounds index or an `unwrap` of `None` is a call to a `core` panic
function with a `core::panic::Location` (file, line, column) in `.rodata`
as an argument. This finds each such call in the module's disassembly, the
Location loaded just before it, and the file name that Location's
relocation points to, and prints the sites whose file is rtun's (what is
left is the kernel crate's own code, inlined: `Vec::push`'s length
arithmetic, unreachable by its invariants). Exits 1 if there are any.
"""
import re, subprocess, sys

ko = sys.argv[1]


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def section(name):
    """The bytes of section NAME, from `readelf -x`."""
    data = bytearray()
    for line in run("readelf", "-x", name, ko).splitlines():
        m = re.match(r"\s+0x[0-9a-f]+\s+((?:[0-9a-f]{2,8} ){1,4})", line + " ")
        if m:
            for word in m.group(1).split():
                data += bytes.fromhex(word)
    return data


# .rela.rodata: a Location's file pointer is a relocation to the strings.
relocs, current = {}, None
for line in run("readelf", "-rW", ko).splitlines():
    if line.startswith("Relocation section"):
        current = line.split("'")[1]
        continue
    f = line.split()
    if current == ".rela.rodata" and len(f) >= 7 and re.fullmatch(r"[0-9a-f]+", f[0]):
        relocs[int(f[0], 16)] = (f[4], int(f[6], 16))
rodata = section(".rodata")
strings = {}


def location(off):
    """`(file, line, column)` of the Location at .rodata+OFF, or None."""
    target = relocs.get(off)
    if not target or not target[0].startswith(".rodata.str"):
        return None
    if target[0] not in strings:
        strings[target[0]] = section(target[0])
    length = int.from_bytes(rodata[off + 8:off + 16], "little")
    line = int.from_bytes(rodata[off + 16:off + 20], "little")
    col = int.from_bytes(rodata[off + 20:off + 24], "little")
    name = bytes(strings[target[0]][target[1]:target[1] + length]).decode(errors="replace")
    return name, line, col


PANICS = re.compile(r"panicking|unwrap_failed|expect_failed|slice_(start|end)_index|"
                    r"slice_index_order|len_mismatch_fail")
dis = run("objdump", "-drC", "--no-show-raw-insn", ko).splitlines()
ours, theirs, unknown = [], 0, []
function = "?"
for i, line in enumerate(dis):
    m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
    if m:
        function = m.group(1)
        continue
    if "R_X86_64_PLT32" not in line or not PANICS.search(line):
        continue
    # The Location is an argument, loaded a few instructions before.
    found = None
    for back in dis[max(0, i - 12):i][::-1]:
        m = re.search(r"R_X86_64_32S?\s+\.rodata\+0x([0-9a-f]+)", back)
        if m and (found := location(int(m.group(1), 16))):
            break
    if not found:
        unknown.append(function)
    elif "/rust/kernel/" in found[0] or found[0].startswith("rust/kernel/"):
        theirs += 1
    else:
        ours.append(f"{found[0]}:{found[1]}:{found[2]}  in {function}")
for site in sorted(set(ours)):
    print(f"panic site: {site}")
for f in sorted(set(unknown)):
    print(f"panic call without a Location found: in {f}")
if ours or unknown:
    sys.exit(1)
print(f"check-panics: no panic site in rtun's code ({theirs} in the kernel crate's, inlined)")
