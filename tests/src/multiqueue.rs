// SPDX-License-Identifier: GPL-2.0

//! Multi-queue devices: many files on one device, flows spread over them,
//! `TUNSETQUEUE` detaching and re-attaching queues.

use std::{fs, net::UdpSocket};

use crate::{ensure, skip, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    mq_attach_8,
    mq_flows_spread,
    mq_setqueue,
    mq_flags_kept,
    mq_replies_follow_writer,
    kselftest_net_tun,
];

/// The kernel's own selftest, `tools/testing/selftests/net/tun.c` of the
/// 6.12 source, built unmodified: detach, re-attach, delete and close in
/// every order on a multi-queue TAP device.
fn kselftest_net_tun(ctx: &Ctx) -> TestResult {
    let bin = ctx
        .kselftest_tun
        .as_deref()
        .ok_or_else(|| skip("no --kselftest-tun given"))?;
    let Ran { ok, stdout, .. } = run_tool(bin, &[])?;
    ensure!(
        ok,
        "kselftest failed: {}",
        stdout
            .lines()
            .filter(|l| l.contains("not ok") || l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    ensure!(
        stdout.contains("# PASSED: 5 / 5"),
        "kselftest output: {stdout}"
    );
    Ok(())
}

const MQ: u32 = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;

fn tx_queues(name: &str) -> Result<usize, String> {
    let dir = fs::read_dir(format!("/sys/class/net/{name}/queues")).map_err(|e| e.to_string())?;
    Ok(dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("tx-"))
        .count())
}

fn open_queues(name: &str, n: usize) -> Result<Vec<fs::File>, String> {
    (0..n)
        .map(|_| tun_create(name, MQ).map(|(f, _)| f))
        .collect()
}

/// Eight files on one device make eight TX queues; closing some removes
/// theirs; the last close removes the device.
fn mq_attach_8(_: &Ctx) -> TestResult {
    let mut qs = open_queues("rtmq8", 8)?;
    ensure!(
        tx_queues("rtmq8")? == 8,
        "{} tx queues with 8 files",
        tx_queues("rtmq8")?
    );
    qs.truncate(5);
    ensure!(
        tx_queues("rtmq8")? == 5,
        "{} tx queues with 5 files",
        tx_queues("rtmq8")?
    );
    drop(qs);
    ensure!(
        fs::metadata("/sys/class/net/rtmq8").is_err(),
        "device outlived its queues"
    );
    Ok(())
}

/// Flows from the stack spread over the queues, and none is lost.
fn mq_flows_spread(_: &Ctx) -> TestResult {
    let qs = open_queues("rtmqflow", 8)?;
    ip(&[
        "addr",
        "add",
        "10.90.0.1",
        "peer",
        "10.90.0.2",
        "dev",
        "rtmqflow",
    ])?;
    ip(&["link", "set", "rtmqflow", "up"])?;
    // Drain IPv6 chatter.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut buf = [0u8; 2048];
    for q in &qs {
        while poll1(q, libc::POLLIN, 0) & libc::POLLIN != 0 {
            let _ = std::io::Read::read(&mut &*q, &mut buf);
        }
    }
    let flows = 64;
    for port in 0..flows {
        let s = UdpSocket::bind("10.90.0.1:0").map_err(|e| e.to_string())?;
        s.send_to(b"flow", ("10.90.0.2", 4000 + port))
            .map_err(|e| e.to_string())?;
    }
    let mut per_queue = vec![0; qs.len()];
    for (i, q) in qs.iter().enumerate() {
        while poll1(q, libc::POLLIN, 50) & libc::POLLIN != 0 {
            let n = std::io::Read::read(&mut &*q, &mut buf).map_err(|e| e.to_string())?;
            if n >= 28 && buf[0] >> 4 == 4 && buf[9] == 17 {
                per_queue[i] += 1;
            }
        }
    }
    let total: u32 = per_queue.iter().sum();
    ensure!(
        total == u32::from(flows),
        "received {total} of {flows}: {per_queue:?}"
    );
    let used = per_queue.iter().filter(|&&c| c > 0).count();
    ensure!(
        used >= 4,
        "flows used only {used} of 8 queues: {per_queue:?}"
    );
    Ok(())
}

/// `TUNSETQUEUE`: detach and re-attach a queue of a multi-queue device.
fn mq_setqueue(_: &Ctx) -> TestResult {
    let qs = open_queues("rtmqset", 3)?;
    let set = |f: &fs::File, flags: u32| {
        let mut ifr = IfReq::new("", flags);
        ioctl_ptr(f, TUNSETQUEUE, &mut ifr)
    };
    ensure!(set(&qs[1], IFF_DETACH_QUEUE) == Ok(0), "detach failed");
    ensure!(
        tx_queues("rtmqset")? == 2,
        "detach left {} queues",
        tx_queues("rtmqset")?
    );
    let mut ifr = IfReq::default();
    ioctl_ptr(&qs[1], TUNGETIFF, &mut ifr).map_err(errno_name)?;
    ensure!(
        ifr.flags as u16 as u32 & IFF_DETACH_QUEUE != 0,
        "TUNGETIFF lacks DETACH_QUEUE"
    );
    ensure!(
        set(&qs[1], IFF_DETACH_QUEUE) == Err(libc::EINVAL),
        "second detach"
    );
    ensure!(
        set(&qs[0], IFF_ATTACH_QUEUE) == Err(libc::EINVAL),
        "attach of an attached queue"
    );
    ensure!(set(&qs[0], 0) == Err(libc::EINVAL), "neither flag");
    let mut again = IfReq::new("rtmqset", MQ);
    ensure!(
        ioctl_ptr(&qs[1], TUNSETIFF, &mut again) == Err(libc::EEXIST),
        "TUNSETIFF on a detached queue"
    );
    ensure!(set(&qs[1], IFF_ATTACH_QUEUE) == Ok(0), "re-attach failed");
    ensure!(
        tx_queues("rtmqset")? == 3,
        "re-attach gave {} queues",
        tx_queues("rtmqset")?
    );
    // A detached queue keeps the device alive; closing it last removes it.
    ensure!(set(&qs[2], IFF_DETACH_QUEUE) == Ok(0), "detach failed");
    let mut qs = qs;
    let detached = qs.pop();
    drop(qs);
    ensure!(
        fs::metadata("/sys/class/net/rtmqset").is_ok(),
        "device went with a queue disabled"
    );
    drop(detached);
    ensure!(
        fs::metadata("/sys/class/net/rtmqset").is_err(),
        "device outlived its queues"
    );
    let (single, _) = tun_create("rtmqsingle", IFF_TUN | IFF_NO_PI)?;
    ensure!(
        set(&single, IFF_DETACH_QUEUE) == Err(libc::EINVAL),
        "detach of a single queue"
    );
    Ok(())
}

/// Files attaching to a multi-queue device with other flags do not change
/// the device's.
fn mq_flags_kept(_: &Ctx) -> TestResult {
    let (a, _) = tun_create("rtmqflags", MQ)?;
    let (_b, _) = tun_create("rtmqflags", IFF_TUN | IFF_MULTI_QUEUE | IFF_VNET_HDR)?;
    let mut ifr = IfReq::default();
    ioctl_ptr(&a, TUNGETIFF, &mut ifr).map_err(errno_name)?;
    let flags = ifr.flags as u16 as u32;
    ensure!(
        flags & IFF_VNET_HDR == 0,
        "second file's VNET_HDR took: {flags:#x}"
    );
    Ok(())
}

/// Automatic steering: once a flow has been written on queue N, replies to
/// it come back on queue N (tun.c's flow table). The stack answers a ping
/// inside the write, before the flow is learnt, so the first round only
/// teaches; each queue pings from its own address so that the flows differ.
fn mq_replies_follow_writer(_: &Ctx) -> TestResult {
    use crate::packet::{echo_request, is_echo_reply};
    use std::io::{Read, Write};
    let qs = open_queues("rtmqsteer", 4)?;
    fs::write("/proc/sys/net/ipv6/conf/rtmqsteer/disable_ipv6", "1").map_err(|e| e.to_string())?;
    ip(&["addr", "add", "10.86.0.1/24", "dev", "rtmqsteer"])?;
    ip(&["link", "set", "rtmqsteer", "up"])?;
    let me = [10, 86, 0, 1];
    let mut buf = [0u8; 2048];
    for round in 0..3u16 {
        for (i, q) in qs.iter().enumerate() {
            let peer = [10, 86, 0, 10 + i as u8];
            let seq = round * 16 + i as u16;
            let req = echo_request(peer, me, seq, b"steer");
            (&*q).write(&req).map_err(|e| e.to_string())?;
            let mut found = None;
            for _ in 0..20 {
                for (j, r) in qs.iter().enumerate() {
                    while poll1(r, libc::POLLIN, 0) & libc::POLLIN != 0 {
                        let n = (&*r).read(&mut buf).map_err(|e| e.to_string())?;
                        if is_echo_reply(&buf[..n], peer, me, seq) {
                            found = Some(j);
                        }
                    }
                }
                if found.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let j = found.ok_or(format!("no reply to seq {seq}"))?;
            ensure!(
                round == 0 || j == i,
                "reply to a flow written on queue {i} came out on queue {j}"
            );
        }
    }
    Ok(())
}
