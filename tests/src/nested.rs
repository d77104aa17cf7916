// SPDX-License-Identifier: GPL-2.0

//! A QEMU guest on taps of the driver under test, which is what tun exists
//! for. Inside the test VM, the same `qemu-system-x86_64` boots a second,
//! small guest (the perf kernel and a busybox initramfs made here) with one virtio-net NIC per way QEMU and libvirt
//! attach a tap:
//!
//! 1. `ifname=`, `vhost=on`: QEMU opens the tap, vhost-net moves its packets;
//! 2. `vhost=off`: QEMU's own thread reads and writes the tap;
//! 3. `queues=2`, `mq=on`, `vhost=on`: a multi-queue tap, one vhost-net
//!    device per queue pair, both carrying traffic;
//! 4. `fd=N`, `vhost=on`: the test makes the tap and passes its descriptor,
//!    as libvirt does.
//!
//! Each NIC is its own IPv4 subnet. For each, the inner guest pings the
//! outer side and the outer side pings it back, and two TCP flows each way
//! (one from each inner CPU, so that on the multi-queue NIC they leave by
//! both queues) carry random data whose MD5 both ends compare. One boot
//! serves all four: nested software emulation takes two to three minutes
//! to boot the inner kernel.

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    os::{fd::AsRawFd, unix::fs::PermissionsExt},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver},
    thread,
    time::{Duration, Instant},
};

