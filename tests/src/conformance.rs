// SPDX-License-Identifier: GPL-2.0

//! Behaviours of tun found where rtun once differed (issue 10's list, from
//! reading tun.c and from the differential fuzzer): each test states what
//! tun.c 6.12 does, and fails on the rtun that did otherwise.

use std::{
    fs,
    io::{Read, Write},
    os::fd::AsRawFd,
    thread,
    time::Duration,
};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    txqueuelen_zero_lossless_up,
    reattach_after_failed_setiff_is_open,
    reattach_after_delete_blocks,
    tap_address_changes_while_up,
    carrier_through_netlink,
    tun_packet_socket_protocol_from_ip_version,
    rx_queues_follow_attached_queues,
    rx_frame_errors_counted_on_tun,
    large_writes_like_tun,
    steering_result_truncated_to_u16,
    tun_tap_flags_attach_busy,
    napi_frags_needs_initial_namespace,
    read_fault_after_header_returns_length,
    sigio_pollout_when_device_comes_up,
    lossless_toggle_and_detach_under_flood_drain,
    ifindex_request_used_up_by_attach,
    napi_write_on_detached_queue_busy,
    filter_that_fails_to_reattach,
];

/// `F_SETSIG` and SIGIO's `POLL_OUT` code (`asm-generic/fcntl.h`,
/// `asm-generic/siginfo.h`), which the libc crate lacks.
const F_SETSIG: i32 = 10;
const POLL_OUT: i32 = 2;

/// Sends `frame` out of `name` through an `AF_PACKET` raw socket with
/// protocol `proto`.
fn packet_send(name: &str, proto: u16, frame: &[u8]) -> TestResult {
    crate::fuzz::packet_send(crate::fuzz::ifindex(name), proto, frame)
        .map(drop)
        .map_err(|e| format!("AF_PACKET send on {name}: {}", errno_name(e)))
}

/// A minimal IPv4 header (no payload) from 10.99.0.1 to 10.99.0.2.
fn ipv4_packet() -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&20u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 99, 0, 1]);
    p[16..20].copy_from_slice(&[10, 99, 0, 2]);
    let c = crate::packet::csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// A broadcast IPv4 frame whose addresses (hence flow hash, hence queue)
/// follow `flow`.
fn flow_frame(flow: u32) -> Vec<u8> {
    let mut f = broadcast_frame(14);
    let mut ip = ipv4_packet();
    ip[12..16].copy_from_slice(&flow.wrapping_mul(2_654_435_761).to_be_bytes());
    ip[16..20].copy_from_slice(&flow.to_be_bytes());
    f.extend_from_slice(&ip);
    f.resize(100, 0);
    f
}

fn broadcast_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f
}

/// `txqueuelen 0` gives every queue a ring of no slots: a device that is up
/// with such rings drops what it transmits, with lossless mode on too (on
/// rtun that read the slot array of an empty ring and crashed).
fn txqueuelen_zero_lossless_up(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtzeroq", IFF_TAP | IFF_NO_PI)?;
    ip(&["link", "set", &name, "txqueuelen", "0"])?;
    let lossless = format!("/sys/class/net/{name}/rtun_lossless");
    if fs::metadata(&lossless).is_ok() {
        fs::write(&lossless, "1").map_err(|e| e.to_string())?;
    }
    no_ipv6_up(&name)?;
    let before = sysfs_u64(&name, "statistics/tx_dropped")?;
    for _ in 0..3 {
        // The device is `noqueue` now (its default qdisc refuses zero
        // slots), so the driver's drop reaches the sender: ENOBUFS.
        let r = crate::fuzz::packet_send(crate::fuzz::ifindex(&name), 0x0800, &broadcast_frame(60));
        expect_errno(r, libc::ENOBUFS, "send into zero-slot rings")?;
    }
    thread::sleep(Duration::from_millis(100));
    let after = sysfs_u64(&name, "statistics/tx_dropped")?;
    ensure!(
        after >= before + 3,
        "tx_dropped {before} -> {after}, want 3 more"
    );
    let mut buf = [0u8; 100];
    set_nonblock(&f);
    expect_errno(io_errno(f.read(&mut buf)), libc::EAGAIN, "read")?;
    // A later length gives the rings slots again.
    ip(&["link", "set", &name, "txqueuelen", "16"])?;
    packet_send(&name, 0x0800, &broadcast_frame(60))?;
    thread::sleep(Duration::from_millis(50));
    ensure!(
        io_errno(f.read(&mut buf)) == Ok(60),
        "no frame after txqueuelen 16"
    );
    Ok(())
}

