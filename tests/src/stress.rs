// SPDX-License-Identifier: GPL-2.0

//! Concurrency and lifetime stress, run on the debug kernel so that KASAN,
//! lockdep, kmemleak and the RCU and hung-task detectors judge it.
//!
//!   rtun-tests --stress KO SECONDS CYCLES RELOADS [VHOST-MODULES]
//!
//! loads KO and then, in a fresh network namespace:
//! - for SECONDS, worker threads make random create/attach/detach/close/
//!   delete/persist (with and without `IFF_NAPI`/`IFF_NAPI_FRAGS`),
//!   `TUNSETQUEUE`, `tx_queue_len`/MTU, link up/down,
//!   socket-filter and eBPF swaps, XDP programs (every verdict, native and
//!   generic) attached and detached, lossless-mode toggles (where the
//!   driver has it) on a few shared device names, with traffic both ways
//!   (writes, `AF_PACKET` sends), blocking readers and pollers, and, given
//!   the vhost modules' directory, vhost-net instances taking queues over
//!   and sending on them while the others go on; a watchdog
//!   names any operation that has not returned in 30 s (blocking reads, which
//!   wait for traffic by design, excepted);
//! - then deletes every device and checks none is left;
//! - then CYCLES times creates a device (every other one with `IFF_NAPI`),
//!   carries a packet through it and destroys it (the kmemleak scan after
//!   the run sees any leak);
//! - then unloads and reloads KO RELOADS times with a persistent device and
//!   traffic each time, and unloads it.
//!
//! Prints `ok`/`FAIL` lines and `stress: N passed, M failed`.

use std::{
    fs::File,
    io::{Read, Write},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    fuzz::*,
    ktap::Ktap,
    sys::*,
    vhost::{Vhost, VhostModules, QSZ},
};

const NAMES: &[&str] = &["st0", "st1", "st2", "st3"];
const WORKERS: u64 = 6;

/// What each worker is doing, for the watchdog: the operation's name and
/// when it started (0 = idle or in a blocking read).
struct Progress {
    op: Mutex<&'static str>,
    since_ms: AtomicU64,
}

fn now_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64 + 1
}

fn open_nb() -> Option<File> {
    File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .ok()
}

