#!/usr/bin/env python3
"""Check that bindgen's Rust layout of the C structs rtun touches matches C.

    kernel/check-layout.py KDIR SRCDIR STRUCT...

bindgen can get a layout wrong without a word: with the 6.12 debug config
and bindgen 0.73 / libclang 14, `task_struct` loses 16 bytes after the empty
`____cacheline_aligned` `stats` member (CONFIG_SCHEDSTATS=n), so every Rust
read of a later field (`nsproxy`, `pid`, ...) reads the wrong memory. This
compiles `offsetof()` of every named field of each STRUCT in C, against the
same `bindings_helper.h`, and asserts the same offsets in Rust at compile
time, in a scratch out-of-tree build under KDIR. Prints the mismatches and
exits 1 if there are any.
"""
import os, re, subprocess, sys

kdir, srcdir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
# `STRUCT:CFIELD:RUSTFIELD` checks a member of an anonymous union or struct,
# which bindgen names `__bindgen_anon_N`: CFIELD must sit at the offset of
# the Rust field RUSTFIELD (the anonymous aggregate it begins).
# `bits:STRUCT:FIELD:AT:MASK` places a bitfield, which `offsetof` cannot
# name: with FIELD all ones and the rest of STRUCT zero, the byte at member
# AT must be MASK. Rust reads that byte (AT's offset proved by another form)
# and masks it with the same MASK, which it names beside the proof's entry.
bits = [a.split(":")[1:] for a in args if a.startswith("bits:")]
args = [a for a in args if not a.startswith("bits:")]
structs = [a for a in args if ":" not in a]
anon = [a.split(":") for a in args if ":" in a]
RUST_KEYWORDS = {"as", "box", "crate", "dyn", "fn", "gen", "impl", "in", "let", "loop",
                 "match", "mod", "move", "mut", "priv", "pub", "ref", "self", "super",
                 "trait", "type", "unsafe", "use", "where", "yield", "async", "await"}
gen = open(os.path.join(kdir, "rust/bindings/bindings_generated.rs")).read()

fields = {}
for name in structs:
    m = re.search(r"^pub struct %s \{\n(.*?)^\}" % re.escape(name), gen, re.S | re.M)
    if not m:
        sys.exit(f"check-layout: no struct {name} in the bindings")
    fields[name] = [f for f in re.findall(r"^    pub (\w+):", m.group(1), re.M)
                    if not f.startswith(("_bitfield", "__bindgen"))]

# A member nested deeper, `STRUCT:CFIELD:RUST1+TYPE.RUST2`, sits at the sum
# of the offsets: RUST1 in STRUCT (an anonymous aggregate), then RUST2 in
# the bindings type TYPE that aggregate holds (bindgen's `__BindgenUnionField`
# wrappers cannot be named through by `offset_of!`).
def anon_key(cfl, rfl):
    return cfl if "+" in rfl else rfl

def rust_offset(s, rfl):
    terms = []
    for t in rfl.split("+"):
        ty, fl = t.split(".", 1) if "." in t else (s, t)
        terms.append(f"core::mem::offset_of!(bindings::{ty}, {fl})")
    return " + ".join(terms)

def definition(ty):
    m = re.search(r"^pub (?:struct|union) %s \{\n(.*?)^\}" % re.escape(ty), gen, re.S | re.M)
    if not m:
        sys.exit(f"check-layout: no type {ty} in the bindings")
    return dict(re.findall(r"^    pub (\w+): (.+),$", m.group(1), re.M)), m.group(0).startswith("pub union")

def leaf_type(s, rfl):
    """The Rust type of the member a path names, each TYPE in it proved to
    be what the previous member holds: the member's own type, or a view of
    the union that type is (bindgen's `__BindgenUnionField<TYPE>`, at the
    union's start), so that the offsets add up."""
    container, ty = s, None
    for t in rfl.split("+"):
        if "." in t:
            view, fl = t.split(".", 1)
            members, union = definition(ty)
            views = {ty}
            if union or "bindgen_union_field" in members:
                for v in members.values():
                    m = re.fullmatch(r"(?:__BindgenUnionField<)?(\w+)>?", v)
                    views.add(m.group(1) if m else v)
            if view not in views:
                sys.exit(f"check-layout: {view} is not the type of {container}'s member, nor a view of its union")
            container = view
        else:
            fl = t
        members, _ = definition(container)
        if fl not in members:
            sys.exit(f"check-layout: no member {fl} in {container}")
        ty = members[fl]
    return ty

work = os.path.join(kdir, ".rtun-layout")
os.makedirs(work, exist_ok=True)
with open(os.path.join(work, "Kbuild"), "w") as f:
    f.write("obj-m := layout_c.o layout_rs.o\n")