/// A file whose `TUNSETIFF` failed (`TUNSETIFINDEX` to a taken index) can
/// attach afterwards and is an ordinary queue: it polls writable without
/// an error.
fn reattach_after_failed_setiff_is_open(_: &Ctx) -> TestResult {
    let (_a, name) = tun_create("rtfailidx", IFF_TUN | IFF_NO_PI)?;
    let taken = sysfs_u64(&name, "ifindex")? as i32;
    let f = open_tun().map_err(|e| e.to_string())?;
    let mut idx = taken;
    ioctl_ptr(&f, TUNSETIFINDEX, &mut idx).map_err(errno_name)?;
    let mut ifr = IfReq::new("rtfailidx2", IFF_TUN | IFF_NO_PI);
    ensure!(
        ioctl_ptr(&f, TUNSETIFF, &mut ifr).is_err(),
        "TUNSETIFF took a taken ifindex"
    );
    let mut ifr = IfReq::new("rtfailidx3", IFF_TUN | IFF_NO_PI);
    // The index request still stands: let the kernel choose instead.
    let mut zero = 0;
    ioctl_ptr(&f, TUNSETIFINDEX, &mut zero).map_err(errno_name)?;
    ioctl_ptr(&f, TUNSETIFF, &mut ifr).map_err(errno_name)?;
    no_ipv6_up("rtfailidx3")?;
    let ev = poll1(&f, libc::POLLIN | libc::POLLOUT, 0);
    ensure!(
        ev == libc::POLLOUT,
        "poll after attach: {ev:#x}, want POLLOUT"
    );
    Ok(())
}

/// A file whose device was deleted (`ip link del`) and that attaches to a
/// new one is open again: a blocking read waits for a packet instead of
/// failing at once.
fn reattach_after_delete_blocks(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtredel", IFF_TAP | IFF_NO_PI)?;
    ip(&["link", "del", &name])?;
    let mut ifr = IfReq::new("rtredel2", IFF_TAP | IFF_NO_PI);
    ioctl_ptr(&f, TUNSETIFF, &mut ifr).map_err(errno_name)?;
    no_ipv6_up("rtredel2")?;
    let ev = poll1(&f, libc::POLLIN | libc::POLLOUT, 0);
    ensure!(
        ev == libc::POLLOUT,
        "poll after reattach: {ev:#x}, want POLLOUT"
    );
    let mut reader = f.try_clone().map_err(|e| e.to_string())?;
    let t = thread::spawn(move || {
        let mut buf = [0u8; 200];
        io_errno(reader.read(&mut buf))
    });
    thread::sleep(Duration::from_millis(300));
    ensure!(!t.is_finished(), "blocking read returned at once");
    packet_send("rtredel2", 0x0800, &broadcast_frame(60))?;
    let r = t.join().map_err(|_| "reader panicked")?;
    ensure!(
        r == Ok(60),
        "read after reattach: {r:?}, want the 60-byte frame"
    );
    Ok(())
}

/// A tap's address may change while it is up (`IFF_LIVE_ADDR_CHANGE`).
fn tap_address_changes_while_up(_: &Ctx) -> TestResult {
    let (_f, name) = tun_create("rtliveaddr", IFF_TAP | IFF_NO_PI)?;
    no_ipv6_up(&name)?;
    ip(&["link", "set", &name, "address", "02:11:22:33:44:55"])?;
    ensure!(
        sysfs(&name, "address")? == "02:11:22:33:44:55",
        "address not taken"
    );
    Ok(())
}