/// Returns how many vhost-net instances took one of its queues over.
fn worker(id: u64, stop: &AtomicBool, p: &Progress, start: Instant, vhost: bool) -> u64 {
    let mut attached = 0;
    let mut rng = Rng::new(0x57e55 + id);
    let mut files: Vec<Option<File>> = (0..4).map(|_| None).collect();
    // vhost-net instances driving queues of these files, each with the
    // TX buffers it has sent so far (at most a ring's worth, none reused).
    let mut vhosts: Vec<(Vhost, usize)> = Vec::new();
    let sock = inet_socket();
    let progs: Vec<_> = [0, 1, 60]
        .iter()
        .filter_map(|&r| bpf_socket_filter_returning(r).ok())
        .collect();
    // XDP programs attached to the shared devices (dropped: detached).
    let mut xdp_links = Vec::new();
    let set = |op: &'static str| {
        *p.op.lock().unwrap() = op;
        p.since_ms.store(now_ms(start), Ordering::Relaxed);
    };
    while !stop.load(Ordering::Relaxed) {
        let s = rng.below(files.len() as u64) as usize;
        let name = rng.pick(NAMES);
        match rng.below(23) {
            0 | 1 => {
                set("open");
                files[s] = open_nb();
            }
            2 => {
                set("close");
                files[s] = None;
            }
            3..=5 => {
                set("setiff");
                if let Some(f) = &files[s] {
                    let mut flags = rng.pick(&[IFF_TUN, IFF_TAP]) | IFF_NO_PI;
                    if rng.chance(60) {
                        flags |= IFF_MULTI_QUEUE;
                    }
                    if rng.chance(30) {
                        flags |= IFF_VNET_HDR;
                    }
                    if rng.chance(40) {
                        flags |= IFF_NAPI;
                        if flags & IFF_TAP != 0 && rng.chance(50) {
                            flags |= IFF_NAPI_FRAGS;
                        }
                    }
                    let mut ifr = IfReq::new(name, flags);
                    let _ = ioctl_ptr(f, TUNSETIFF, &mut ifr);
                }
            }
            6 => {
                set("setqueue");
                if let Some(f) = &files[s] {
                    let mut ifr = IfReq::new("", rng.pick(&[IFF_ATTACH_QUEUE, IFF_DETACH_QUEUE]));
                    let _ = ioctl_ptr(f, TUNSETQUEUE, &mut ifr);
                }
            }
            7 => {
                set("persist");
                if let Some(f) = &files[s] {
                    let _ = ioctl_val(f, TUNSETPERSIST, rng.below(2));
                }
            }
            8 => {
                set("delete");
                let idx = ifindex(name);
                if idx != 0 {
                    let _ = link_del(idx);
                }
            }
            9 => {
                set("ifset");
                if let Some(sock) = &sock {
                    let (cmd, v) = if rng.chance(50) {
                        (libc::SIOCSIFMTU, rng.pick(&[68, 1500, 9000]))
                    } else {
                        (0x8943, rng.pick(&[0, 1, 4, 500]))
                    };
                    let mut r = ifreq_int(name, v);
                    let _ = ioctl_ptr(sock, cmd as u64, r.as_mut_ptr());
                }
            }
            10 => {
                set("link");
                if let Some(sock) = &sock {
                    let _ = set_up(sock, name, rng.chance(75));
                }
            }
            11 => {
                set("filters");
                if let Some(f) = &files[s] {
                    if !progs.is_empty() && rng.chance(50) {
                        let mut fd = if rng.chance(30) {
                            -1
                        } else {
                            progs[rng.below(progs.len() as u64) as usize].as_raw_fd()
                        };
                        let cmd = rng.pick(&[TUNSETSTEERINGEBPF, TUNSETFILTEREBPF]);
                        let _ = ioctl_ptr(f, cmd, &mut fd);
                    } else {
                        let mut insn = [0u8; 8];
                        insn[0..2].copy_from_slice(&0x06u16.to_ne_bytes());
                        insn[4..8].copy_from_slice(&rng.pick(&[0u32, 0xffff]).to_ne_bytes());
                        let mut fprog = sock_fprog(1, insn.as_ptr() as u64);
                        let cmd = rng.pick(&[TUNATTACHFILTER, TUNDETACHFILTER]);
                        let _ = ioctl_ptr(f, cmd, fprog.as_mut_ptr());
                    }
                }
            }
            12 => {
                set("lossless");
                let path = format!("/sys/class/net/{name}/rtun_lossless");
                let _ = std::fs::write(path, if rng.chance(50) { "1" } else { "0" });
            }
            13..=15 => {
                set("write");
                if let Some(f) = &mut files[s] {
                    let len = 14 + rng.below(1500) as usize;
                    let mut pkt = body(&mut rng, len);
                    pkt[..6].fill(0xff);
                    for _ in 0..rng.below(20) {
                        let _ = f.write(&pkt);
                    }
                }
            }
            16 | 17 => {
                set("send");
                let idx = ifindex(name);
                let len = 60 + rng.below(1400) as usize;
                let mut frame = body(&mut rng, len);
                frame[..6].fill(0xff);
                for _ in 0..rng.below(40) {
                    let _ = packet_send(idx, 0x0800, &frame);
                }
            }
            18 => {
                set("read");
                if let Some(f) = &mut files[s] {
                    let mut buf = vec![0u8; 2048];
                    while f.read(&mut buf).is_ok() {}
                    let _ = poll1(f, libc::POLLIN | libc::POLLOUT, 10);
                }
            }
            22 => {
                set("xdp");
                if xdp_links.len() > 3 || rng.chance(30) {
                    if !xdp_links.is_empty() {
                        xdp_links.swap_remove(rng.below(xdp_links.len() as u64) as usize);
                    }
                } else {
                    let insns = match rng.below(4) {
                        0 => crate::xdp::redirect_to(crate::xdp::ifindex(rng.pick(NAMES))),
                        v => bpf_return(v as i32),
                    };
                    let mode = rng.pick(&[crate::xdp::DRV_MODE, crate::xdp::SKB_MODE]);
                    if let Ok(link) = crate::xdp::attach(name, &insns, mode) {
                        xdp_links.push(link);
                    }
                }
            }
            20 | 21 if vhost => {
                set("vhost");
                if vhosts.len() > 1 || rng.chance(30) {
                    // Detached by closing it: vhost lets go of the socket.
                    if !vhosts.is_empty() {
                        vhosts.swap_remove(rng.below(vhosts.len() as u64) as usize);
                    }
                } else if let Some(f) = &files[s] {
                    if let Ok(mut v) = Vhost::new() {
                        if v.set_backend(f.as_raw_fd()).is_ok() {
                            v.post_rx(QSZ);
                            vhosts.push((v, 0));
                            attached += 1;
                        }
                    }
                }
                for (v, sent) in &mut vhosts {
                    let mut frame = body(&mut rng, 60);
                    frame[..6].fill(0xff);
                    while *sent < QSZ && rng.chance(80) {
                        v.send(*sent, &frame);
                        *sent += 1;
                    }
                }
            }
            _ => {
                // A blocking reader on a clone of the file, left to the
                // traffic and to device deletion to wake.
                if let Some(f) = &files[s] {
                    if let Ok(mut clone) = f.try_clone() {
                        // SAFETY: Plain fcntl on our descriptor.
                        unsafe { libc::fcntl(clone.as_raw_fd(), libc::F_SETFL, 0) };
                        p.since_ms.store(0, Ordering::Relaxed);
                        let mut buf = vec![0u8; 2048];
                        let _ = thread::Builder::new().spawn(move || {
                            let _ = clone.read(&mut buf);
                        });
                    }
                }
            }
        }
        p.since_ms.store(0, Ordering::Relaxed);
    }
    attached
}

