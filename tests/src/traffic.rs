// SPDX-License-Identifier: GPL-2.0

//! Real traffic: TCP between two network namespaces whose only link is two
//! TAP devices joined by a userspace forwarder reading and writing them;
//! with `IFF_NAPI` too, softirq and threaded.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use crate::{
    ensure,
    forward::{enter, forward, pattern, Namespaces},
    sys::*,
    tests, Ctx, Test, TestResult,
};

pub const TESTS: &[Test] = tests![
    tcp_across_taps,
    tcp_across_napi_taps,
    tcp_across_threaded_napi_taps
];

const BYTES: usize = 2 << 20;

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
    let _ns = Namespaces::new(["rttcpa", "rttcpb"], ["rta", "rtb"], "10.70.0")?;
    let result = (|| -> TestResult {
        let stop = Arc::new(AtomicBool::new(false));
        let fwd = forward(
            a.try_clone().map_err(|e| e.to_string())?,
            b.try_clone().map_err(|e| e.to_string())?,
            stop.clone(),
        );
        let server = thread::spawn(|| -> Result<usize, String> {
            enter("rtb")?;
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
            enter("rta")?;
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
    result
}