/// `ip link set DEV carrier off|on` works (`ndo_change_carrier`); carrier
/// on needs an attached queue (`EPERM` on a persistent device with none).
fn carrier_through_netlink(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtnlcarrier", IFF_TUN | IFF_NO_PI)?;
    no_ipv6_up(&name)?;
    ip(&["link", "set", &name, "carrier", "off"])?;
    ensure!(sysfs(&name, "carrier")? == "0", "carrier still on");
    ip(&["link", "set", &name, "carrier", "on"])?;
    ensure!(sysfs(&name, "carrier")? == "1", "carrier still off");
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
    drop(f);
    let r = run_tool("ip", &["link", "set", &name, "carrier", "on"])?;
    let _ = ip(&["link", "del", &name]);
    ensure!(!r.ok, "carrier on without a queue accepted");
    ensure!(
        r.stderr.contains("Operation not permitted"),
        "carrier on without a queue: {}",
        r.stderr.trim()
    );
    Ok(())
}

/// A tun device parses link-layer protocols as IP tunnels do
/// (`ip_tunnel_header_ops`): an `AF_PACKET` send with protocol 0 is read
/// with the protocol of its IP version in the PI header.
fn tun_packet_socket_protocol_from_ip_version(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtparseproto", IFF_TUN)?;
    no_ipv6_up(&name)?;
    packet_send(&name, 0, &ipv4_packet())?;
    let mut buf = [0u8; 100];
    let n = io_errno(f.read(&mut buf)).map_err(errno_name)?;
    ensure!(n == 24, "read {n} bytes, want PI + 20");
    let proto = u16::from_be_bytes([buf[2], buf[3]]);
    ensure!(proto == 0x0800, "PI protocol {proto:#06x}, want 0x0800");
    Ok(())
}