fn churn(seconds: u64, vhost: bool) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let progress: Arc<Vec<Progress>> = Arc::new(
        (0..WORKERS)
            .map(|_| Progress {
                op: Mutex::new("idle"),
                since_ms: AtomicU64::new(0),
            })
            .collect(),
    );
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let (stop, progress) = (stop.clone(), progress.clone());
            thread::spawn(move || worker(id, &stop, &progress[id as usize], start, vhost))
        })
        .collect();
    let mut hung = None;
    while start.elapsed() < Duration::from_secs(seconds) && hung.is_none() {
        thread::sleep(Duration::from_millis(500));
        let now = now_ms(start);
        for (i, p) in progress.iter().enumerate() {
            let since = p.since_ms.load(Ordering::Relaxed);
            if since != 0 && now.saturating_sub(since) > 30_000 {
                hung = Some(format!(
                    "worker {i} stuck in {} for {} s",
                    p.op.lock().unwrap(),
                    now.saturating_sub(since) / 1000
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = hung {
        return Err(h);
    }
    let mut vhosts = 0;
    for w in workers {
        vhosts += w.join().map_err(|_| "a worker panicked")?;
    }
    if vhost {
        println!("# churn: {vhosts} vhost-net instances took queues over");
    }
    Ok(())
}

fn cleanup() -> Result<(), String> {
    for name in NAMES {
        let idx = ifindex(name);
        if idx != 0 {
            link_del(idx).map_err(|e| format!("delete {name}: {}", errno_name(e)))?;
        }
    }
    for name in NAMES {
        if std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
            return Err(format!("{name} still exists after delete"));
        }
    }
    Ok(())
}

fn cycles(n: u64) -> Result<(), String> {
    let sock = inet_socket().ok_or("no socket")?;
    // One in four multi-queue unless RTUN_STRESS_MQ_EVERY says otherwise:
    // tearing down the 256 qdiscs of one that was up costs seconds on the
    // debug kernel (each qdisc's lockdep key waits for a grace period), so
    // long campaigns of cycles ask for fewer.
    let mq_every = std::env::var("RTUN_STRESS_MQ_EVERY")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&v| v > 0)
        .unwrap_or(4);
    for i in 0..n {
        let flags = if i % mq_every != mq_every - 1 {
            IFF_TAP
        } else {
            IFF_TUN | IFF_MULTI_QUEUE
        };
        // Every other cycle with a NAPI context per queue.
        let flags = flags | if i % 2 == 0 { IFF_NAPI } else { 0 };
        let (mut f, name) = tun_create("cy%d", flags | IFF_NO_PI)?;
        set_up(&sock, &name, true).map_err(errno_name)?;
        let mut frame = vec![0u8; 60];
        frame[0] = 0x45;
        frame[..6].fill(0xff);
        let _ = packet_send(ifindex(&name), 0x0800, &frame);
        let _ = f.write(&frame);
        if i % 3 == 0 {
            let idx = ifindex(&name);
            link_del(idx).map_err(|e| format!("delete {name}: {}", errno_name(e)))?;
        }
    }
    Ok(())
}

fn reloads(ko: &str, name: &str, n: u64) -> Result<(), String> {
    for i in 0..n {
        let (f, dev) = tun_create("rl%d", IFF_TAP | IFF_NO_PI)?;
        ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
        if let Some(sock) = inet_socket() {
            let _ = set_up(&sock, &dev, true);
        }
        let _ = packet_send(ifindex(&dev), 0x0800, &[0xff; 60]);
        drop(f);
        ensure_busy(name)?;
        link_del(ifindex(&dev)).map_err(|e| format!("delete {dev}: {}", errno_name(e)))?;
        let mut gone = false;
        for _ in 0..100 {
            if rmmod(name).is_ok() {
                gone = true;
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if !gone {
            return Err(format!("reload {i}: rmmod {name} failed"));
        }
        insmod(ko).map_err(|e| format!("reload {i}: insmod: {}", errno_name(e)))?;
    }
    Ok(())
}

fn ensure_busy(name: &str) -> Result<(), String> {
    match rmmod(name) {
        Err(libc::EBUSY) | Err(libc::EAGAIN) => Ok(()),
        r => Err(format!("rmmod {name} with a persistent device: {r:?}")),
    }
}

/// `--stress KO SECONDS CYCLES RELOADS [VHOST-MODULES]`.
pub fn main(ko: &str, seconds: u64, n: u64, reloads_n: u64, vhost_dir: Option<&str>) -> i32 {
    let _no_modprobe = NoModprobe::new();
    let name = std::path::Path::new(ko)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Err(e) = insmod(ko) {
        let mut report = Ktap::new("stress", 1);
        report.fail("setup", &format!("insmod {ko}: {}", errno_name(e)));
        return report.finish();
    }
    // Before any thread starts.
    if let Err(e) = private_netns() {
        let mut report = Ktap::new("stress", 1);
        report.fail("setup", &e);
        return report.finish();
    }
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    // vhost_net holds the driver's symbols: loaded for the churn only.
    let vhost = std::cell::RefCell::new(None);
    if let Some(dir) = vhost_dir {
        match VhostModules::load_from(dir) {
            Ok(m) => *vhost.borrow_mut() = Some(m),
            Err(e) => {
                let mut report = Ktap::new("stress", 1);
                report.fail("setup", &e);
                return report.finish();
            }
        }
    }
    let steps: [(&str, Box<dyn Fn() -> Result<(), String>>); 4] = [
        (
            "churn",
            Box::new(|| {
                let r = churn(seconds, vhost.borrow().is_some());
                vhost.borrow_mut().take();
                r
            }),
        ),
        ("cleanup", Box::new(cleanup)),
        ("cycles", Box::new(move || cycles(n))),
        ("reloads", Box::new(|| reloads(ko, &name, reloads_n))),
    ];
    let mut report = Ktap::new("stress", steps.len());
    let mut broken = false;
    for (step, f) in steps {
        if broken {
            report.skip(step, "an earlier step failed");
            continue;
        }
        match f() {
            Ok(()) => report.pass(step),
            Err(e) => {
                report.fail(step, &e);
                broken = true;
            }
        }
    }
    report.finish()
}
