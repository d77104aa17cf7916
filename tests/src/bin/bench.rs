// SPDX-License-Identifier: GPL-2.0

//! rtun vs tun.ko throughput, in one guest boot (see `./dev bench`).
//!
//!   bench TUN.KO RTUN.KO SAMPLES [VHOST_NET_TEST VHOST_MODULE_DIR]
//!
//! For each sample, loads tun.ko, measures every case, unloads it, then
//! does the same with rtun.ko, so that both see the same machine state in
//! turn; a first round of both, not kept, warms the machine up. Prints
//! per-case medians (packets per second) and rtun/tun.
//!
//! Cases: `write-64`/`write-1500`: packets written into a TUN device and
//! dropped by the stack (not for this host, forwarding off);
//! `read-64`/`read-1500`: packets the stack sends through the device, read
//! back, in bursts of 256 (below the 500-packet ring); `vhost-rx`/`vhost-tx`
//! (buffers per second, not packets): the kernel's `vhost_net_test` driving
//! a tap queue through vhost-net each way.
//!
//! Each case's measured part is a window marked for the icount QEMU plugin
//! (`qemu/icount/`, loaded by `./dev bench`), which counts the instructions
//! the guest runs in it; after each window this prints
//! `ICOUNT SEQ CASE DRIVER PACKETS SECONDS` (SEQ counts windows from 1, as the
//! plugin counts its lines) for the host to join with them. Without the
//! plugin the markers are NOPs.
//!
//! `RTUN_BENCH_CASE=CASE` measures only that case (both vhost cases come
//! from one run), for profiles; `RTUN_BENCH_KALLSYMS=DIR` saves
//! `/proc/kallsyms`, module symbols included, as `DIR/kallsyms.SEQ` after
//! each driver's last window SEQ, for the host to name profiled addresses.

#[path = "../icount.rs"]
mod icount;
#[path = "../packet.rs"]
#[allow(dead_code)]
mod packet;
#[path = "../sys.rs"]
#[allow(dead_code)]
mod sys;