/// A multi-queue device shows as many RX and TX queues in sysfs as it has
/// attached (`tun_set_real_num_queues`).
fn rx_queues_follow_attached_queues(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    let (a, name) = tun_create("rtrxq", flags)?;
    let (_b, _) = tun_create("rtrxq", flags)?;
    let (rx, tx) = (queue_count(&name, "rx-"), queue_count(&name, "tx-"));
    ensure!((rx, tx) == (2, 2), "rx/tx queues: {rx}/{tx}, want 2/2");
    let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
    ioctl_ptr(&a, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    ensure!(queue_count(&name, "rx-") == 1, "rx queues after detach");
    Ok(())
}

/// A virtio-net header the stack refuses counts in `rx_frame_errors` on a
/// tun device (`tun_net_get_stats64`), not in `rx_dropped`; tap devices do
/// not report the counter.
fn rx_frame_errors_counted_on_tun(_: &Ctx) -> TestResult {
    for (flags, want) in [
        (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, 1),
        (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 0),
    ] {
        let (mut f, name) = tun_create("rtframeerr%d", flags)?;
        no_ipv6_up(&name)?;
        let mut pkt = vec![0u8; 10];
        // GSO TCPv4 with gso_size 0: virtio_net_hdr_to_skb refuses it.
        pkt[1] = 1;
        let mut body = if flags & IFF_TAP != 0 {
            broadcast_frame(60)
        } else {
            ipv4_packet()
        };
        pkt.append(&mut body);
        expect_errno(io_errno(f.write(&pkt)), libc::EINVAL, "bad GSO write")?;
        let errors = sysfs_u64(&name, "statistics/rx_frame_errors")?;
        let dropped = sysfs_u64(&name, "statistics/rx_dropped")?;
        ensure!(
            errors == want,
            "{name}: rx_frame_errors {errors}, want {want}"
        );
        ensure!(dropped == 0, "{name}: rx_dropped {dropped}, want 0");
    }
    Ok(())
}

/// Writes are not capped at 64 KiB: a down device says `EIO`, an up tap
/// takes a 70000-byte frame and a 65549-byte one (the stack then drops what
/// it cannot route, counting nothing as the driver's drop).
fn large_writes_like_tun(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtlarge", IFF_TAP | IFF_NO_PI)?;
    let big = broadcast_frame(70000);
    expect_errno(
        io_errno(f.write(&big)),
        libc::EIO,
        "70000 bytes to a down tap",
    )?;
    no_ipv6_up(&name)?;
    for len in [65549, 65550, 70000, 200_000] {
        let r = io_errno(f.write(&broadcast_frame(len)));
        ensure!(r == Ok(len), "write of {len}: {r:?}");
    }
    Ok(())
}

/// A steering program's result is taken as a `u16` before the modulo
/// (`tun_ebpf_select_queue`): 65536 with three queues picks queue 0.
fn steering_result_truncated_to_u16(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    let (a, name) = tun_create("rtsteer16", flags)?;
    let (b, _) = tun_create("rtsteer16", flags)?;
    let (c, _) = tun_create("rtsteer16", flags)?;
    let prog = bpf_socket_filter_returning(65536)?;
    let mut fd = prog.as_raw_fd();
    ioctl_ptr(&a, TUNSETSTEERINGEBPF, &mut fd).map_err(errno_name)?;
    no_ipv6_up(&name)?;
    packet_send(&name, 0x0800, &broadcast_frame(60))?;
    thread::sleep(Duration::from_millis(100));
    let ready: Vec<bool> = [&a, &b, &c]
        .iter()
        .map(|f| poll1(*f, libc::POLLIN, 0) & libc::POLLIN != 0)
        .collect();
    ensure!(
        ready == [true, false, false],
        "queues with the frame: {ready:?}, want queue 0"
    );
    Ok(())
}

/// `IFF_TUN | IFF_TAP` names an existing tap as its own type: a second
/// single-queue attach is `EBUSY`, not `EINVAL`.
fn tun_tap_flags_attach_busy(_: &Ctx) -> TestResult {
    let (_a, name) = tun_create("rttuntap", IFF_TAP | IFF_NO_PI)?;
    expect_errno(
        tun_create_err(&name, IFF_TUN | IFF_TAP | IFF_NO_PI),
        libc::EBUSY,
        "IFF_TUN|IFF_TAP on a busy tap",
    )
}

/// `IFF_NAPI_FRAGS` needs `CAP_NET_ADMIN` in the initial user namespace
/// (`capable`): a user namespace's root gets `EPERM`.
fn napi_frags_needs_initial_namespace(_: &Ctx) -> TestResult {
    // SAFETY: The child makes plain system calls and exits with the errno;
    // the suite runs tests one at a time, so no other thread holds a lock.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: In the child; CLONE_NEWUSER needs a single thread, which
        // a forked child is.
        let code = if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
            100
        } else {
            match tun_create_err("rtnapifrags", IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS) {
                Ok(_) => 0,
                Err(e) => e,
            }
        };
        // SAFETY: Ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    ensure!(code != 100, "unshare failed");
    ensure!(
        code == libc::EPERM,
        "IFF_NAPI_FRAGS in a user namespace: {}",
        errno_name(code)
    );
    Ok(())
}

/// A read whose copy of the packet faults after the PI header still
/// returns the packet's length (tun.c ignores that copy's result).
fn read_fault_after_header_returns_length(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtreadfault", IFF_TUN)?;
    no_ipv6_up(&name)?;
    packet_send(&name, 0x0800, &ipv4_packet())?;
    let mut pi = [0u8; 4];
    let iov = [
        libc::iovec {
            iov_base: pi.as_mut_ptr().cast(),
            iov_len: 4,
        },
        libc::iovec {
            iov_base: 8 as *mut libc::c_void,
            iov_len: 100,
        },
    ];
    // SAFETY: The kernel checks the second, bad, buffer.
    let n = unsafe { libc::readv(f.as_raw_fd(), iov.as_ptr(), 2) };
    ensure!(n == 24, "readv with a faulting buffer: {n}, want 24");
    Ok(())
}