use crate::{ensure, need_tool, skip, sys::*, tests, vhost::VhostModules, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![qemu_guest_on_taps];

/// One inner NIC: its number `n` (the last byte of its MAC and the third
/// of its subnet, 10.77.n.0/24) and how QEMU attaches its tap.
struct Nic {
    n: u8,
    what: &'static str,
    netdev: &'static str,
    device: &'static str,
}

const NICS: [Nic; 4] = [
    Nic {
        n: 1,
        what: "vhost",
        netdev: "tap,ifname=rtnest1,script=no,downscript=no,vhost=on",
        device: "virtio-net-pci",
    },
    Nic {
        n: 2,
        what: "no vhost",
        netdev: "tap,ifname=rtnest2,script=no,downscript=no,vhost=off",
        device: "virtio-net-pci",
    },
    Nic {
        n: 3,
        what: "2 queues, vhost",
        netdev: "tap,ifname=rtnest3,script=no,downscript=no,vhost=on,queues=2",
        device: "virtio-net-pci,mq=on",
    },
    Nic {
        n: 4,
        what: "fd passed in, vhost",
        netdev: "tap,fd=FD,vhost=on",
        device: "virtio-net-pci",
    },
];

/// The multi-queue NIC, whose both receive queues must have interrupted.
const MQ_NIC: u8 = 3;
/// TCP flows each way per NIC, flow `c` from inner CPU `c % 2`.
const FLOWS: usize = 2;
/// Bytes each flow carries.
const FLOW_BYTES: usize = 1024 * 1024;

/// The outer side's TCP ports for NIC `n`: the inner guest uploads to the
/// first and downloads from the second.
fn ports(n: u8) -> (u16, u16) {
    let base = 7000 + 10 * u16::from(n);
    (base + 1, base + 2)
}

/// The inner guest's `/init`: brings up each NIC from its MAC, then per
/// NIC pings the outer side and moves the flows, printing `RTUN-INNER-`
/// lines for the test to check.
fn init_script() -> String {
    let mut s = String::from(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up
for d in /sys/class/net/eth*; do
	i=${d##*/}
	n=$(( 0x$(cut -d: -f6 "$d/address") ))
	ip addr add 10.77.$n.2/24 dev "$i"
	ip link set "$i" up
	echo "RTUN-INNER-NIC $n $i $(ls -d "$d"/queues/rx-* | wc -l)"
done
echo "RTUN-INNER-UP $(cut -d" " -f1 /proc/uptime)"
nic() { # N UPLOAD-PORT DOWNLOAD-PORT
	ok=fail
	for t in $(seq 30); do
		ping -c 1 -W 2 10.77.$1.1 >/dev/null 2>&1 && { ok=ok; break; }
	done
	echo "RTUN-INNER-PING $1 $ok"
	c=0
	while [ $c -lt FLOWS ]; do
		echo "RTUN-INNER-SENT $1 $c $sum"
		taskset $((1 << (c % 2))) nc -w 30 10.77.$1.1 $2 </tmp/up
		echo "RTUN-INNER-GOT $1 $c $(taskset $((1 << (c % 2))) nc -w 30 10.77.$1.1 $3 </dev/null | md5sum)"
		c=$((c + 1))
	done
}
# One payload for every upload: nested emulation makes random bytes and
# their checksum dear.
dd if=/dev/urandom of=/tmp/up bs=1024 count=FLOW_KIB 2>/dev/null
sum=$(md5sum </tmp/up)
"#,
    )
    .replace("FLOWS", &FLOWS.to_string())
    .replace("FLOW_KIB", &(FLOW_BYTES / 1024).to_string());
    for nic in &NICS {
        let (up, down) = ports(nic.n);
        s += &format!("nic {} {up} {down}\n", nic.n);
    }
    // The multi-queue NIC's receive-queue interrupts, per queue, summed
    // over CPUs.
    s += &format!(
        r#"v=$(basename "$(readlink /sys/class/net/$(for d in /sys/class/net/eth*; do [ "$(cut -d: -f6 $d/address)" = 0{MQ_NIC} ] && echo ${{d##*/}}; done)/device)")
awk -v v="$v-input." 'index($NF, v) == 1 {{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print "RTUN-INNER-IRQ", $NF, s }}' /proc/interrupts
echo RTUN-INNER-DONE
sleep 3600
"#
    );
    s
}

/// Writes the initramfs into `dir` and returns its path.
fn initramfs(dir: &Path) -> Result<String, String> {
    let root = dir.join("root");
    let _ = fs::remove_dir_all(&root);
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(root.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    fs::copy("/usr/bin/busybox", root.join("bin/busybox")).map_err(|e| format!("busybox: {e}"))?;
    let init = root.join("init");
    fs::write(&init, init_script()).map_err(|e| format!("init: {e}"))?;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let image = dir.join("initrd.gz");
    let image = image.to_str().ok_or("temp path")?.to_string();
    let cmd = format!("find . | cpio -o -H newc --quiet | gzip -1 > {image}");
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cpio: {e}"))?;
    ensure!(
        out.status.success(),
        "making the initramfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(image)
}

/// MD5 of `data`, as `md5sum` prints it: a checksum of the payload, which
/// the inner guest computes with busybox.
fn md5(data: &[u8]) -> Result<String, String> {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("md5sum: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("md5sum stdin")?;
    // Written from a thread: md5sum reads all before it writes, but a
    // pipe's buffer is smaller than the data.
    let data = data.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// What the outer side's servers saw: `(nic, flow, md5)` of each upload
/// received and each download sent.
struct Served {
    uploads: Receiver<(u8, usize, String)>,
    downloads: Receiver<(u8, usize, String)>,
}

/// Binds every NIC's two ports (on all addresses: the taps get theirs only
/// once QEMU has made them) and serves `FLOWS` connections on each.
fn serve() -> Result<Served, String> {
    let (up_tx, uploads) = mpsc::channel();
    let (down_tx, downloads) = mpsc::channel();
    for nic in &NICS {
        let n = nic.n;
        let (up, down) = ports(n);
        let bind =
            |port| TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind {port}: {e}"));
        let (l_up, l_down) = (bind(up)?, bind(down)?);
        let up_tx = up_tx.clone();
        thread::spawn(move || {
            for c in 0..FLOWS {
                let Ok((mut s, _)) = l_up.accept() else {
                    return;
                };
                let mut data = Vec::new();
                let _ = s.read_to_end(&mut data);
                let sum = md5(&data).unwrap_or_default();
                if up_tx.send((n, c, sum)).is_err() {
                    return;
                }
            }
        });
        let down_tx = down_tx.clone();
        thread::spawn(move || {
            for c in 0..FLOWS {
                let Ok((mut s, _)) = l_down.accept() else {
                    return;
                };
                let mut data = vec![0u8; FLOW_BYTES];
                let random =
                    fs::File::open("/dev/urandom").and_then(|mut r| r.read_exact(&mut data));
                let sum = if random.is_ok() {
                    md5(&data).unwrap_or_default()
                } else {
                    String::new()
                };
                let _ = s.write_all(&data);
                drop(s);
                if down_tx.send((n, c, sum)).is_err() {
                    return;
                }
            }
        });
    }
    Ok(Served { uploads, downloads })
}

/// Checks that the checksum the inner guest printed (`inner`, as `md5sum`
/// prints it) is that of the flow the outer side's server saw next.
fn same_sum(
    label: &str,
    inner: &str,
    served: &Receiver<(u8, usize, String)>,
    limit: Duration,
) -> TestResult {
    let (_, _, outer) = served
        .recv_timeout(limit)
        .map_err(|_| format!("{label}: the outer side saw no such flow"))?;
    ensure!(
        inner.split_whitespace().next() == Some(outer.as_str()),
        "{label}: {outer} on the outer side, {inner} on the inner"
    );
    Ok(())
}

/// The inner guest: QEMU, killed on drop, and its console's lines.
struct Inner {
    qemu: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

impl Inner {
    /// The next console line starting with `prefix`, within `limit`.
    fn expect(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Err(_) => {
                    let tail = self.seen.len().saturating_sub(15);
                    return Err(format!(
                        "no {prefix:?} from the inner guest within {} s; its console ended: {}",
                        limit.as_secs(),
                        self.seen[tail..].join(" | ")
                    ));
                }
            }
        }
    }
}

/// Waits for `ifname` to exist (QEMU makes it while starting), then gives
/// it NIC `n`'s outer address.
fn address_tap(ifname: &str, n: u8, limit: Duration) -> TestResult {
    let deadline = Instant::now() + limit;
    while !Path::new(&format!("/sys/class/net/{ifname}")).exists() {
        ensure!(
            Instant::now() < deadline,
            "QEMU did not make {ifname} within {} s",
            limit.as_secs()
        );
        thread::sleep(Duration::from_millis(100));
    }
    ip(&["addr", "add", &format!("10.77.{n}.1/24"), "dev", ifname])?;
    ip(&["link", "set", ifname, "up"])?;
    Ok(())
}

fn qemu_guest_on_taps(ctx: &Ctx) -> TestResult {
    need_tool("qemu-system-x86_64")?;
    need_tool("cpio")?;
    let kernel = ctx
        .inner_kernel
        .as_deref()
        .filter(|k| Path::new(k).is_file())
        .ok_or_else(|| skip("no --inner-kernel (the perf kernel's bzImage) given"))?;
    ensure!(
        Path::new("/usr/bin/busybox").is_file(),
        "no /usr/bin/busybox (busybox-static)"
    );
    let _vhost = VhostModules::load(ctx)?;
    let dir = std::env::temp_dir().join("rtun-nested");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let initrd = initramfs(&dir)?;
    let served = serve()?;

    // NIC 4's tap, made here and inherited by QEMU as libvirt passes it.
    let tap = open_tun().map_err(|e| format!("open /dev/net/tun: {e}"))?;
    let mut req = IfReq::default();
    req.name[..8].copy_from_slice(b"rtnest4\0");
    req.flags = (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) as i16;
    ioctl_ptr(&tap, TUNSETIFF, &mut req).map_err(|e| format!("TUNSETIFF: {}", errno_name(e)))?;
    set_inheritable(&tap).map_err(|e| format!("F_SETFD: {}", errno_name(e)))?;
    address_tap("rtnest4", 4, Duration::ZERO)?;

    let mut args: Vec<String> = [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-m",
        "256",
        "-smp",
        "2",
        "-kernel",
        kernel,
        "-initrd",
        &initrd,
        "-append",
        "console=ttyS0 panic=-1 quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // qboot starts a -kernel guest in a fraction of SeaBIOS's time.
    if Path::new("/usr/share/qemu/qboot.rom").is_file() {
        args.extend(["-bios".into(), "/usr/share/qemu/qboot.rom".into()]);
    }
    let fd = tap.as_raw_fd().to_string();
    for nic in &NICS {
        let n = nic.n;
        args.push("-netdev".into());
        args.push(format!("{},id=n{n}", nic.netdev.replace("FD", &fd)));
        args.push("-device".into());
        args.push(format!(
            "{},netdev=n{n},mac=52:54:00:77:00:{n:02x}",
            nic.device
        ));
    }
    let start = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("qemu: {e}"))?;
    drop(tap);
    let (tx, lines) = mpsc::channel();
    for out in [
        qemu.stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        qemu.stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
    }
    let mut inner = Inner {
        qemu,
        lines,
        seen: Vec::new(),
    };
    for n in [1, 2, 3] {
        address_tap(&format!("rtnest{n}"), n, Duration::from_secs(60))?;
    }

    let mut nics = Vec::new();
    for _ in &NICS {
        nics.push(inner.expect("RTUN-INNER-NIC ", Duration::from_secs(300))?);
    }
    // The inner kernel's own count of its boot, beside the wall clock's.
    let uptime = inner.expect("RTUN-INNER-UP ", Duration::from_secs(60))?;
    let booted = start.elapsed().as_secs();
    for line in &nics {
        let f: Vec<&str> = line.split_whitespace().collect();
        let queues = if f.first() == Some(&MQ_NIC.to_string().as_str()) {
            "2"
        } else {
            "1"
        };
        ensure!(
            f.get(2) == Some(&queues),
            "inner NIC {line:?}: expected {queues} receive queues"
        );
    }
    for nic in &NICS {
        let n = nic.n;
        let what = nic.what;
        let ping = inner.expect(&format!("RTUN-INNER-PING {n} "), Duration::from_secs(120))?;
        ensure!(
            ping == "ok",
            "NIC {n} ({what}): the inner guest's ping of 10.77.{n}.1 failed"
        );
        let back = run_tool(
            "busybox",
            &["ping", "-c", "2", "-W", "10", &format!("10.77.{n}.2")],
        )?;
        ensure!(
            back.ok,
            "NIC {n} ({what}): ping of the inner guest failed: {}",
            back.stdout
        );
        // Each flow: the inner guest's line, then the outer server's view
        // (an upload is whole on the outer side only after the inner
        // guest's line; a download before it).
        for c in 0..FLOWS {
            for (way, marker, served, line_limit, served_limit) in [
                ("upload", "SENT", &served.uploads, 120, 180),
                ("download", "GOT", &served.downloads, 180, 10),
            ] {
                let label = format!("NIC {n} ({what}): {way} {c}");
                let marker = format!("RTUN-INNER-{marker} {n} {c} ");
                let sum = inner.expect(&marker, Duration::from_secs(line_limit))?;
                same_sum(&label, &sum, served, Duration::from_secs(served_limit))?;
            }
        }
    }
    for q in 0..2 {
        let irq = inner.expect("RTUN-INNER-IRQ ", Duration::from_secs(60))?;
        let count: u64 = irq
            .split_whitespace()
            .last()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        ensure!(
            count > 0,
            "NIC {MQ_NIC}: receive queue {q} never interrupted ({irq})"
        );
    }
    inner.expect("RTUN-INNER-DONE", Duration::from_secs(60))?;
    println!(
        "inner guest booted in {booted} s (its uptime then {uptime} s); pings and {FLOWS}x{} KiB each way on {} NICs in {} s",
        FLOW_BYTES / 1024,
        NICS.len(),
        start.elapsed().as_secs() - booted
    );
    Ok(())
}