use std::{
    fs::File,
    io::{Read, Write},
    net::UdpSocket,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

const CASE_TIME: Duration = Duration::from_millis(300);

/// Long enough for deferred work (RCU callbacks, the freeing after a
/// device's teardown) to run, a few grace periods at HZ=250.
const SETTLE: Duration = Duration::from_millis(50);

fn udp_packet(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
    let payload = len - 28;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = packet::csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39]);
    p.extend_from_slice(&((payload + 8) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.resize(len, 0x5a);
    p
}

/// One measured case: packets (buffers for vhost) and seconds.
#[derive(Clone, Copy)]
struct Run {
    packets: u64,
    secs: f64,
}

/// Off in the warm-up round, whose windows the host must not see.
static MARKING: AtomicBool = AtomicBool::new(false);

/// The measured part of a case: timed, and marked for the icount plugin.
/// Outside the timed part, a window lets the work left by what came before
/// settle before it starts, and its own before it stops, so that each
/// window counts its own packets' deferred work and no one else's.
struct Window(Instant);

impl Window {
    fn start() -> Self {
        std::thread::sleep(SETTLE);
        Self::start_now()
    }

    fn start_now() -> Self {
        if MARKING.load(Ordering::Relaxed) {
            icount::mark_start();
        }
        Window(Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    fn stop(self, packets: u64) -> Run {
        let secs = self.0.elapsed().as_secs_f64();
        std::thread::sleep(SETTLE);
        Self::mark_stop();
        Run { packets, secs }
    }

    fn stop_now(self, packets: u64) -> Run {
        let secs = self.0.elapsed().as_secs_f64();
        Self::mark_stop();
        Run { packets, secs }
    }

    fn mark_stop() {
        if MARKING.load(Ordering::Relaxed) {
            icount::mark_stop();
        }
    }
}

fn setup() -> Result<File, String> {
    let (f, name) = sys::tun_create("rtbench", sys::IFF_TUN | sys::IFF_NO_PI)?;
    sys::ip(&[
        "addr",
        "add",
        "10.98.0.1",
        "peer",
        "10.98.0.2",
        "dev",
        &name,
    ])?;
    sys::ip(&["link", "set", &name, "up"])?;
    Ok(f)
}

/// Packets written into the device.
fn write_pps(f: &mut File, len: usize) -> Run {
    let pkt = udp_packet([10, 98, 0, 2], [10, 99, 99, 99], len);
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        for _ in 0..64 {
            if f.write(&pkt).is_ok() {
                n += 1;
            }
        }
    }
    w.stop(n)
}

/// Packets sent by the stack and read from the device.
fn read_pps(f: &mut File, len: usize) -> Result<Run, String> {
    let sock = UdpSocket::bind("10.98.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let payload = vec![0x5au8; len - 28];
    let mut buf = vec![0u8; 2048];
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        for _ in 0..256 {
            let _ = sock.send_to(&payload, "10.98.0.2:9");
        }
        for _ in 0..256 {
            if sys::poll1(f, libc::POLLIN, 0) & libc::POLLIN == 0 {
                break;
            }
            if f.read(&mut buf).is_ok() {
                n += 1;
            }
        }
    }
    Ok(w.stop(n))
}

const CASES: [&str; 12] = [
    "write-64",
    "write-1500",
    "read-64",
    "read-1500",
    "napi-write-64",
    "mq1-write-64",
    "mq4-write-64",
    "read-64-lossless",
    "create-destroy",
    "mq4-create-destroy",
    "vhost-rx",
    "vhost-tx",
];

/// Buffers each way per `vhost_net_test` sample.
const VHOST_BUFS: u32 = 10000;

/// Where the kernel's `vhost_net_test` and vhost's modules are.
struct VhostBench {
    test: String,
    modules: String,
}

/// Buffers each way through vhost-net, from the kernel's own
/// `vhost_net_test`: it runs its RX test (packets sent out of the tap into
/// the guest's ring), then its TX test (the other way), printing a line as
/// each completes; line-buffered, the lines' arrivals split the run into
/// two windows (the first with the process's start and set-up), back to
/// back and without settling, so that no work falls between them.
fn vhost_bps(v: &VhostBench) -> Result<(Run, Run), String> {
    for m in ["vhost_iotlb", "vhost", "vhost_net"] {
        sys::insmod(&format!("{}/{m}.ko", v.modules))
            .map_err(|e| format!("insmod {m}.ko: {}", sys::errno_name(e)))?;
    }
    let mut w = Some(Window::start());
    let mut child = std::process::Command::new("stdbuf")
        .args(["-oL", &v.test, "--buf-num", &VHOST_BUFS.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", v.test))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut runs = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        if line.map_err(|e| e.to_string())?.contains("completed=") {
            if let Some(done) = w.take() {
                runs.push(done.stop_now(VHOST_BUFS.into()));
                if runs.len() == 1 {
                    w = Some(Window::start_now());
                }
            }
        }
    }
    let ok = child.wait().map_err(|e| e.to_string())?.success();
    for m in ["vhost_net", "vhost", "vhost_iotlb"] {
        while sys::rmmod(m) == Err(libc::EAGAIN) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if !ok || runs.len() != 2 {
        return Err(format!(
            "vhost_net_test failed ({} phases done)",
            runs.len()
        ));
    }
    Ok((runs[0], runs[1]))
}

/// Packets written by `queues` threads, one per queue of a multi-queue
/// device. The threads hand their queues back: the last close tears the
/// device down, which is not this window's work.
fn mq_write_pps(queues: usize) -> Result<Run, String> {
    let flags = sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE;
    let files: Vec<File> = (0..queues)
        .map(|_| sys::tun_create("rtbenchmq", flags).map(|(f, _)| f))
        .collect::<Result<_, _>>()?;
    sys::ip(&["link", "set", "rtbenchmq", "up"])?;
    let w = Window::start();
    let start = w.0;
    let threads: Vec<_> = files
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            std::thread::spawn(move || {
                let pkt = udp_packet([10, 97, 0, i as u8 + 2], [10, 99, 99, 99], 64);
                let mut n = 0u64;
                while start.elapsed() < CASE_TIME {
                    for _ in 0..64 {
                        if f.write(&pkt).is_ok() {
                            n += 1;
                        }
                    }
                }
                (n, f)
            })
        })
        .collect();
    let mut total = 0;
    let mut files = Vec::new();
    for t in threads {
        let (n, f) = t.join().map_err(|_| "a writer thread panicked")?;
        total += n;
        files.push(f);
    }
    let run = w.stop(total);
    drop(files);
    Ok(run)
}

/// Control plane: device lifetimes per second, each `queues` files
/// opened and attached with `TUNSETIFF` (the first creates the device),
/// the device brought up, then every file closed (the last close destroys
/// it). The window's "packets" are whole cycles; each cycle's teardown
/// ends before the next starts, since the next reuses the name.
fn create_destroy(queues: usize) -> Result<Run, String> {
    let flags = if queues > 1 {
        sys::IFF_TAP | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE
    } else {
        sys::IFF_TAP | sys::IFF_NO_PI
    };
    let sock = sys::inet_socket().ok_or("socket")?;
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        let files: Vec<File> = (0..queues)
            .map(|_| sys::tun_create("rtbenchcd", flags).map(|(f, _)| f))
            .collect::<Result<_, _>>()?;
        sys::set_up(&sock, "rtbenchcd", true).map_err(|e| format!("up: {}", sys::errno_name(e)))?;
        drop(files);
        n += 1;
    }
    Ok(w.stop(n))
}