/// A poller that found the device down, hence the queue not writable, is
/// told by SIGIO with `POLL_OUT` when the device comes up
/// (`tun_sock_write_space` from `NETDEV_UP`).
fn sigio_pollout_when_device_comes_up(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtpollout", IFF_TUN | IFF_NO_PI)?;
    fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    let fd = f.as_raw_fd();
    // SAFETY: Signal mask and fcntl calls on our own descriptor; SIGIO is
    // blocked, so it waits to be collected with sigtimedwait.
    let got = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        libc::fcntl(fd, libc::F_SETOWN, libc::getpid());
        libc::fcntl(fd, F_SETSIG, libc::SIGIO);
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_ASYNC);
        let ev = poll1(&f, libc::POLLOUT, 0);
        let up = ip(&["link", "set", &name, "up"]);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ts = libc::timespec {
            tv_sec: 2,
            tv_nsec: 0,
        };
        let mut code = None;
        while libc::sigtimedwait(&set, &mut info, &ts) == libc::SIGIO {
            if info.si_code == POLL_OUT {
                code = Some(info.si_code);
                break;
            }
        }
        libc::fcntl(fd, libc::F_SETFL, fl);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        up?;
        ensure!(ev & libc::POLLOUT == 0, "a down device polled writable");
        code
    };
    ensure!(
        got == Some(POLL_OUT),
        "no SIGIO POLL_OUT when the device came up"
    );
    Ok(())
}

