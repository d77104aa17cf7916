// SPDX-License-Identifier: GPL-2.0

//! Real traffic: TCP between two network namespaces whose only link is two
//! TAP devices joined by a userspace forwarder reading and writing them;
//! with `IFF_NAPI` too, softirq and threaded.

use std::{
    fs::File,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    tcp_across_taps,
    tcp_across_napi_taps,
    tcp_across_threaded_napi_taps
];

const BYTES: usize = 2 << 20;

/// Runs the calling thread in network namespace `name` (`ip netns`).
fn enter_netns(name: &str) -> Result<(), String> {
    let f =
        File::open(format!("/var/run/netns/{name}")).map_err(|e| format!("netns {name}: {e}"))?;
    // SAFETY: A valid namespace descriptor; affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A stream of bytes both ends can check: position-dependent, not
/// periodic at any small stride.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Copies frames between two TAP files until `stop`.
fn forward(a: File, b: File, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut fds = [
            libc::pollfd {
                fd: a.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: b.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let mut buf = vec![0u8; 65536];
        let mut frames = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: Two valid pollfds.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, 50) } <= 0 {
                continue;
            }
            for (i, (from, to)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
                if fds[i].revents & libc::POLLIN != 0 {
                    if let Ok(n) = (&*from).read(&mut buf) {
                        if (&*to).write(&buf[..n]).is_ok() {
                            frames += 1;
                        }
                    }
                }
            }
        }
        frames
    })
}

/// 2 MiB over TCP from namespace `rta` to `rtb`, every byte checked at the
/// far end, through two TAP devices and a forwarder.
fn tcp_across_taps(_: &Ctx) -> TestResult {
    tcp_across(0, false)
}

/// The same through two `IFF_NAPI` TAP devices: the forwarder's writes
/// reach the stack through each queue's NAPI poll and GRO.
fn tcp_across_napi_taps(_: &Ctx) -> TestResult {
    tcp_across(IFF_NAPI, false)
}

/// The same with the devices' NAPI polls in threads (`threaded`).
fn tcp_across_threaded_napi_taps(_: &Ctx) -> TestResult {
    tcp_across(IFF_NAPI, true)
}

fn tcp_across(flags: u32, threaded: bool) -> TestResult {
    let (a, _) = tun_create("rttcpa", IFF_TAP | IFF_NO_PI | flags)?;
    let (b, _) = tun_create("rttcpb", IFF_TAP | IFF_NO_PI | flags)?;
    if threaded {
        for dev in ["rttcpa", "rttcpb"] {
            std::fs::write(format!("/sys/class/net/{dev}/threaded"), "1")
                .map_err(|e| format!("{dev} threaded=1: {e}"))?;
        }
    }
    let _ = ip(&["netns", "del", "rta"]);
    let _ = ip(&["netns", "del", "rtb"]);
    ip(&["netns", "add", "rta"])?;
    ip(&["netns", "add", "rtb"])?;
    let result = (|| -> TestResult {
        for (dev, ns, addr) in [
            ("rttcpa", "rta", "10.70.0.1/24"),
            ("rttcpb", "rtb", "10.70.0.2/24"),
        ] {
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let fwd = forward(
            a.try_clone().map_err(|e| e.to_string())?,
            b.try_clone().map_err(|e| e.to_string())?,
            stop.clone(),
        );
        let server = thread::spawn(|| -> Result<usize, String> {
            enter_netns("rtb")?;
            let l = TcpListener::bind("10.70.0.2:5001").map_err(|e| e.to_string())?;
            let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 65536];
            let mut got = 0usize;
            loop {
                let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                for (k, &byte) in buf[..n].iter().enumerate() {
                    if byte != pattern(got + k) {
                        return Err(format!("byte {} corrupted", got + k));
                    }
                }
                got += n;
            }
            Ok(got)
        });
        thread::sleep(Duration::from_millis(300));
        let client = thread::spawn(|| -> TestResult {
            enter_netns("rta")?;
            let mut s = None;
            for _ in 0..50 {
                if let Ok(c) = TcpStream::connect("10.70.0.2:5001") {
                    s = Some(c);
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
            let mut s = s.ok_or("could not connect")?;
            let data: Vec<u8> = (0..BYTES).map(pattern).collect();
            s.write_all(&data).map_err(|e| e.to_string())?;
            Ok(())
        });
        let sent = client.join().map_err(|_| "client panicked")?;
        let got = server.join().map_err(|_| "server panicked")?;
        stop.store(true, Ordering::Relaxed);
        let frames = fwd.join().map_err(|_| "forwarder panicked")?;
        sent?;
        let got = got?;
        ensure!(got == BYTES, "received {got} of {BYTES} bytes");
        ensure!(frames > 100, "only {frames} frames forwarded");
        Ok(())
    })();
    let _ = ip(&["netns", "del", "rta"]);
    let _ = ip(&["netns", "del", "rtb"]);
    result
}
