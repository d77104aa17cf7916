#!/usr/bin/env python3
"""The icount plugin's report for `./dev bench`.

Joins the guest's `ICOUNT SEQ CASE DRIVER PACKETS SECONDS [FRAMES]` lines
with the plugin's `mark SEQ ...` lines by SEQ and prints instructions per
packet (per frame where the line has FRAMES: the TCP cases, whose packets
are segments that TCP packs into frames as its timing has it); with
an OUT prefix, also writes every window to OUT.csv and charts each case's
rtun/tun ratios (packets per second and kernel instructions per packet: median,
lowest and highest sample) in OUT.png with gnuplot. With a CASE and a DIR,
the plugin's `prof` lines of that case's windows by kernel function instead,
named from the guest's /proc/kallsyms saved in DIR.

    qemu/icount/report.py GUEST-OUTPUT PLUGIN-OUTPUT [OUT]
    qemu/icount/report.py GUEST-OUTPUT PLUGIN-OUTPUT CASE DIR [FUNCTION]

With a FUNCTION (parts of demangled names, `|`-separated), each matching function's
translation blocks too: offset into the function and instructions per
packet, to read beside its disassembly (`objdump -d` of the module).
"""
import bisect, collections, glob, os, re, statistics, subprocess, sys

guest, plugin = sys.argv[1:3]
case = sys.argv[3] if len(sys.argv) in (5, 6) else None
annotate = sys.argv[5] if len(sys.argv) == 6 else None
out = sys.argv[3] if len(sys.argv) == 4 else None
windows, marks, prof = {}, {}, collections.defaultdict(list)
secs = {}
for line in open(guest, errors="replace"):
    f = line.split()
    if len(f) in (5, 6, 7) and f[0] == "ICOUNT" and int(f[4]) > 0:
        # Case, driver, packets, and what instructions are counted per:
        # FRAMES where given, else the packets.
        windows[int(f[1])] = (f[2], f[3], int(f[4]), int(f[6]) if len(f) == 7 else int(f[4]))
        if len(f) >= 6:
            secs[int(f[1])] = float(f[5])
for line in open(plugin):
    f = line.split()
    if f[0] == "mark":
        marks[int(f[1])] = (int(f[3]), int(f[5]))
    elif f[0] == "prof":
        prof[int(f[1])].append((int(f[2], 16), int(f[3])))
if not set(windows) <= set(marks):
    sys.exit(f"dev: the guest reported windows the icount plugin did not count ({len(windows)} and {len(marks)})")

# Each case's and driver's windows in order: packets per second (NaN
# without the seconds), instructions per packet in all and in the kernel.
per = collections.defaultdict(list)
for seq, (c, driver, packets, u) in sorted(windows.items()):
    total, kernel = marks[seq]
    t = secs.get(seq)
    per[c, driver].append((packets / t if t else float("nan"), total / u, kernel / u))


