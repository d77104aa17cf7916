// SPDX-License-Identifier: GPL-2.0

//! rtun vs tun.ko throughput, in one guest boot (see `./dev bench`).
//!
//!   bench TUN.KO RTUN.KO SAMPLES [VHOST_NET_TEST VHOST_MODULE_DIR]
//!
//! For each sample, loads tun.ko, measures every case, unloads it, then
//! does the same with rtun.ko, so that both see the same machine state in
//! turn. Prints per-case medians (packets per second) and rtun/tun.
//!
//! Cases: `write-64`/`write-1500`: packets written into a TUN device and
//! dropped by the stack (not for this host, forwarding off);
//! `read-64`/`read-1500`: packets the stack sends through the device, read
//! back, in bursts of 256 (below the 500-packet ring); `vhost-rx`/`vhost-tx`
//! (buffers per second, not packets): the kernel's `vhost_net_test` driving
//! a tap queue through vhost-net each way.

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
    time::{Duration, Instant},
};

const CASE_TIME: Duration = Duration::from_millis(300);

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

/// Packets per second written into the device.
fn write_pps(f: &mut File, len: usize) -> f64 {
    let pkt = udp_packet([10, 98, 0, 2], [10, 99, 99, 99], len);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < CASE_TIME {
        for _ in 0..64 {
            if f.write(&pkt).is_ok() {
                n += 1;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Packets per second sent by the stack and read from the device.
fn read_pps(f: &mut File, len: usize) -> f64 {
    let Ok(sock) = UdpSocket::bind("10.98.0.1:0") else {
        return 0.0;
    };
    let payload = vec![0x5au8; len - 28];
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < CASE_TIME {
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
    n as f64 / start.elapsed().as_secs_f64()
}

const CASES: [&str; 9] = [
    "write-64",
    "write-1500",
    "read-64",
    "read-1500",
    "mq1-write-64",
    "mq4-write-64",
    "read-64-lossless",
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

/// Buffers per second each way through vhost-net, from the kernel's own
/// `vhost_net_test`: it runs its RX test (packets sent out of the tap into
/// the guest's ring), then its TX test (the other way), printing a line as
/// each completes; line-buffered, the lines' arrival times split the run.
fn vhost_bps(v: &VhostBench) -> Result<(f64, f64), String> {
    for m in ["vhost_iotlb", "vhost", "vhost_net"] {
        sys::insmod(&format!("{}/{m}.ko", v.modules))
            .map_err(|e| format!("insmod {m}.ko: {}", sys::errno_name(e)))?;
    }
    let start = Instant::now();
    let mut child = std::process::Command::new("stdbuf")
        .args(["-oL", &v.test, "--buf-num", &VHOST_BUFS.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", v.test))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut times = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        if line.map_err(|e| e.to_string())?.contains("completed=") {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let ok = child.wait().map_err(|e| e.to_string())?.success();
    for m in ["vhost_net", "vhost", "vhost_iotlb"] {
        while sys::rmmod(m) == Err(libc::EAGAIN) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if !ok || times.len() != 2 {
        return Err(format!(
            "vhost_net_test failed ({} phases done)",
            times.len()
        ));
    }
    let n = f64::from(VHOST_BUFS);
    Ok((n / times[0], n / (times[1] - times[0])))
}

/// Packets per second written by `queues` threads, one per queue of a
/// multi-queue device.
fn mq_write_pps(queues: usize) -> Result<f64, String> {
    let flags = sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE;
    let files: Vec<File> = (0..queues)
        .map(|_| sys::tun_create("rtbenchmq", flags).map(|(f, _)| f))
        .collect::<Result<_, _>>()?;
    sys::ip(&["link", "set", "rtbenchmq", "up"])?;
    let start = Instant::now();
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
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn measure(vhost: Option<&VhostBench>) -> Result<[f64; 9], String> {
    let mut f = setup()?;
    // Let IPv6 autoconfiguration chatter pass before reading.
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 2048];
    while sys::poll1(&f, libc::POLLIN, 0) & libc::POLLIN != 0 {
        let _ = f.read(&mut buf);
    }
    let single = [
        write_pps(&mut f, 64),
        write_pps(&mut f, 1500),
        read_pps(&mut f, 64),
        read_pps(&mut f, 1500),
    ];
    drop(f);
    let mq = [mq_write_pps(1)?, mq_write_pps(4)?];
    // rtun's lossless mode, where the driver has it (tun.ko does not: there
    // this repeats read-64).
    let mut f = setup()?;
    let _ = std::fs::write("/sys/class/net/rtbench/rtun_lossless", "1");
    let lossless = read_pps(&mut f, 64);
    drop(f);
    let (vrx, vtx) = match vhost {
        Some(v) => vhost_bps(v)?,
        None => (f64::NAN, f64::NAN),
    };
    Ok([
        single[0], single[1], single[2], single[3], mq[0], mq[1], lossless, vrx, vtx,
    ])
}

fn median(v: &mut [f64]) -> f64 {
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
    let drivers = [("tun", &args[1]), ("rtun", &args[2])];
    let mut results = vec![vec![Vec::new(); CASES.len()]; 2];
    for s in 0..samples {
        for (d, (name, ko)) in drivers.iter().enumerate() {
            if let Err(e) = sys::insmod(ko) {
                eprintln!("bench: insmod {ko}: {}", sys::errno_name(e));
                std::process::exit(1);
            }
            match measure(vhost.as_ref()) {
                Ok(r) => {
                    for (c, v) in r.iter().enumerate() {
                        results[d][c].push(*v);
                    }
                }
                Err(e) => {
                    eprintln!("bench: {name}: {e}");
                    std::process::exit(1);
                }
            }
            // The device goes with its file; wait for its teardown.
            std::thread::sleep(Duration::from_millis(20));
            while sys::rmmod(name).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        eprintln!("bench: sample {}/{samples}", s + 1);
    }
    println!(
        "{:<12} {:>14} {:>14} {:>10}",
        "case (pps)", "tun.ko", "rtun.ko", "rtun/tun"
    );
    for (c, case) in CASES.iter().enumerate() {
        let t = median(&mut results[0][c]);
        let r = median(&mut results[1][c]);
        println!("{case:<12} {t:>14.0} {r:>14.0} {:>10.3}", r / t);
    }
    let lossless = median(&mut results[1][6]) / median(&mut results[1][2]);
    println!("rtun read-64 lossless/default: {lossless:.3}");
    println!("({samples} samples per driver, medians, alternating loads in one boot)");
}
