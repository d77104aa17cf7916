// SPDX-License-Identifier: GPL-2.0

//! `IFF_NAPI`: frames written to a queue wait for the queue's NAPI poll,
//! which hands them to GRO, in softirq context or in the device's NAPI
//! threads (`/sys/class/net/DEV/threaded`).

use std::{
    fs,
    io::Write,
    os::fd::{AsRawFd, OwnedFd},
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    napi_gro_coalesces_when_threaded,
    napi_threaded_sysfs,
    napi_frags_writes,
    napi_frags_detached_queue_busy,
    sndbuf_full_until_napi_polls
];

/// A packet socket on one device that sees what the device receives, as
/// the stack hands it up: after GRO.
pub struct Incoming(OwnedFd);

impl Incoming {
    pub fn open(ifname: &str) -> Result<Self, String> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: Plain syscall.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK,
                i32::from(proto),
            )
        };
        ensure!(
            fd >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        let fd = own_fd(fd as i64);
        let name = std::ffi::CString::new(ifname).map_err(|e| e.to_string())?;
        // SAFETY: A NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        ensure!(ifindex != 0, "no interface {ifname}");
        // SAFETY: All-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: A valid address of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        ensure!(r == 0, "bind: {}", std::io::Error::last_os_error());
        Ok(Self(fd))
    }

    /// Every frame received so far (not those the device sent).
    pub fn drain(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 1 << 17];
        loop {
            // SAFETY: All-zero is a valid sockaddr_ll.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: Valid buffer and address.
            let n = unsafe {
                libc::recvfrom(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                return frames;
            }
            if sll.sll_pkttype != libc::PACKET_OUTGOING as u8 {
                frames.push(buf[..n as usize].to_vec());
            }
        }
    }
}

/// Sums 16-bit words into a ones'-complement accumulator.
fn sum16(data: &[u8], mut sum: u32) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const SRC: [u8; 4] = [10, 72, 0, 2];
const DST: [u8; 4] = [10, 72, 0, 1];
const SPORT: u16 = 40000;

