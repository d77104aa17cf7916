// SPDX-License-Identifier: GPL-2.0

//! TUN and TAP devices: `TUNSETIFF` and its errors, `TUNGETIFF`,
//! persistence, and packets both ways through read, write and poll.
//!
//! Each test names its devices `rt<test>` so that they never collide, and
//! every device it makes is gone when its files close.

use std::{
    fs,
    io::{Read, Write},
    path::Path,
    thread,
    time::Duration,
};

use crate::{ensure, packet::*, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    setiff_tun_template,
    setiff_tap_template,
    setiff_named,
    setiff_errors,
    setiff_attach_rules,
    getiff,
    persist,
    ip_tuntap_add_del,
    ip_detail_link_info,
    unattached_read_write_poll,
    tun_ping_no_pi,
    tun_ping_pi,
    tun_ping6,
    tun_busybox_ping_answered,
    tun_read_truncated,
    tun_blocking_read_woken,
    tun_write_errors,
    tap_arp_reply,
    tun_vnet_hdr_ping,
    tun_vnet_hdr_read_offloads,
    tap_vnet_hdr_read_vlan_csum,
    txqueuelen_sizes_ring,
    sigio_on_packet,
    device_has_a_qdisc,
    burst_default_drops_lossless_does_not,
    tap_vnet_hdr_errors,
    link_del_under_reader,
    blocked_reader_woken_by_delete,
    blocked_read_interrupted,
    sndbuf_limits_poll,
];

fn gone(name: &str) -> bool {
    !Path::new(&format!("/sys/class/net/{name}")).exists()
}

/// `tun%d` by default, a point-to-point device without ARP or link header,
/// gone when its only file closes.
fn setiff_tun_template(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("", IFF_TUN | IFF_NO_PI)?;
    ensure!(name.starts_with("tun"), "name {name:?}");
    ensure!(sysfs(&name, "type")? == "65534", "type is not ARPHRD_NONE");
    let flags = u32::from_str_radix(sysfs(&name, "flags")?.trim_start_matches("0x"), 16)
        .map_err(|e| e.to_string())?;
    // IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST
    ensure!(flags & 0x1090 == 0x1090, "flags {flags:#x}");
    ensure!(sysfs(&name, "mtu")? == "1500", "mtu");
    ensure!(sysfs(&name, "tx_queue_len")? == "500", "tx_queue_len");
    drop(f);
    ensure!(gone(&name), "{name} still exists after close");
    Ok(())
}

/// `tap%d` by default: an Ethernet device with a random address.
fn setiff_tap_template(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("", IFF_TAP | IFF_NO_PI)?;
    ensure!(name.starts_with("tap"), "name {name:?}");
    ensure!(sysfs(&name, "type")? == "1", "type is not ARPHRD_ETHER");
    ensure!(
        sysfs(&name, "addr_assign_type")? == "1",
        "address is not random"
    );
    let addr = sysfs(&name, "address")?;
    let first = u8::from_str_radix(&addr[..2], 16).map_err(|e| e.to_string())?;
    ensure!(
        first & 1 == 0 && first & 2 == 2,
        "address {addr} not local unicast"
    );
    drop(f);
    ensure!(gone(&name), "{name} still exists after close");
    Ok(())
}

/// A template of the user's, and a plain name; TUN wins when both type
/// flags are given.
fn setiff_named(_: &Ctx) -> TestResult {
    let (f1, n1) = tun_create("rtnamed%d", IFF_TUN | IFF_NO_PI)?;
    ensure!(n1 == "rtnamed0", "template gave {n1:?}");
    let (f2, n2) = tun_create("rtnamed%d", IFF_TUN | IFF_NO_PI)?;
    ensure!(n2 == "rtnamed1", "second template gave {n2:?}");
    let (f3, n3) = tun_create("rtnamedx", IFF_TUN | IFF_TAP | IFF_NO_PI)?;
    ensure!(n3 == "rtnamedx", "name {n3:?}");
    ensure!(sysfs(&n3, "type")? == "65534", "TUN|TAP made a TAP device");
    drop((f1, f2, f3));
    Ok(())
}

/// Neither type flag, or `IFF_NAPI_FRAGS` without `IFF_NAPI` and TAP (the
/// type bits are `TUN_TYPE_MASK`, `0x000f`: an undefined one beside
/// `IFF_TAP` is no TAP), is invalid; a second `TUNSETIFF` on an attached
/// file is `EEXIST`. Found by the fuzzer (seed 45).
fn setiff_errors(_: &Ctx) -> TestResult {
    expect_errno(tun_create_err("rterr0", 0), libc::EINVAL, "no type")?;
    expect_errno(
        tun_create_err("rterr0", IFF_NO_PI),
        libc::EINVAL,
        "NO_PI only",
    )?;
    expect_errno(
        tun_create_err("rterr0", IFF_TAP | IFF_NAPI_FRAGS),
        libc::EINVAL,
        "NAPI_FRAGS without NAPI",
    )?;
    expect_errno(
        tun_create_err("rterr0", IFF_TUN | IFF_NAPI | IFF_NAPI_FRAGS),
        libc::EINVAL,
        "NAPI_FRAGS on TUN",
    )?;
    for bit in [0x4, 0x8] {
        expect_errno(
            tun_create_err("rterr0", IFF_TAP | bit | IFF_NAPI | IFF_NAPI_FRAGS),
            libc::EINVAL,
            &format!("NAPI_FRAGS on TAP with type bit {bit:#x}"),
        )?;
    }
    ensure!(gone("rterr0"), "a failed TUNSETIFF left a device");
    let (f, _) = tun_create("rterr1", IFF_TUN)?;
    let mut ifr = IfReq::new("rterr2", IFF_TUN);
    expect_errno(
        ioctl_ptr(&f, TUNSETIFF, &mut ifr),
        libc::EEXIST,
        "second TUNSETIFF",
    )?;
    expect_errno(
        ioctl_ptr(&f, TUNSETIFINDEX, &mut 5i32),
        libc::EPERM,
        "TUNSETIFINDEX attached",
    )?;
    ensure!(gone("rterr2"), "second TUNSETIFF made a device");
    Ok(())
}