with open(os.path.join(work, "layout_c.c"), "w") as f:
    f.write('#include "%s/rust/bindings/bindings_helper.h"\n#include <linux/module.h>\n' % srcdir)
    for s, fs in fields.items():
        for fl in fs:
            # bindgen appends `_` to C names that are Rust keywords.
            cfl = fl[:-1] if fl.endswith("_") and fl[:-1] in RUST_KEYWORDS else fl
            f.write(f"unsigned long oc_{s}__{fl} = offsetof(struct {s}, {cfl});\n")
    for s, cfl, rfl in anon:
        f.write(f"unsigned long oc_{s}__{anon_key(cfl, rfl)} = offsetof(struct {s}, {cfl});\n")
        if "+" in rfl:
            f.write(f"unsigned long fs_{s}__{cfl} = sizeof(((struct {s} *)0)->{cfl});\n")
    # Sizes too: rtun places some of these on its stack or in its own
    # allocations, where C writes all of them.
    for s in fields:
        f.write(f"unsigned long sz_{s} = sizeof(struct {s});\n")
    # The byte is a constant the compiler folds the function to: the
    # assembly below shows it as the value loaded into the return register.
    for s, fl, at, _ in bits:
        f.write(f"unsigned long bm_{s}__{fl}(void)\n{{\n"
                f"\tunion {{ struct {s} s; unsigned char b[sizeof(struct {s})]; }} u;\n"
                f"\t__builtin_memset(&u, 0, sizeof(u));\n\tu.s.{fl}--;\n"
                f"\treturn u.b[offsetof(struct {s}, {at})];\n}}\n")
    f.write('MODULE_LICENSE("GPL");\n')

make = ["make", "-s", "-C", kdir, f"M={work}", "LLVM=1", "RUSTC=/usr/bin/rustc"]
r = subprocess.run(make + ["layout_c.s"], capture_output=True, text=True)
if r.returncode:
    sys.exit("check-layout: compiling the C side failed:\n" + r.stderr[-3000:])
asm = open(os.path.join(work, "layout_c.s")).read()
def constants(prefix):
    """The `unsigned long` constants named PREFIX_*: a `.quad`, or for 0 a
    `.zero` (in .bss; with KASAN, padded by its redzone)."""
    return {m.group(1): int(m.group(2) or 0)
            for m in re.finditer(r"^%s_(\w+):\n\s+(?:\.quad\s+(\d+)|\.zero\s+\d+)" % prefix, asm, re.M)}
c_off, c_size, c_fsize = constants("oc"), constants("sz"), constants("fs")
bad_bits = []
for s, fl, at, mask in bits:
    body = re.search(r"^bm_%s__%s:[^\n]*\n(.*?)^\s+(?:ret|jmp\s+__x86_return_thunk)" % (s, fl), asm, re.S | re.M)
    if not body:
        sys.exit(f"check-layout: no function bm_{s}__{fl} in the C side's assembly")
    m = re.search(r"^\s+mov[lq]?\s+\$(-?\d+), %[er]ax$", body.group(1), re.M)
    if not m and not re.search(r"^\s+xorl\s+%eax, %eax$", body.group(1), re.M):
        sys.exit(f"check-layout: the compiler did not fold bm_{s}__{fl} to a constant:\n{body.group(1)}")
    got = int(m.group(1)) if m else 0
    if got != int(mask, 0):
        bad_bits.append(f"{s}.{fl} bits {mask} C={got:#x}")

with open(os.path.join(work, "layout_rs.rs"), "w") as f:
    f.write("//! Layout check.\nuse kernel::{bindings, prelude::*};\n"
            'module! { type: M, name: "layout_rs", license: "GPL", }\n'
            "struct M;\nimpl kernel::Module for M {\n"
            "    fn init(_m: &'static ThisModule) -> Result<Self> { Ok(M) }\n}\n")
    paths = {f"{s}__{anon_key(cfl, rfl)}": rust_offset(s, rfl) for s, cfl, rfl in anon}
    for key, off in c_off.items():
        s, fl = key.split("__", 1)
        expr = paths.get(key, f"core::mem::offset_of!(bindings::{s}, {fl})")
        f.write(f'const _: () = assert!({expr} == {off}, "MISMATCH {s}.{fl} C={off}");\n')
    for s, size in c_size.items():
        f.write(f'const _: () = assert!(core::mem::size_of::<bindings::{s}>() == {size}, "MISMATCH sizeof({s}) C={size}");\n')
    # A nested member's size as well as its offset: the path's types are
    # proved by `leaf_type`, and the member it ends in must be as wide as C's.
    # `core::ffi` for bindgen's `ffi::c_int` and kin: the bindings' own
    # `ffi` crate is not one the scratch module names.
    f.write("#[allow(unused_imports)]\nmod nested {\n    use kernel::bindings::*;\n    use core::ffi;\n")
    for s, cfl, rfl in anon:
        if "+" in rfl:
            size = c_fsize[f"{s}__{cfl}"]
            f.write(f'    const _: () = assert!(core::mem::size_of::<{leaf_type(s, rfl)}>() == {size}, '
                    f'"MISMATCH sizeof({s}.{cfl}) C={size}");\n')
    f.write("}\n")
r = subprocess.run(make + ["modules"], capture_output=True, text=True)
bad = sorted(set(re.findall(r"MISMATCH (\S+ C=\d+)", r.stderr))) + bad_bits
if bad:
    print("check-layout: bindgen's layout differs from C (first differing fields):")
    for b in bad[:20]:
        print("  " + b)
    sys.exit(1)
if r.returncode:
    sys.exit("check-layout: building the Rust side failed:\n" + r.stderr[-3000:])
print(f"check-layout: sizes, {len(bits)} bitfields and {len(c_off)} fields of {len(set(structs) | {s for s, _, _ in anon})} structs agree")
