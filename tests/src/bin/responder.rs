// SPDX-License-Identifier: GPL-2.0

//! A userspace ping responder behind a TUN device: the demo's traffic.
//!
//!   responder IFNAME LOCAL PEER SECONDS
//!
//! Creates TUN device IFNAME (no PI), gives it LOCAL with point-to-point
//! PEER, brings it up, and for SECONDS answers every ICMP echo request the
//! stack sends to PEER through it.

#[path = "../packet.rs"]
#[allow(dead_code)]
mod packet;
#[path = "../sys.rs"]
#[allow(dead_code)]
mod sys;

use std::{
    io::{Read, Write},
    time::{Duration, Instant},
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: responder IFNAME LOCAL PEER SECONDS");
        std::process::exit(2);
    }
    let secs: u64 = args[4].parse().unwrap_or(5);
    let (mut f, name) = match sys::tun_create(&args[1], sys::IFF_TUN | sys::IFF_NO_PI) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("responder: {e}");
            std::process::exit(1);
        }
    };
    for cmd in [
        vec!["addr", "add", &args[2], "peer", &args[3], "dev", &name],
        vec!["link", "set", &name, "up"],
    ] {
        if let Err(e) = sys::ip(&cmd) {
            eprintln!("responder: {e}");
            std::process::exit(1);
        }
    }
    println!(
        "responder: {name} up, {} <-> {}, answering pings for {secs} s",
        args[2], args[3]
    );
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut answered, mut buf) = (0, [0u8; 2048]);
    while Instant::now() < end {
        if sys::poll1(&f, libc::POLLIN, 100) & libc::POLLIN == 0 {
            continue;
        }
        let Ok(n) = f.read(&mut buf) else { break };
        if let Some(reply) = packet::echo_reply_for(&buf[..n]) {
            if f.write(&reply).is_ok() {
                answered += 1;
            }
        }
    }
    println!("responder: answered {answered} echo requests");
}