/// Attaching to an existing device: one queue only unless multi-queue, the
/// type and multi-queue flag must match, `IFF_TUN_EXCL` refuses.
fn setiff_attach_rules(_: &Ctx) -> TestResult {
    let (_f, name) = tun_create("rtattach", IFF_TUN | IFF_NO_PI)?;
    expect_errno(
        tun_create_err(&name, IFF_TUN | IFF_NO_PI),
        libc::EBUSY,
        "second queue",
    )?;
    expect_errno(
        tun_create_err(&name, IFF_TAP | IFF_NO_PI),
        libc::EINVAL,
        "TAP on TUN",
    )?;
    expect_errno(
        tun_create_err(&name, IFF_TUN | IFF_MULTI_QUEUE),
        libc::EINVAL,
        "multi-queue on single",
    )?;
    expect_errno(
        tun_create_err(&name, IFF_TUN | IFF_TUN_EXCL),
        libc::EBUSY,
        "TUN_EXCL",
    )?;
    expect_errno(tun_create_err("lo", IFF_TUN), libc::EINVAL, "TUNSETIFF lo")?;
    Ok(())
}

/// `TUNGETIFF` reports the name and the device's flags, with
/// `IFF_NOFILTER` (the same bit as `IFF_NO_PI`) when no filter is attached.
fn getiff(_: &Ctx) -> TestResult {
    for (flags, want) in [
        (IFF_TUN, IFF_TUN | IFF_NOFILTER),
        (
            IFF_TAP | IFF_VNET_HDR,
            IFF_TAP | IFF_VNET_HDR | IFF_NOFILTER,
        ),
        (
            IFF_TUN | IFF_NO_PI | IFF_ONE_QUEUE,
            IFF_TUN | IFF_NO_PI | IFF_ONE_QUEUE,
        ),
    ] {
        let (f, name) = tun_create("rtgetiff", flags)?;
        let ifr = crate::sys::getiff(&f).map_err(errno_name)?;
        ensure!(
            ifr.name() == name,
            "TUNGETIFF name {:?}, want {name:?}",
            ifr.name()
        );
        let got = ifr.flags as u16 as u32;
        ensure!(
            got == want,
            "TUNGETIFF flags {got:#x}, want {want:#x} for {flags:#x}"
        );
    }
    Ok(())
}

/// A persistent device survives its file, can be attached again, and goes
/// when persistence is cleared and the last file closes.
fn persist(ctx: &Ctx) -> TestResult {
    let refs = || fs::read_to_string(format!("/sys/module/{}/refcnt", ctx.module_name));
    let (f, name) = tun_create("rtpersist", IFF_TAP | IFF_NO_PI)?;
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
    let mut ifr = IfReq::default();
    ioctl_ptr(&f, TUNGETIFF, &mut ifr).map_err(errno_name)?;
    ensure!(
        ifr.flags as u16 as u32 & IFF_PERSIST != 0,
        "TUNGETIFF lacks IFF_PERSIST"
    );
    drop(f);
    ensure!(!gone(&name), "persistent device went with its file");
    ensure!(
        sysfs(&name, "carrier").is_err(),
        "carrier readable with no queue (should be down)"
    );
    expect_errno(
        crate::sys::rmmod(&ctx.module_name),
        libc::EWOULDBLOCK,
        "rmmod with a persistent device",
    )?;
    let (f, again) = tun_create(&name, IFF_TAP | IFF_NO_PI)?;
    ensure!(again == name, "reattach gave {again:?}");
    ioctl_val(&f, TUNSETPERSIST, 0).map_err(errno_name)?;
    drop(f);
    ensure!(gone(&name), "device stayed after persistence was cleared");
    let _ = refs();
    Ok(())
}

/// iproute2's `ip tuntap` (TUNSETIFF + TUNSETPERSIST) adds and deletes.
fn ip_tuntap_add_del(_: &Ctx) -> TestResult {
    for mode in ["tun", "tap"] {
        ip(&[
            "tuntap", "add", "dev", "rttuntap", "mode", mode, "user", "1000",
        ])?;
        ensure!(!gone("rttuntap"), "ip tuntap add {mode} made no device");
        let show = ip(&["tuntap", "show", "dev", "rttuntap"])?;
        ensure!(
            show.contains(&format!("rttuntap: {mode} persist user 1000")),
            "ip tuntap show: {show:?}"
        );
        let want_flags = if mode == "tun" { "0x1801" } else { "0x1802" };
        ensure!(sysfs("rttuntap", "tun_flags")? == want_flags, "tun_flags");
        ensure!(sysfs("rttuntap", "owner")? == "1000", "owner");
        ensure!(sysfs("rttuntap", "group")? == "-1", "group");
        ip(&["tuntap", "del", "dev", "rttuntap", "mode", mode])?;
        ensure!(gone("rttuntap"), "ip tuntap del {mode} left the device");
    }
    Ok(())
}