/// Flooding a four-queue tap while queues detach and come back and (on
/// rtun) lossless mode turns on and off leaves no TX queue stopped: once
/// the flood ends and the readers drain, the qdisc holds nothing and a new
/// frame on every queue arrives.
fn lossless_toggle_and_detach_under_flood_drain(_: &Ctx) -> TestResult {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    let flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    let mut files = Vec::new();
    let mut name = String::new();
    for _ in 0..4 {
        let (f, n) = tun_create("rtflood", flags)?;
        set_nonblock(&f);
        files.push(f);
        name = n;
    }
    ip(&["link", "set", &name, "txqueuelen", "8"])?;
    no_ipv6_up(&name)?;
    let lossless = format!("/sys/class/net/{name}/rtun_lossless");
    let has_lossless = fs::metadata(&lossless).is_ok();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (stop, name) = (stop.clone(), name.clone());
        thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let _ = packet_send(&name, 0x0800, &flow_frame(i));
                i = i.wrapping_add(1);
            }
        })
    };
    let readers: Vec<_> = files
        .iter()
        .map(|f| {
            let (stop, mut f) = (stop.clone(), f.try_clone().map_err(|e| e.to_string()));
            thread::spawn(move || {
                let Ok(f) = f.as_mut() else { return };
                let mut buf = [0u8; 200];
                while !stop.load(Ordering::Relaxed) {
                    if f.read(&mut buf).is_err() {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    for round in 0..40 {
        if has_lossless {
            fs::write(&lossless, if round % 2 == 0 { "1" } else { "0" })
                .map_err(|e| e.to_string())?;
        }
        let q = &files[round % 4];
        let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
        ioctl_ptr(q, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
        thread::sleep(Duration::from_millis(20));
        let mut ifr = IfReq::new("", IFF_ATTACH_QUEUE);
        ioctl_ptr(q, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    }
    if has_lossless {
        fs::write(&lossless, "1").map_err(|e| e.to_string())?;
    }
    stop.store(true, Ordering::Relaxed);
    flood.join().map_err(|_| "flood panicked")?;
    for r in readers {
        r.join().map_err(|_| "reader panicked")?;
    }
    // Drain, then every queue must still pass traffic.
    thread::sleep(Duration::from_millis(200));
    let mut buf = [0u8; 200];
    for _ in 0..3 {
        for f in &files {
            while (&*f).read(&mut buf).is_ok() {}
        }
        thread::sleep(Duration::from_millis(100));
    }
    let qdisc = run("tc", &["-s", "qdisc", "show", "dev", &name])?;
    ensure!(
        qdisc
            .lines()
            .filter(|l| l.contains("backlog"))
            .all(|l| l.contains("backlog 0b 0p")),
        "packets held back after the flood: {qdisc}"
    );
    let mut seen = [false; 4];
    for i in 0..200u32 {
        packet_send(&name, 0x0800, &flow_frame(i + 0x1000))?;
        thread::sleep(Duration::from_millis(2));
        for (k, q) in files.iter().enumerate() {
            while (&*q).read(&mut buf).is_ok() {
                seen[k] = true;
            }
        }
        if seen.iter().all(|&s| s) {
            break;
        }
    }
    ensure!(
        seen.iter().all(|&s| s),
        "queues passing traffic after the flood: {seen:?}"
    );
    Ok(())
}

/// A `TUNSETIFINDEX` request is used up when the file attaches, even if
/// the device then fails to register: asking for lo's index fails with
/// `EBUSY`, and the next `TUNSETIFF` lets the kernel choose. (tun.c gets
/// there by a union of the request with `queue_index`; see
/// `docs/conformance.md` for where that aliasing differs.)
fn ifindex_request_used_up_by_attach(_: &Ctx) -> TestResult {
    let f = open_tun().map_err(|e| e.to_string())?;
    let mut lo = 1i32;
    ioctl_ptr(&f, TUNSETIFINDEX, &mut lo).map_err(errno_name)?;
    let mut ifr = IfReq::new("rtifidx", IFF_TUN | IFF_NO_PI);
    expect_errno(
        ioctl_ptr(&f, TUNSETIFF, &mut ifr),
        libc::EBUSY,
        "TUNSETIFF with ifindex 1",
    )?;
    let mut ifr = IfReq::new("rtifidx", IFF_TUN | IFF_NO_PI);
    ioctl_ptr(&f, TUNSETIFF, &mut ifr).map_err(|e| format!("retry: {}", errno_name(e)))?;
    let idx = sysfs_u64("rtifidx", "ifindex")?;
    ensure!(idx != 1, "the retry took ifindex 1");
    Ok(())
}

/// With `IFF_NAPI`, a write to a queue detached by `TUNSETQUEUE` fails with
/// `EBUSY` (its NAPI context is disabled) and counts no drop; an attached
/// queue of the same device takes the packet. Without `IFF_NAPI` the
/// detached queue's write goes through. Found by the fuzzer (seed 51).
fn napi_write_on_detached_queue_busy(_: &Ctx) -> TestResult {
    for (napi, want) in [(IFF_NAPI, Err(libc::EBUSY)), (0, Ok(20))] {
        let flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | napi;
        let (mut a, name) = tun_create("rtnapi%d", flags)?;
        let (mut b, _) = tun_create(&name, flags)?;
        no_ipv6_up(&name)?;
        let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
        ioctl_ptr(&a, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
        let r = io_errno(a.write(&ipv4_packet()));
        ensure!(
            r == want,
            "{name} ({napi:#x}): detached write {r:?}, want {want:?}"
        );
        let r = io_errno(b.write(&ipv4_packet()));
        ensure!(r == Ok(20), "{name}: attached write {r:?}");
        let dropped = sysfs_u64(&name, "statistics/rx_dropped")?;
        ensure!(dropped == 0, "{name}: rx_dropped {dropped}");
    }
    Ok(())
}

/// A socket filter set while a device has no attached queue is only a
/// user pointer (`tun->fprog`), read again for each queue that attaches.
/// When that read fails, tun.c attaches the queue unfiltered: a new queue
/// gets 0, a re-enabled one gets the error although it is attached too.
/// Found by the fuzzer (seed 578).
fn filter_that_fails_to_reattach(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    let (a, name) = tun_create("rtfltfail%d", flags)?;
    let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
    ioctl_ptr(&a, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    // One instruction at address 8: unreadable.
    let mut fprog = sock_fprog(1, 8);
    ioctl_ptr(&a, TUNATTACHFILTER, fprog.as_mut_ptr())
        .map_err(|e| format!("TUNATTACHFILTER with no queue: {}", errno_name(e)))?;
    let (_b, _) = tun_create(&name, flags).map_err(|e| format!("new queue: {e}"))?;
    ensure!(queue_count(&name, "rx-") == 1, "new queue not attached");
    let mut ifr = IfReq::new("", IFF_ATTACH_QUEUE);
    expect_errno(
        ioctl_ptr(&a, TUNSETQUEUE, &mut ifr),
        libc::EFAULT,
        "re-enabling a queue",
    )?;
    let rx = queue_count(&name, "rx-");
    ensure!(
        rx == 2,
        "re-enabled queue: {rx} rx queues, want 2 (attached)"
    );
    Ok(())
}