def chart(out):
    """OUT.csv, every window; OUT.png, each case's ratios by sample."""
    with open(out + ".csv", "w") as csv:
        csv.write("seq,case,driver,packets,seconds,pps,insn_total,insn_kernel,insn_per\n")
        for seq, (c, driver, packets, u) in sorted(windows.items()):
            total, kernel = marks[seq]
            t = secs.get(seq, float("nan"))
            csv.write(f"{seq},{c},{driver},{packets},{t},{packets / t if t else 0:.1f},"
                      f"{total / u:.1f},{kernel / u:.1f},{u}\n")
    # The i-th rtun sample of a case against the i-th tun sample: the
    # drivers alternate in one boot, so those saw the same machine state.
    rows = []
    for c in dict.fromkeys(c for c, _ in per):
        pairs = list(zip(per[c, "tun"], per[c, "rtun"]))
        if not pairs:
            continue
        pps = [r[0] / t[0] for t, r in pairs]
        # Kernel instructions: what the drivers change (vhost's totals are
        # mostly its test program's own polling).
        insn = [r[2] / t[2] for t, r in pairs]
        rows.append((c, statistics.median(pps), min(pps), max(pps),
                     statistics.median(insn), min(insn), max(insn)))
    # Columns: x, case, then yerrorbars' y, ylow, yhigh twice; a window
    # without its seconds (an older guest) has no rate: gnuplot's "?".
    data = "\n".join(f"{i} {c} " + " ".join("?" if v != v else f"{v:.4f}" for v in rest)
                     for i, (c, *rest) in enumerate(rows))
    script = f"""
set terminal png size 960,720
set output '{out}.png'
set multiplot layout 2,1 title 'rtun.ko / tun.ko, medians with the lowest and highest sample'
set grid ytics
set xtics rotate by -25
set bmargin 4
set xrange [-0.6:{len(rows) - 0.4}]
set arrow from -0.6,1 to {len(rows) - 0.4},1 nohead dt 2 front
set ylabel 'packets/s (higher: rtun faster)'
plot '-' using 1:3:4:5:xtic(2) with yerrorbars pt 7 ps 1.5 lw 2 notitle
{data}
e
set ylabel 'kernel instructions/packet (lower: rtun less)'
plot '-' using 1:6:7:8:xtic(2) with yerrorbars pt 7 ps 1.5 lw 2 notitle
{data}
e
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print(f"(every window in {out}.csv, the ratios charted in {out}.png)")


if case is None:
    med = lambda c, d, i: statistics.median(x[i] for x in per[c, d])
    print(f"{'case (insn/pkt)':<17} {'tun total':>10} {'rtun total':>10} {'rtun/tun':>8}"
          f" {'tun kernel':>10} {'rtun kernel':>11} {'rtun/tun':>8}")
    for c in dict.fromkeys(c for c, _ in per):
        if not per[c, "tun"] or not per[c, "rtun"]:
            continue
        t, r, tk, rk = med(c, "tun", 1), med(c, "rtun", 1), med(c, "tun", 2), med(c, "rtun", 2)
        print(f"{c:<17} {t:>10.0f} {r:>10.0f} {r / t:>8.3f} {tk:>10.0f} {rk:>11.0f} {rk / tk:>8.3f}")
    print("(instructions per packet, all vCPUs, medians; kernel: at kernel addresses;"
          " vhost's totals are mostly vhost_net_test's own polling and checking;"
          " tcp*: per forwarded frame)")
    if out:
        chart(out)
    sys.exit(0)

# Module addresses change from one load to the next: each window's names
# come from the kallsyms saved after it, during the same load.
saved = sorted(int(p.rsplit(".", 1)[1]) for p in glob.glob(os.path.join(sys.argv[4], "kallsyms.*")))
tables = {}
def symbols(k):
    if k not in tables:
        syms = []
        for line in open(os.path.join(sys.argv[4], f"kallsyms.{k}")):
            f = line.split()
            if len(f) >= 3 and f[1] in ("t", "T", "w", "W"):
                syms.append((int(f[0], 16), f[2] + (" " + f[3] if len(f) > 3 else "")))
        syms.sort()
        tables[k] = ([a for a, _ in syms], [n for _, n in syms])
    return tables[k]

counts = {d: collections.Counter() for d in ("tun", "rtun")}
# Per translation block: (driver, function, offset) -> instructions.
blocks = collections.Counter()
packets = collections.Counter()
for seq, (c, driver, _, u) in windows.items():
    if c != case:
        continue
    addrs, names = symbols(saved[bisect.bisect_left(saved, seq)])
    packets[driver] += u
    for pc, count in prof[seq]:
        i = bisect.bisect_right(addrs, pc) - 1
        counts[driver][names[i] if i >= 0 else f"{pc:x}"] += count
        if annotate and i >= 0:
            blocks[driver, names[i], pc - addrs[i]] += count
if not packets["tun"] or not packets["rtun"]:
    sys.exit(f"dev: no {case} windows for both drivers")
# Rust symbols, v0-mangled, through binutils' demangler, crate hashes dropped.
mangled = sorted({n for d in counts.values() for n in d})
plain = subprocess.run(["c++filt", "-s", "rust"], input="\n".join(mangled), capture_output=True,
                       text=True, check=True).stdout.split("\n")
plain = dict(zip(mangled, (re.sub(r"\[[0-9a-f]{16}\]", "", p) for p in plain)))
top = {d: [(plain[n], v / packets[d]) for n, v in counts[d].most_common(30)] for d in counts}
width = 54
print(f"{case}: kernel instructions per packet by function")
print(f"{'tun.ko':>8} {'':<{width}} {'rtun.ko':>8}")
rows = max(len(t) for t in top.values())
for d in counts:
    top[d] += [("", None)] * (rows - len(top[d]))
for (tn, tv), (rn, rv) in zip(top["tun"], top["rtun"]):
    cut = lambda s: s if len(s) <= width else s[:width - 1] + "~"
    left = f"{tv:>8.1f} {cut(tn):<{width}}" if tv is not None else " " * (width + 9)
    print((f"{left} {rv:>8.1f} {cut(rn)}" if rv is not None else left).rstrip())
print(f"{sum(counts['tun'].values()) / packets['tun']:>8.1f} {'(all kernel code)':<{width}}"
      f" {sum(counts['rtun'].values()) / packets['rtun']:>8.1f} (all kernel code)")
# Every function whose share differs, by how much: the drivers' own code and
# what it calls in C, named, so that the difference in the total has names.
per_pkt = {d: {plain[n]: v / packets[d] for n, v in counts[d].items()} for d in counts}
diff = {n: per_pkt["rtun"].get(n, 0.0) - per_pkt["tun"].get(n, 0.0)
        for n in set(per_pkt["tun"]) | set(per_pkt["rtun"])}
print(f"\n{case}: where they differ, rtun.ko minus tun.ko, per packet (|diff| >= 1)")
for n, d in sorted(diff.items(), key=lambda kv: -abs(kv[1])):
    if abs(d) >= 1.0:
        print(f"{d:>+8.1f} {n}  (tun {per_pkt['tun'].get(n, 0.0):.1f}, rtun {per_pkt['rtun'].get(n, 0.0):.1f})")
if annotate:
    for d in counts:
        for n in sorted({n for (bd, n, _) in blocks if bd == d and any(a in plain[n] for a in annotate.split("|"))}):
            total = sum(v for (bd, bn, _), v in blocks.items() if (bd, bn) == (d, n))
            print(f"\n{d}: {plain[n]}: {total / packets[d]:.1f} per packet, by block (offset: instructions per packet)")
            for (bd, bn, off), v in sorted(blocks.items(), key=lambda kv: kv[0][2]):
                if (bd, bn) == (d, n) and v / packets[d] >= 0.05:
                    print(f"  +{off:#06x} {v / packets[d]:8.2f}")