/// Ethernet frame `i` of one TCP flow to `mac`: `len` payload bytes at
/// sequence number `1 + i * len`, ACK only, valid checksums, DF with
/// incrementing IP IDs: segments GRO may merge.
fn tcp_segment(mac: [u8; 6], i: u32, len: usize) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + len);
    tcp.extend_from_slice(&SPORT.to_be_bytes());
    tcp.extend_from_slice(&5001u16.to_be_bytes());
    tcp.extend_from_slice(&(1 + i * len as u32).to_be_bytes());
    tcp.extend_from_slice(&1u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend((0..len).map(|k| (k as u32 + i) as u8));
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&SRC);
    pseudo.extend_from_slice(&DST);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    let c = fold(sum16(&tcp, sum16(&pseudo, 0)));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&(i as u16).to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&SRC);
    ip.extend_from_slice(&DST);
    let c = fold(sum16(&ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = mac.to_vec();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0x72, 0x02, 0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

fn mac_of(name: &str) -> Result<[u8; 6], String> {
    let s = sysfs(name, "address")?;
    let mut mac = [0u8; 6];
    for (b, h) in mac.iter_mut().zip(s.trim().split(':')) {
        *b = u8::from_str_radix(h, 16).map_err(|e| format!("address {s}: {e}"))?;
    }
    Ok(mac)
}

/// Pins task `pid` (0: the calling thread) to CPU 0.
fn pin_cpu0(pid: i32) -> TestResult {
    // SAFETY: All-zero is a valid cpu_set_t; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: As above.
    unsafe { libc::CPU_SET(0, &mut set) };
    // SAFETY: A valid set of the given size.
    let r = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    ensure!(r == 0, "pinning {pid}: {}", std::io::Error::last_os_error());
    Ok(())
}

/// Runs the calling thread on CPU 0 as a real-time task (so nothing else
/// on CPU 0 runs until it sleeps), or back as a normal one.
fn hog_cpu0(on: bool) -> TestResult {
    pin_cpu0(0)?;
    let (policy, prio) = if on {
        (libc::SCHED_FIFO, 10)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: A valid parameter, for this thread.
    let r = unsafe { libc::sched_setscheduler(0, policy, &param) };
    ensure!(
        r == 0,
        "sched_setscheduler: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// The pids of the NAPI threads of device `name` (`napi/NAME-ID`).
fn napi_threads(name: &str) -> Vec<i32> {
    let prefix = format!("napi/{name}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            comm.starts_with(&prefix).then_some(pid)
        })
        .collect()
}

/// Writes `n` segments of one TCP flow to a NAPI TAP from a task that does
/// not yield CPU 0 until all are written, and returns the frames the stack
/// received (seen by a packet socket) and the device's `rx_packets` delta.
fn burst(f: &fs::File, name: &str, n: u32, len: usize) -> Result<(Vec<Vec<u8>>, u64), String> {
    let mac = mac_of(name)?;
    let segs: Vec<Vec<u8>> = (0..n).map(|i| tcp_segment(mac, i, len)).collect();
    let incoming = Incoming::open(name)?;
    let rx0 = sysfs_u64(name, "statistics/rx_packets")?;
    hog_cpu0(true)?;
    let mut wrote = Ok(());
    for s in &segs {
        if let Err(e) = (&*f).write(s) {
            wrote = Err(format!("write: {e}"));
            break;
        }
    }
    hog_cpu0(false)?;
    wrote?;
    sleep(Duration::from_millis(300));
    let rx = sysfs_u64(name, "statistics/rx_packets")? - rx0;
    let seen = incoming.drain().into_iter().filter(|fr| ours(fr)).collect();
    Ok((seen, rx))
}

/// Whether `frame` belongs to the test flow `tcp_segment` makes.
fn ours(frame: &[u8]) -> bool {
    frame.len() > 54 && frame[23] == 6 && frame[34..36] == SPORT.to_be_bytes()
}

/// The TCP payload bytes of the test flow among `frames`.
fn payload(frames: &[Vec<u8>]) -> usize {
    frames
        .iter()
        .filter(|f| ours(f))
        .map(|f| f.len() - 54)
        .sum()
}

/// The NAPI poll feeds GRO. Written from a task that keeps the CPU, 16
/// segments of one flow wait on the queue until its NAPI thread
/// (`threaded` on, the thread on the same CPU) polls them in one round:
/// GRO merges them, so the stack sees fewer, larger packets, every payload
/// byte there, while `rx_packets` counts the 16 frames written. Without
/// threads each write's poll runs as the write turns BH back on, one frame
/// a round: nothing to merge, 16 packets.
fn napi_gro_coalesces_when_threaded(_: &Ctx) -> TestResult {
    const N: u32 = 16;
    const LEN: usize = 1000;
    let (f, name) = tun_create("rtgro0", IFF_TAP | IFF_NO_PI | IFF_NAPI)?;
    no_ipv6_up(&name)?;

    let (seen, rx) = burst(&f, &name, N, LEN)?;
    ensure!(
        rx == u64::from(N),
        "unthreaded: rx_packets +{rx}, wrote {N}"
    );
    ensure!(
        seen.len() == N as usize,
        "unthreaded: the stack saw {} packets of {N} written one by one",
        seen.len()
    );

    fs::write(format!("/sys/class/net/{name}/threaded"), "1")
        .map_err(|e| format!("threaded=1: {e}"))?;
    let threads = napi_threads(&name);
    ensure!(threads.len() == 1, "NAPI threads of {name}: {threads:?}");
    pin_cpu0(threads[0])?;

    let (seen, rx) = burst(&f, &name, N, LEN)?;
    ensure!(rx == u64::from(N), "threaded: rx_packets +{rx}, wrote {N}");
    let payload = payload(&seen);
    ensure!(
        payload == N as usize * LEN,
        "threaded: {payload} payload bytes reached the stack, wrote {}",
        N as usize * LEN
    );
    ensure!(
        seen.len() < N as usize,
        "threaded: GRO merged nothing ({} packets)",
        seen.len()
    );
    println!(
        "# GRO: {N} segments reached the stack as {} packets",
        seen.len()
    );
    Ok(())
}

/// `threaded` needs NAPI contexts: refused (`EOPNOTSUPP`) on a device
/// without `IFF_NAPI`; on one with it, switched on and off, a thread per
/// queue while on, and traffic keeps flowing either way.
fn napi_threaded_sysfs(_: &Ctx) -> TestResult {
    let (_plain, plain) = tun_create("rtthr0", IFF_TAP | IFF_NO_PI)?;
    let r = fs::write(format!("/sys/class/net/{plain}/threaded"), "1");
    ensure!(
        r.as_ref().map_err(|e| e.raw_os_error()) == Err(Some(libc::EOPNOTSUPP)),
        "threaded=1 without NAPI: {r:?}"
    );

    let (q0, name) = tun_create("rtthr1", IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_MULTI_QUEUE)?;
    let (_q1, _) = tun_create(&name, IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_MULTI_QUEUE)?;
    ip(&["link", "set", &name, "up"])?;
    let path = format!("/sys/class/net/{name}/threaded");
    let mac = mac_of(&name)?;
    for on in ["1", "0", "1"] {
        fs::write(&path, on).map_err(|e| format!("threaded={on}: {e}"))?;
        let got = fs::read_to_string(&path).map_err(|e| e.to_string())?;
        ensure!(
            got.trim() == on,
            "threaded reads {got:?} after writing {on}"
        );
        // Switching off leaves the threads idle; they go with the queues.
        if on == "1" {
            let threads = napi_threads(&name);
            ensure!(threads.len() == 2, "threaded=1: NAPI threads {threads:?}");
        }
        let incoming = Incoming::open(&name)?;
        for i in 0..4 {
            (&q0)
                .write(&tcp_segment(mac, i, 100))
                .map_err(|e| format!("write: {e}"))?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while got < 400 && Instant::now() < deadline {
            sleep(Duration::from_millis(20));
            got += payload(&incoming.drain());
        }
        ensure!(got == 400, "threaded={on}: {got} of 400 payload bytes");
    }
    Ok(())
}

/// `IFF_NAPI_FRAGS` writes as syzkaller issues them: the rest of the
/// first segment becomes the skb's head and every further segment a page
/// fragment of its own, then GRO takes it at once. A single buffer, headers
/// and payload apart, a head shorter than the Ethernet header, and a
/// virtio-net header in a segment of its own all reach the stack intact.
/// An empty or longer-than-a-page segment is `EINVAL`, more than 18
/// segments or more than `ETH_MAX_MTU - NET_SKB_PAD - NET_IP_ALIGN` bytes
/// `EMSGSIZE`, each counted as a drop.
fn napi_frags_writes(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS | IFF_VNET_HDR;
    let (f, name) = tun_create("rtfrags0", flags)?;
    no_ipv6_up(&name)?;
    let mac = mac_of(&name)?;
    let vnet = [0u8; 10];
    let incoming = Incoming::open(&name)?;
    let seg = tcp_segment(mac, 0, 1000);
    let whole = [vnet.as_slice(), &seg].concat();
    let cases: [(&str, Vec<&[u8]>); 4] = [
        ("one buffer", vec![&vnet, &seg]),
        ("headers, payload", vec![&vnet, &seg[..54], &seg[54..]]),
        (
            "short head",
            vec![&vnet, &seg[..6], &seg[6..54], &seg[54..554], &seg[554..]],
        ),
        ("header and frame in one", vec![&whole]),
    ];
    for (what, segs) in &cases {
        let r = writev(&f, segs);
        ensure!(r == Ok(10 + seg.len()), "{what}: writev {r:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < deadline {
            sleep(Duration::from_millis(10));
            got = incoming.drain().into_iter().filter(|f| ours(f)).collect();
        }
        ensure!(
            got.len() == 1 && got[0] == seg,
            "{what}: the stack got {} frames, first {:?} bytes",
            got.len(),
            got.first().map(Vec::len)
        );
    }

    let dropped0 = sysfs_u64(&name, "statistics/rx_dropped")?;
    let page = vec![0u8; 4097];
    let many: Vec<&[u8]> = std::iter::once(&vnet[..])
        .chain(std::iter::once(&seg[..54]))
        .chain(std::iter::repeat(&seg[54..64]).take(18))
        .collect();
    let big: Vec<&[u8]> = std::iter::once(&vnet[..])
        .chain(std::iter::once(&seg[..54]))
        .chain(std::iter::repeat(&page[..4096]).take(16))
        .collect();
    let errors: [(&str, Vec<&[u8]>, i32); 4] = [
        (
            "empty segment",
            vec![&vnet, &seg[..54], &[], &seg[54..]],
            libc::EINVAL,
        ),
        (
            "segment over a page",
            vec![&vnet, &seg[..54], &page],
            libc::EINVAL,
        ),
        ("19 segments after the header", many, libc::EMSGSIZE),
        ("65590 bytes", big, libc::EMSGSIZE),
    ];
    for (what, segs, want) in &errors {
        let r = writev(&f, segs);
        ensure!(
            r == Err(*want),
            "{what}: writev {r:?}, want {}",
            errno_name(*want)
        );
    }
    let dropped = sysfs_u64(&name, "statistics/rx_dropped")? - dropped0;
    ensure!(dropped == 4, "rx_dropped +{dropped} for 4 refused writes");
    Ok(())
}

/// A frags queue detached with `TUNSETQUEUE` has its NAPI context
/// disabled, so its writes find it busy (`EBUSY`, not a drop); the queue
/// still attached takes them, and the detached one does again once
/// re-attached.
fn napi_frags_detached_queue_busy(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS | IFF_MULTI_QUEUE;
    let (a, name) = tun_create("rtfrags1", flags)?;
    let (b, _) = tun_create(&name, flags)?;
    ip(&["link", "set", &name, "up"])?;
    let seg = tcp_segment(mac_of(&name)?, 0, 100);
    let mut ifr = IfReq::new("", IFF_DETACH_QUEUE);
    ioctl_ptr(&a, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    let r = writev(&a, &[&seg]);
    ensure!(r == Err(libc::EBUSY), "detached: writev {r:?}");
    let r = writev(&b, &[&seg]);
    ensure!(r == Ok(seg.len()), "attached: writev {r:?}");
    let mut ifr = IfReq::new("", IFF_ATTACH_QUEUE);
    ioctl_ptr(&a, TUNSETQUEUE, &mut ifr).map_err(errno_name)?;
    let r = writev(&a, &[&seg[..54], &seg[54..]]);
    ensure!(r == Ok(seg.len()), "re-attached: writev {r:?}");
    let dropped = sysfs_u64(&name, "statistics/rx_dropped")?;
    ensure!(dropped == 0, "rx_dropped {dropped}");
    Ok(())
}

/// Writes are charged to the queue's send buffer until the stack is done
/// with them. Queued for a NAPI thread that cannot run yet (it shares CPU 0
/// with the real-time writer), they stay in flight: with `TUNSETSNDBUF`
/// 16384 a non-blocking writer gets `EAGAIN` (not counted as a drop) and
/// poll withholds `EPOLLOUT`; once the thread has polled them, poll says
/// writable again, a write passes, and every accepted frame reached the
/// stack.
fn sndbuf_full_until_napi_polls(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtsndnapi", IFF_TAP | IFF_NO_PI | IFF_NAPI)?;
    no_ipv6_up(&name)?;
    fs::write(format!("/sys/class/net/{name}/threaded"), "1")
        .map_err(|e| format!("threaded=1: {e}"))?;
    let threads = napi_threads(&name);
    ensure!(threads.len() == 1, "NAPI threads of {name}: {threads:?}");
    pin_cpu0(threads[0])?;
    let mut sndbuf = 16384i32;
    ioctl_ptr(&f, TUNSETSNDBUF, &mut sndbuf).map_err(errno_name)?;
    set_nonblock(&f);
    let mac = mac_of(&name)?;
    let incoming = Incoming::open(&name)?;

    hog_cpu0(true)?;
    let mut accepted = 0u32;
    let mut last = Ok(0);
    while accepted < 200 {
        last = io_errno((&f).write(&tcp_segment(mac, accepted, 1000)));
        if last.is_err() {
            break;
        }
        accepted += 1;
    }
    let full_poll = poll1(&f, libc::POLLOUT, 0);
    hog_cpu0(false)?;
    ensure!(
        last == Err(libc::EAGAIN),
        "after {accepted} writes in flight: {last:?}, want EAGAIN"
    );
    ensure!(
        full_poll & libc::POLLOUT == 0,
        "poll with the send buffer full: {full_poll:#x}"
    );
    sleep(Duration::from_millis(300));
    let ev = poll1(&f, libc::POLLOUT, 1000);
    ensure!(ev & libc::POLLOUT != 0, "poll after the NAPI poll: {ev:#x}");
    let r = io_errno((&f).write(&tcp_segment(mac, accepted, 1000)));
    ensure!(r.is_ok(), "write after the NAPI poll: {r:?}");
    sleep(Duration::from_millis(100));
    let seen = payload(&incoming.drain()) / 1000;
    ensure!(
        seen == accepted as usize + 1,
        "the stack saw {seen} of {} frames",
        accepted + 1
    );
    let dropped = sysfs_u64(&name, "statistics/rx_dropped")?;
    ensure!(dropped == 0, "rx_dropped {dropped}");
    println!("# {accepted} frames in flight filled a 16384-byte send buffer");
    Ok(())
}