/// Without a device: read and write are `EBADFD`, poll says `POLLERR`.
fn unattached_read_write_poll(_: &Ctx) -> TestResult {
    let mut f = open_tun().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    expect_errno(io_errno(f.read(&mut buf)), libc::EBADFD, "read")?;
    expect_errno(io_errno(f.write(&buf)), libc::EBADFD, "write")?;
    let ev = poll1(&f, libc::POLLIN | libc::POLLOUT, 0);
    ensure!(ev & libc::POLLERR != 0, "poll gave {ev:#x}, want POLLERR");
    Ok(())
}

/// A TUN device with address `a.b.c.1` and peer `.2`, up.
fn tun_up(name: &str, flags: u32, net: u8) -> Result<(fs::File, String), String> {
    let (f, name) = tun_create(name, flags)?;
    addr_up(&name, net)?;
    Ok((f, name))
}

/// Gives `name` address `10.<net>.0.1` with peer `.2` and brings it up.
fn addr_up(name: &str, net: u8) -> TestResult {
    let (me, peer) = (format!("10.{net}.0.1"), format!("10.{net}.0.2"));
    ip(&["addr", "add", &me, "peer", &peer, "dev", name])?;
    ip(&["link", "set", name, "up"])?;
    Ok(())
}

/// Reads packets until `want` accepts one, for up to two seconds.
fn read_until(f: &mut fs::File, want: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 4096];
    for _ in 0..20 {
        if poll1(f, libc::POLLIN, 100) & libc::POLLIN == 0 {
            continue;
        }
        let n = f.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if want(&buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
    Err("no matching packet within 2 s".into())
}

/// A ping written into a TUN device is answered by the stack, and the
/// reply comes out of the device.
fn tun_ping_no_pi(_: &Ctx) -> TestResult {
    let (mut f, _name) = tun_up("rtping", IFF_TUN | IFF_NO_PI, 91)?;
    let (peer, me) = ([10, 91, 0, 2], [10, 91, 0, 1]);
    for seq in 1..=3u16 {
        let req = echo_request(peer, me, seq, b"rtun ping payload");
        let n = f.write(&req).map_err(|e| format!("write: {e}"))?;
        ensure!(n == req.len(), "write returned {n} of {}", req.len());
        read_until(&mut f, |p| is_echo_reply(p, peer, me, seq))?;
    }
    Ok(())
}

/// A real `ping` from the stack through a TUN device, answered by a
/// userspace responder reading and writing the device.
fn tun_busybox_ping_answered(_: &Ctx) -> TestResult {
    use std::sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc,
    };
    let (f, _name) = tun_up("rtresp", IFF_TUN | IFF_NO_PI, 97)?;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));
    let (stop2, answered2) = (stop.clone(), answered.clone());
    let responder = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop2.load(Ordering::Relaxed) {
            if poll1(&f, libc::POLLIN, 100) & libc::POLLIN == 0 {
                continue;
            }
            let Ok(n) = (&f).read(&mut buf) else { break };
            if let Some(reply) = echo_reply_for(&buf[..n]) {
                if (&f).write(&reply).is_ok() {
                    answered2.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let out = std::process::Command::new("busybox")
        .args(["ping", "-c", "3", "-W", "2", "10.97.0.2"])
        .output()
        .map_err(|e| format!("busybox ping: {e}"));
    stop.store(true, Ordering::Relaxed);
    responder.join().map_err(|_| "responder panicked")?;
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && stdout.contains("3 packets received"),
        "ping: {stdout}"
    );
    ensure!(
        answered.load(Ordering::Relaxed) == 3,
        "responder answered {}",
        answered.load(Ordering::Relaxed)
    );
    Ok(())
}

/// IPv6 through a TUN device: an ICMPv6 echo written without PI (the
/// protocol taken from the version nibble) is answered, and with PI the
/// reply carries `ETH_P_IPV6`.
fn tun_ping6(_: &Ctx) -> TestResult {
    for (flags, pi) in [(IFF_TUN | IFF_NO_PI, false), (IFF_TUN, true)] {
        let (mut f, name) = tun_create("rtping6", flags)?;
        ip(&["-6", "addr", "add", "fd00:85::1/64", "dev", &name, "nodad"])?;
        ip(&["link", "set", &name, "up"])?;
        let me: [u8; 16] = [0xfd, 0, 0, 0x85, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut peer = me;
        peer[15] = 2;
        let hdr = if pi { vec![0, 0, 0x86, 0xdd] } else { vec![] };
        let mut pkt = hdr.clone();
        pkt.extend(echo6_request(peer, me, 5, b"six"));
        ensure!(
            f.write(&pkt).map_err(|e| e.to_string())? == pkt.len(),
            "short write"
        );
        let off = hdr.len();
        let got = read_until(&mut f, |p| {
            p.len() > off && is_echo6_reply(&p[off..], peer, me, 5)
        })?;
        if pi {
            ensure!(got[..4] == [0, 0, 0x86, 0xdd], "PI header {:?}", &got[..4]);
        }
        drop(f);
    }
    Ok(())
}

/// With the PI header: `{flags, proto}` in front, both ways.
fn tun_ping_pi(_: &Ctx) -> TestResult {
    let (mut f, _name) = tun_up("rtpingpi", IFF_TUN, 92)?;
    let (peer, me) = ([10, 92, 0, 2], [10, 92, 0, 1]);
    let mut pkt = vec![0, 0, 0x08, 0x00];
    pkt.extend(echo_request(peer, me, 7, b"with pi"));
    ensure!(
        f.write(&pkt).map_err(|e| e.to_string())? == pkt.len(),
        "short write"
    );
    let got = read_until(&mut f, |p| {
        p.len() > 4 && is_echo_reply(&p[4..], peer, me, 7)
    })?;
    ensure!(got[..4] == [0, 0, 0x08, 0x00], "PI header {:?}", &got[..4]);
    Ok(())
}

/// A buffer shorter than the packet gets its first bytes; with PI the
/// header says `TUN_PKT_STRIP`; shorter than the PI header is `EINVAL`.
fn tun_read_truncated(_: &Ctx) -> TestResult {
    let (f, _name) = tun_up("rttrunc", IFF_TUN, 93)?;
    let (peer, me) = ([10, 93, 0, 2], [10, 93, 0, 1]);
    let send = |seq: u16| -> TestResult {
        let mut pkt = vec![0, 0, 0x08, 0x00];
        pkt.extend(echo_request(peer, me, seq, &[0x5a; 100]));
        (&f).write(&pkt).map_err(|e| e.to_string())?;
        Ok(())
    };
    send(1)?;
    // Other traffic (IPv6 and the like) may come first: look at a reply.
    let mut buf = [0u8; 30];
    let mut found = false;
    for _ in 0..20 {
        if poll1(&f, libc::POLLIN, 100) & libc::POLLIN == 0 {
            continue;
        }
        let n = (&f).read(&mut buf).map_err(|e| e.to_string())?;
        if buf[4] >> 4 == 4 && buf[4 + 9] == 1 {
            ensure!(n == 30, "truncated read returned {n}");
            let flags = u16::from_ne_bytes([buf[0], buf[1]]);
            ensure!(flags == 1, "PI flags {flags:#x}, want TUN_PKT_STRIP");
            found = true;
            break;
        }
    }
    ensure!(found, "no reply read");
    send(2)?;
    ensure!(
        poll1(&f, libc::POLLIN, 2000) & libc::POLLIN != 0,
        "no second reply"
    );
    let mut tiny = [0u8; 3];
    expect_errno(
        io_errno((&f).read(&mut tiny)),
        libc::EINVAL,
        "read of 3 bytes with PI",
    )?;
    Ok(())
}

/// A reader blocked in `read` wakes when a packet arrives.
fn tun_blocking_read_woken(_: &Ctx) -> TestResult {
    let (f, _name) = tun_up("rtblock", IFF_TUN | IFF_NO_PI, 94)?;
    let (peer, me) = ([10, 94, 0, 2], [10, 94, 0, 1]);
    let mut reader = f.try_clone().map_err(|e| e.to_string())?;
    let t = thread::spawn(move || -> Result<bool, String> {
        let mut buf = [0u8; 2048];
        for _ in 0..50 {
            let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
            if is_echo_reply(&buf[..n], peer, me, 9) {
                return Ok(true);
            }
        }
        Ok(false)
    });
    thread::sleep(Duration::from_millis(300));
    let mut w = &f;
    w.write(&echo_request(peer, me, 9, b"wake"))
        .map_err(|e| e.to_string())?;
    ensure!(
        t.join().map_err(|_| "reader panicked")??,
        "reader never saw the reply"
    );
    Ok(())
}

/// Writes that tun refuses: too short for PI or Ethernet, not IP without
/// PI, and any write to a device that is down (`EIO`).
fn tun_write_errors(_: &Ctx) -> TestResult {
    let (mut pi, _n1) = tun_create("rtwerr0", IFF_TUN)?;
    expect_errno(
        io_errno(pi.write(&[0, 0, 8])),
        libc::EINVAL,
        "3 bytes with PI",
    )?;
    let (mut nopi, n2) = tun_create("rtwerr1", IFF_TUN | IFF_NO_PI)?;
    ip(&["link", "set", &n2, "up"])?;
    expect_errno(
        io_errno(nopi.write(&[0x50; 20])),
        libc::EINVAL,
        "IP version 5",
    )?;
    let (mut tap, n3) = tun_create("rtwerr2", IFF_TAP | IFF_NO_PI)?;
    ip(&["link", "set", &n3, "up"])?;
    expect_errno(
        io_errno(tap.write(&[0xff; 13])),
        libc::EINVAL,
        "13-byte frame",
    )?;
    ip(&["link", "set", &n2, "down"])?;
    let req = echo_request([10, 95, 0, 2], [10, 95, 0, 1], 1, b"down");
    expect_errno(
        io_errno(nopi.write(&req)),
        libc::EIO,
        "write to a down device",
    )?;
    Ok(())
}

/// A TAP device answers ARP for its address: Ethernet both ways.
fn tap_arp_reply(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtarp", IFF_TAP | IFF_NO_PI)?;
    ip(&["addr", "add", "10.96.0.1/24", "dev", &name])?;
    ip(&["link", "set", &name, "up"])?;
    let mac = sysfs(&name, "address")?;
    let peer_mac = [0x02, 0, 0, 0, 0, 0x42];
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&peer_mac);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&peer_mac);
    arp.extend_from_slice(&[10, 96, 0, 2]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 96, 0, 1]);
    ensure!(
        f.write(&arp).map_err(|e| e.to_string())? == arp.len(),
        "short write"
    );
    let reply = read_until(&mut f, |p| {
        p.len() >= 42 && p[12..14] == [0x08, 0x06] && p[21] == 2
    })?;
    ensure!(reply[..6] == peer_mac, "reply not addressed to the asker");
    let sha: Vec<String> = reply[22..28].iter().map(|b| format!("{b:02x}")).collect();
    ensure!(
        sha.join(":") == mac,
        "reply from {} not {mac}",
        sha.join(":")
    );
    ensure!(
        reply[28..32] == [10, 96, 0, 1],
        "reply for the wrong address"
    );
    Ok(())
}