/// Every case (or `only`), in window order.
fn measure(
    only: Option<&str>,
    vhost: Option<&VhostBench>,
) -> Result<Vec<(&'static str, Run)>, String> {
    let want = |case: &str| only.is_none_or(|o| o == case);
    let mut runs = Vec::new();
    let mut f = setup()?;
    // Let IPv6 autoconfiguration chatter pass before reading.
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 2048];
    while sys::poll1(&f, libc::POLLIN, 0) & libc::POLLIN != 0 {
        let _ = f.read(&mut buf);
    }
    for (case, len) in [("write-64", 64), ("write-1500", 1500)] {
        if want(case) {
            runs.push((case, write_pps(&mut f, len)));
        }
    }
    for (case, len) in [("read-64", 64), ("read-1500", 1500)] {
        if want(case) {
            runs.push((case, read_pps(&mut f, len)?));
        }
    }
    drop(f);
    if want("napi-write-64") {
        let (mut f, name) =
            sys::tun_create("rtbenchnapi", sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_NAPI)?;
        sys::ip(&["link", "set", &name, "up"])?;
        runs.push(("napi-write-64", write_pps(&mut f, 64)));
    }
    for (case, queues) in [("mq1-write-64", 1), ("mq4-write-64", 4)] {
        if want(case) {
            runs.push((case, mq_write_pps(queues)?));
        }
    }
    // rtun's lossless mode, where the driver has it (tun.ko does not: there
    // this repeats read-64).
    if want("read-64-lossless") {
        let mut f = setup()?;
        let _ = std::fs::write("/sys/class/net/rtbench/rtun_lossless", "1");
        runs.push(("read-64-lossless", read_pps(&mut f, 64)?));
    }
    for (case, queues) in [("create-destroy", 1), ("mq4-create-destroy", 4)] {
        if want(case) {
            runs.push((case, create_destroy(queues)?));
        }
    }
    if let Some(v) = vhost.filter(|_| want("vhost-rx") || want("vhost-tx")) {
        let (rx, tx) = vhost_bps(v)?;
        runs.push(("vhost-rx", rx));
        runs.push(("vhost-tx", tx));
    }
    Ok(runs)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 && args.len() != 6 {
        eprintln!("usage: bench TUN.KO RTUN.KO SAMPLES [VHOST_NET_TEST VHOST_MODULE_DIR]");
        std::process::exit(2);
    }
    let vhost = (args.len() == 6).then(|| VhostBench {
        test: args[4].clone(),
        modules: args[5].clone(),
    });
    let samples: usize = args[3].parse().unwrap_or(10);
    let only = std::env::var("RTUN_BENCH_CASE").ok();
    if let Some(o) = only.as_deref().filter(|o| !CASES.contains(o)) {
        eprintln!("bench: no case {o}; the cases: {}", CASES.join(" "));
        std::process::exit(2);
    }
    let kallsyms = std::env::var("RTUN_BENCH_KALLSYMS").ok();
    // glibc takes a shorter path through every system call until a process
    // first has a second thread (the multi-queue cases start some): one
    // now, so that every window runs the same user code.
    let _ = std::thread::spawn(|| {}).join();
    let mut seq = 0;
    let drivers = [("tun", &args[1]), ("rtun", &args[2])];
    let mut results = vec![vec![Vec::new(); CASES.len()]; 2];
    // Round 0 warms up, unmarked and not kept: for the first few windows
    // after boot the page allocator's per-CPU lists are still growing to
    // the load, at up to 1.5% more kernel instructions per packet.
    for s in 0..=samples {
        MARKING.store(s > 0, Ordering::Relaxed);
        for (d, (name, ko)) in drivers.iter().enumerate() {
            if let Err(e) = sys::insmod(ko) {
                eprintln!("bench: insmod {ko}: {}", sys::errno_name(e));
                std::process::exit(1);
            }
            match measure(only.as_deref(), vhost.as_ref()) {
                Ok(_) if s == 0 => {}
                Ok(runs) => {
                    for (case, run) in runs {
                        seq += 1;
                        println!("ICOUNT {seq} {case} {name} {} {:.6}", run.packets, run.secs);
                        let c = CASES.iter().position(|&n| n == case).unwrap_or(0);
                        results[d][c].push(run.packets as f64 / run.secs);
                    }
                }
                Err(e) => {
                    eprintln!("bench: {name}: {e}");
                    std::process::exit(1);
                }
            }
            if let Some(dir) = kallsyms.as_ref().filter(|_| s > 0) {
                // Read, not copied: procfs reports a size of 0.
                let saved = std::fs::read("/proc/kallsyms")
                    .and_then(|k| std::fs::write(format!("{dir}/kallsyms.{seq}"), k));
                if let Err(e) = saved {
                    eprintln!("bench: saving /proc/kallsyms in {dir}: {e}");
                    std::process::exit(1);
                }
            }
            // The device goes with its file; wait for its teardown.
            std::thread::sleep(Duration::from_millis(20));
            while sys::rmmod(name).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if s == 0 {
            eprintln!("bench: warmed up");
        } else {
            eprintln!("bench: sample {s}/{samples}");
        }
    }
    println!(
        "{:<12} {:>14} {:>14} {:>10}",
        "case (pps)", "tun.ko", "rtun.ko", "rtun/tun"
    );
    for (c, case) in CASES.iter().enumerate() {
        if results[0][c].is_empty() {
            continue;
        }
        let t = median(&mut results[0][c]);
        let r = median(&mut results[1][c]);
        println!("{case:<12} {t:>14.0} {r:>14.0} {:>10.3}", r / t);
    }
    let lossless = median(&mut results[1][6]) / median(&mut results[1][2]);
    if !lossless.is_nan() {
        println!("rtun read-64 lossless/default: {lossless:.3}");
    }
    println!("({samples} samples per driver, medians, alternating loads in one boot)");
}