/// `ip link del` under an open file: the device goes, the file stays with
/// `EBADFD` for read and write and `POLLERR` for poll.
fn link_del_under_reader(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtdel", IFF_TUN | IFF_NO_PI)?;
    ip(&["link", "del", &name])?;
    ensure!(gone(&name), "ip link del left the device");
    let mut buf = [0u8; 64];
    expect_errno(
        io_errno(f.read(&mut buf)),
        libc::EBADFD,
        "read after delete",
    )?;
    expect_errno(io_errno(f.write(&buf)), libc::EBADFD, "write after delete")?;
    let ev = poll1(&f, libc::POLLIN, 0);
    ensure!(ev & libc::POLLERR != 0, "poll after delete gave {ev:#x}");
    Ok(())
}

/// With `IFF_VNET_HDR` a virtio-net header precedes every packet both ways,
/// `TUNSETVNETHDRSZ` bytes long.
fn tun_vnet_hdr_ping(_: &Ctx) -> TestResult {
    let (mut f, _name) = tun_up("rtvnetping", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, 98)?;
    let (peer, me) = ([10, 98, 0, 2], [10, 98, 0, 1]);
    for (sz, seq) in [(10usize, 1u16), (12, 2)] {
        let mut s = sz as i32;
        ioctl_ptr(&f, TUNSETVNETHDRSZ, &mut s).map_err(errno_name)?;
        let mut pkt = vec![0u8; sz];
        pkt.extend(echo_request(peer, me, seq, b"vnet"));
        ensure!(
            f.write(&pkt).map_err(|e| e.to_string())? == pkt.len(),
            "short write"
        );
        let got = read_until(&mut f, |p| {
            p.len() > sz && is_echo_reply(&p[sz..], peer, me, seq)
        })?;
        ensure!(got[1] == 0, "gso_type {} for a plain reply", got[1]);
        ensure!(got[0] & !2 == 0, "vnet flags {:#x}", got[0]);
    }
    Ok(())
}

/// The header a reader gets says what the stack left undone: nothing
/// without offloads, the UDP checksum to complete with `TUN_F_CSUM`, and a
/// UDP GSO super-packet to segment with `TUN_F_USO4|6` (the three cases of
/// `virtio_net_hdr_from_skb`: plain, checksum partial, GSO).
fn tun_vnet_hdr_read_offloads(_: &Ctx) -> TestResult {
    let (mut f, _name) = tun_up("rtvnetoff", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, 95)?;
    let sock = std::net::UdpSocket::bind("10.95.0.1:0").map_err(|e| e.to_string())?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    let u16_at = |h: &[u8], at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
    let cases: [(u64, u16, usize, [u8; 2], u16); 3] = [
        // offloads, UDP_SEGMENT, payload, (flags, gso_type), gso_size
        (0, 0, 100, [0, 0], 0),
        (TUN_F_CSUM, 0, 100, [VIRTIO_NET_HDR_F_NEEDS_CSUM, 0], 0),
        (
            TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6,
            1000,
            3000,
            [VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4],
            1000,
        ),
    ];
    for (offloads, segment, payload, flags_type, gso_size) in cases {
        ioctl_val(&f, TUNSETOFFLOAD, offloads).map_err(errno_name)?;
        let seg = libc::c_int::from(segment);
        // SAFETY: A valid socket and option value.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&seg as *const libc::c_int).cast(),
                core::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        ensure!(r == 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
        sock.send_to(&vec![0x5a; payload], "10.95.0.2:9")
            .map_err(|e| e.to_string())?;
        // The datagram from our port: IPv4, UDP, source port at 20.
        let got = read_until(&mut f, |p| {
            p.len() >= 10 + 28 && p[10] >> 4 == 4 && p[19] == 17 && p[30..32] == port.to_be_bytes()
        })?;
        let (h, pkt) = got.split_at(10);
        ensure!(
            pkt.len() == 28 + payload,
            "{offloads:#x}: {} bytes",
            pkt.len()
        );
        ensure!(
            h[..2] == flags_type && u16_at(h, 4) == gso_size,
            "{offloads:#x}: header {h:02x?}"
        );
        let csum = if flags_type[0] == 0 { (0, 0) } else { (20, 6) };
        ensure!(
            (u16_at(h, 6), u16_at(h, 8)) == csum,
            "{offloads:#x}: csum_start/offset in {h:02x?}"
        );
        // `hdr_len` hints how much is linear, for GSO only.
        let hdr_len = usize::from(u16_at(h, 2));
        ensure!(
            if gso_size == 0 {
                hdr_len == 0
            } else {
                (28..=pkt.len()).contains(&hdr_len)
            },
            "{offloads:#x}: hdr_len {hdr_len}"
        );
    }
    Ok(())
}

/// A checksum-partial packet sent through a VLAN on a TAP leaves with its
/// tag put back into the frame, and the header's `csum_start` counts the
/// tag's 4 bytes (`virtio_net_hdr_from_skb`'s `vlan_hlen`).
fn tap_vnet_hdr_read_vlan_csum(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtvnetvlan", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)?;
    ioctl_val(&f, TUNSETOFFLOAD, TUN_F_CSUM).map_err(errno_name)?;
    let vlan = "rtvnetvlan.5";
    ip(&[
        "link", "add", "link", &name, "name", vlan, "type", "vlan", "id", "5",
    ])?;
    ip(&["addr", "add", "10.85.0.1/24", "dev", vlan])?;
    ip(&["link", "set", &name, "up"])?;
    ip(&["link", "set", vlan, "up"])?;
    ip(&[
        "neigh",
        "add",
        "10.85.0.2",
        "lladdr",
        "02:00:00:00:85:02",
        "dev",
        vlan,
    ])?;
    let sock = std::net::UdpSocket::bind("10.85.0.1:0").map_err(|e| e.to_string())?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    sock.send_to(&[0x5a; 100], "10.85.0.2:9")
        .map_err(|e| e.to_string())?;
    // An 802.1Q frame of VLAN 5 holding our IPv4 UDP datagram: after the
    // 10-byte header, MACs, the tag (0x8100, TCI) and the inner type.
    let got = read_until(&mut f, |p| {
        p.len() >= 10 + 18 + 28
            && p[22..24] == [0x81, 0x00]
            && p[24..26] == [0x00, 0x05]
            && p[26..28] == [0x08, 0x00]
            && p[28 + 9] == 17
            && p[48..50] == port.to_be_bytes()
    })?;
    let h = &got[..10];
    let u16_at = |at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
    ensure!(
        h[0] == VIRTIO_NET_HDR_F_NEEDS_CSUM && h[1] == 0,
        "header {h:02x?}"
    );
    // Ethernet 14 + tag 4 + IPv4 20: the UDP header; its checksum at 6.
    ensure!(
        (u16_at(6), u16_at(8)) == (38, 6),
        "csum_start/offset in {h:02x?}"
    );
    Ok(())
}

/// The virtio-net header's lengths are checked against the packet.
fn tap_vnet_hdr_errors(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rtvneterr", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)?;
    ip(&["link", "set", &name, "up"])?;
    expect_errno(
        io_errno(f.write(&[0u8; 9])),
        libc::EINVAL,
        "shorter than the header",
    )?;
    let frame = |hdr_len: u16, flags: u8, csum: (u16, u16)| {
        let mut p = vec![flags, 0];
        p.extend_from_slice(&hdr_len.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend_from_slice(&csum.0.to_le_bytes());
        p.extend_from_slice(&csum.1.to_le_bytes());
        p.extend_from_slice(&[0xff; 6]);
        p.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
        p.extend_from_slice(&[0u8; 46]);
        p
    };
    expect_errno(
        io_errno(f.write(&frame(61, 0, (0, 0)))),
        libc::EINVAL,
        "hdr_len beyond frame",
    )?;
    expect_errno(
        io_errno(f.write(&frame(5, 0, (0, 0)))),
        libc::EINVAL,
        "hdr_len below ETH_HLEN",
    )?;
    // NEEDS_CSUM raises hdr_len to csum_start + csum_offset + 2.
    expect_errno(
        io_errno(f.write(&frame(14, 1, (50, 10)))),
        libc::EINVAL,
        "csum end beyond frame",
    )?;
    let ok = frame(0, 0, (0, 0));
    ensure!(
        f.write(&ok).map_err(|e| e.to_string())? == ok.len(),
        "plain frame refused"
    );
    Ok(())
}

/// The ring holds `tx_queue_len` packets: changing it resizes the ring,
/// and what does not fit is dropped and counted.
fn txqueuelen_sizes_ring(_: &Ctx) -> TestResult {
    let (mut f, name) = tun_create("rttxqlen", IFF_TUN | IFF_NO_PI)?;
    // No IPv6 chatter in the ring.
    fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&[
        "addr",
        "add",
        "10.89.0.1",
        "peer",
        "10.89.0.2",
        "dev",
        &name,
    ])?;
    ip(&["link", "set", &name, "up", "txqueuelen", "4"])?;
    let dropped_before: u64 = sysfs(&name, "statistics/tx_dropped")?.parse().unwrap_or(0);
    let sock = std::net::UdpSocket::bind("10.89.0.1:0").map_err(|e| e.to_string())?;
    for _ in 0..20 {
        sock.send_to(b"fill", "10.89.0.2:9")
            .map_err(|e| e.to_string())?;
    }
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while poll1(&f, libc::POLLIN, 50) & libc::POLLIN != 0 {
        f.read(&mut buf).map_err(|e| e.to_string())?;
        got += 1;
    }
    ensure!(got == 4, "read {got} packets from a 4-slot ring");
    let dropped: u64 = sysfs(&name, "statistics/tx_dropped")?.parse().unwrap_or(0);
    ensure!(
        dropped - dropped_before == 16,
        "tx_dropped rose by {}",
        dropped - dropped_before
    );
    ip(&["link", "set", &name, "txqueuelen", "500"])?;
    for _ in 0..20 {
        sock.send_to(b"fill", "10.89.0.2:9")
            .map_err(|e| e.to_string())?;
    }
    let mut got = 0;
    while poll1(&f, libc::POLLIN, 50) & libc::POLLIN != 0 {
        f.read(&mut buf).map_err(|e| e.to_string())?;
        got += 1;
    }
    ensure!(got == 20, "read {got} of 20 after growing the ring");
    Ok(())
}

static SIGIOS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn on_sigio(_: libc::c_int) {
    SIGIOS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// With `O_ASYNC` the process gets SIGIO when a packet is queued, and no
/// more once it is turned off.
fn sigio_on_packet(_: &Ctx) -> TestResult {
    use std::{os::fd::AsRawFd, sync::atomic::Ordering};
    let (f, _name) = tun_up("rtsigio", IFF_TUN | IFF_NO_PI, 88)?;
    // SAFETY: Installs an async-signal-safe handler.
    unsafe { libc::signal(libc::SIGIO, on_sigio as *const () as libc::sighandler_t) };
    let fd = f.as_raw_fd();
    // SAFETY: Plain fcntl calls on our descriptor.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: As above.
    ensure!(
        unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_ASYNC) } == 0,
        "F_SETFL O_ASYNC"
    );
    let before = SIGIOS.load(Ordering::Relaxed);
    let sock = std::net::UdpSocket::bind("10.88.0.1:0").map_err(|e| e.to_string())?;
    sock.send_to(b"sigio", "10.88.0.2:9")
        .map_err(|e| e.to_string())?;
    thread::sleep(Duration::from_millis(100));
    let after = SIGIOS.load(Ordering::Relaxed);
    // SAFETY: As above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, fl) };
    sock.send_to(b"quiet", "10.88.0.2:9")
        .map_err(|e| e.to_string())?;
    thread::sleep(Duration::from_millis(100));
    let last = SIGIOS.load(Ordering::Relaxed);
    // SAFETY: Restores the default disposition.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_DFL) };
    ensure!(after > before, "no SIGIO for a queued packet");
    ensure!(last == after, "SIGIO after O_ASYNC was cleared");
    Ok(())
}

/// A reader blocked in `read` when the device is deleted wakes up with
/// tun.c's error for a queue shut down under it (`EFAULT`), and the file
/// then reads `EBADFD`.
fn blocked_reader_woken_by_delete(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtdelwake", IFF_TUN | IFF_NO_PI)?;
    fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&["link", "set", &name, "up"])?;
    let mut reader = f.try_clone().map_err(|e| e.to_string())?;
    let t = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        io_errno(reader.read(&mut buf))
    });
    thread::sleep(Duration::from_millis(300));
    ip(&["link", "del", &name])?;
    let r = t.join().map_err(|_| "reader panicked")?;
    expect_errno(r, libc::EFAULT, "blocked read across delete")?;
    let mut buf = [0u8; 16];
    expect_errno(io_errno((&f).read(&mut buf)), libc::EBADFD, "read after")?;
    Ok(())
}

/// `ip -d link show` prints the kind's attributes (`IFLA_INFO_DATA`).
fn ip_detail_link_info(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    let (f, name) = tun_create("rtdetail", flags)?;
    let (_g, _) = tun_create("rtdetail", flags)?;
    ioctl_val(&f, TUNSETOWNER, 1000).map_err(errno_name)?;
    let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
    ioctl_ptr(&f, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    let all = ip(&["-d", "link", "show", "dev", &name])?;
    let out = all
        .lines()
        .find(|l| l.contains("tun type"))
        .unwrap_or("")
        .to_owned();
    // uid 1000 prints as its name when the passwd file has one.
    let user = uid_name(1000);
    for want in [
        "tun type tap",
        "pi off",
        "vnet_hdr on",
        "multi_queue",
        "numqueues 1",
        "numdisabled 1",
        "persist off",
        &user,
    ] {
        ensure!(out.contains(want), "no {want:?} in {out:?}");
    }
    ensure!(
        !out.contains(" group "),
        "group shown though unset: {out:?}"
    );
    let (_t, tname) = tun_create("rtdetail1", IFF_TUN)?;
    let out = ip(&["-d", "link", "show", "dev", &tname])?;
    ensure!(
        out.contains("tun type tun pi on vnet_hdr off"),
        "tun: {out:?}"
    );
    ensure!(
        !out.contains("numqueues"),
        "single queue shows numqueues: {out:?}"
    );
    Ok(())
}

/// `user NAME` as iproute2 prints uid `uid`: its passwd name, or the number.
fn uid_name(uid: u32) -> String {
    let name = fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
        })
    });
    format!("user {}", name.unwrap_or_else(|| uid.to_string()))
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// A signal interrupts a blocked read (`-ERESTARTSYS`, which user space
/// sees as `EINTR` when the handler is not `SA_RESTART`).
fn blocked_read_interrupted(_: &Ctx) -> TestResult {
    use std::os::unix::thread::JoinHandleExt;
    let (f, name) = tun_create("rtsigint", IFF_TUN | IFF_NO_PI)?;
    fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&["link", "set", &name, "up"])?;
    // SAFETY: A handler that does nothing, installed without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as libc::sighandler_t;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let mut reader = f.try_clone().map_err(|e| e.to_string())?;
    let t = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        io_errno(reader.read(&mut buf))
    });
    thread::sleep(Duration::from_millis(300));
    // SAFETY: The reader thread is alive (blocked in read).
    unsafe { libc::pthread_kill(t.as_pthread_t(), libc::SIGUSR1) };
    let r = t.join().map_err(|_| "reader panicked")?;
    // SAFETY: Restores the default disposition.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
    expect_errno(r, libc::EINTR, "blocked read on a signal")
}

/// Writes are charged to the queue's send buffer (`TUNSETSNDBUF`,
/// `sock_alloc_send_pskb`), and poll reports `EPOLLOUT` only while less
/// than half of it is in flight (`sock_writeable`). The socket counts one
/// unit of its own, so a buffer of 1 is never writable to poll; a write
/// still goes through while nothing is in flight (the allocation waits
/// only for bytes in flight, and a written packet leaves the send buffer
/// as soon as the stack has taken it).
fn sndbuf_limits_poll(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtsndbuf", IFF_TUN | IFF_NO_PI)?;
    fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&["addr", "add", "10.96.0.1/24", "dev", &name])?;
    ip(&["link", "set", &name, "up"])?;
    let packet = echo_request([10, 96, 0, 2], [10, 96, 0, 1], 1, b"sndbuf");
    let set_sndbuf = |v: i32| {
        let mut v = v;
        ioctl_ptr(&f, TUNSETSNDBUF, &mut v).map_err(errno_name)
    };
    set_nonblock(&f);
    for (sndbuf, writable) in [(1, false), (2, false), (4, true), (i32::MAX, true)] {
        set_sndbuf(sndbuf)?;
        let ev = poll1(&f, libc::POLLOUT, 0);
        ensure!(
            (ev & libc::POLLOUT != 0) == writable,
            "poll with sndbuf {sndbuf}: {ev:#x}"
        );
        let n = io_errno((&f).write(&packet)).map_err(errno_name)?;
        ensure!(n == packet.len(), "write with sndbuf {sndbuf}: {n}");
    }
    Ok(())
}

/// A burst from the stack into a slowly read device: tun drops what does
/// not fit the ring. rtun's opt-in lossless mode (`rtun_lossless`) stops
/// the queue instead, so the socket's send buffer holds the sender back and
/// nothing is lost.
fn burst_default_drops_lossless_does_not(ctx: &Ctx) -> TestResult {
    let burst = |name: &str, net: u8, lossless: bool| -> Result<(u32, u64), String> {
        let (f, name) = tun_create(name, IFF_TUN | IFF_NO_PI)?;
        fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
            .map_err(|e| e.to_string())?;
        if lossless {
            fs::write(format!("/sys/class/net/{name}/rtun_lossless"), "1")
                .map_err(|e| e.to_string())?;
        }
        addr_up(&name, net)?;
        let total = 3000u32;
        let dest = format!("10.{net}.0.2:9");
        let src = format!("10.{net}.0.1:0");
        let sender = thread::spawn(move || -> Result<(), String> {
            let s = std::net::UdpSocket::bind(src).map_err(|e| e.to_string())?;
            for _ in 0..total {
                s.send_to(&[0x5a; 36], &dest).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        // Without lossless mode the burst goes in before anything is read,
        // so that the ring overflows however the guest schedules the two.
        let sender = if lossless {
            Some(sender)
        } else {
            sender.join().map_err(|_| "sender panicked")??;
            None
        };
        let mut got = 0u32;
        let mut buf = [0u8; 2048];
        let mut idle = 0;
        while idle < 10 {
            if poll1(&f, libc::POLLIN, 50) & libc::POLLIN == 0 {
                idle += 1;
                continue;
            }
            idle = 0;
            (&f).read(&mut buf).map_err(|e| e.to_string())?;
            got += 1;
            if got % 50 == 0 {
                thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(sender) = sender {
            sender.join().map_err(|_| "sender panicked")??;
        }
        let dropped: u64 = sysfs(&name, "statistics/tx_dropped")?.parse().unwrap_or(0);
        Ok((got, dropped))
    };
    let (got, dropped) = burst("rtburst", 84, false)?;
    ensure!(
        dropped > 0 && got < 3000,
        "default mode: read {got}, dropped {dropped}"
    );
    if ctx.module_name == "rtun" {
        let (got, dropped) = burst("rtburst1", 83, true)?;
        ensure!(
            got == 3000 && dropped == 0,
            "lossless: read {got} of 3000, dropped {dropped}"
        );
    }
    Ok(())
}

/// tun devices get the default qdisc, not `noqueue`: their `tx_queue_len`
/// is set while they are allocated.
fn device_has_a_qdisc(_: &Ctx) -> TestResult {
    let (_f, name) = tun_create("rtqdisc", IFF_TUN | IFF_NO_PI)?;
    ip(&["link", "set", &name, "up"])?;
    let out = std::process::Command::new("tc")
        .args(["qdisc", "show", "dev", &name])
        .output()
        .map_err(|e| format!("tc: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(!text.contains("noqueue"), "qdisc: {text:?}");
    Ok(())
}
