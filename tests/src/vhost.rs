// SPDX-License-Identifier: GPL-2.0

//! vhost-net driving the driver's queues, as QEMU/KVM guests use it: the
//! kernel's `vhost_net.ko` links against `tun_get_socket`,
//! `tun_get_tx_ring` and `tun_ptr_free`, which whichever driver is loaded
//! exports.
//!
//! `tools/virtio/vhost_net_test` (the 6.12 source's own test, built
//! unmodified) runs in its variants; [`Vhost`] is a minimal vhost-net
//! client with one split virtqueue pair per instance, for what that test
//! does not cover: multi-queue devices, and devices deleted and files closed
//! under an attached vhost.

use std::{
    fs::File,
    io::Write,
    os::fd::{AsRawFd, OwnedFd},
    ptr::{addr_of, addr_of_mut},
    sync::atomic::{fence, Ordering},
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{
    ensure,
    sys::{
        errno_name, insmod_with, ioctl_ptr, ioctl_val, ip, own_fd, rmmod, run, run_tool,
        tun_create, Ran, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP,
    },
    tests, Ctx, Test, TestResult,
};

pub const TESTS: &[Test] = tests![
    vhost_net_binds_to_driver,
    vhost_net_test_default,
    vhost_net_test_no_event_idx,
    vhost_net_test_no_indirect,
    vhost_net_test_delayed_interrupt,
    vhost_net_test_zerocopy,
    vhost_backend_checks,
    vhost_delete_and_close_while_attached,
    vhost_two_queues,
    vhost_tx_unbatched_with_sndbuf,
    vhost_tx_napi,
    vhost_xdp_tx_to_guest,
    vhost_tx_rx_batched,
];

/// Buffers each way per `vhost_net_test` run: its default of 2^20 takes an
/// hour under TCG; this takes seconds and still wraps the 256-entry rings
/// many times.
const BUFS: &str = "4000";

/// `vhost_net.ko` and the modules it needs, loaded for the guard's life.
/// The driver under test cannot be unloaded while vhost_net uses its
/// symbols, so each test unloads them again.
pub(crate) struct VhostModules;

impl VhostModules {
    pub(crate) fn load(ctx: &Ctx) -> Result<Self, String> {
        Self::load_with(ctx, "")
    }

    /// Loads them with `vhost_net.ko`'s parameters `params`.
    fn load_with(ctx: &Ctx, params: &str) -> Result<Self, String> {
        Self::load_from_with(
            ctx.vhost_modules
                .as_deref()
                .ok_or_else(|| crate::skip("no --vhost-modules given"))?,
            params,
        )
    }

    /// Loads them from the kernel build's `drivers/vhost`.
    pub(crate) fn load_from(dir: &str) -> Result<Self, String> {
        Self::load_from_with(dir, "")
    }

    fn load_from_with(dir: &str, params: &str) -> Result<Self, String> {
        for m in ["vhost_iotlb", "vhost", "vhost_net"] {
            let params = if m == "vhost_net" { params } else { "" };
            match insmod_with(&format!("{dir}/{m}.ko"), params) {
                Ok(_) | Err(libc::EEXIST) => {}
                Err(e) => return Err(format!("insmod {m}.ko: {}", errno_name(e))),
            }
        }
        Ok(VhostModules)
    }
}

impl Drop for VhostModules {
    fn drop(&mut self) {
        for m in ["vhost_net", "vhost", "vhost_iotlb"] {
            // Retried: a just-closed vhost device may hold its module for
            // a moment (its worker exits asynchronously).
            let deadline = Instant::now() + Duration::from_secs(5);
            while rmmod(m) == Err(libc::EAGAIN) && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
        }
    }
}

/// With the driver loaded, vhost_net's tun symbols resolve to it: the
/// driver lists vhost_net as a holder, and the kernel's symbol table puts
/// `tun_get_socket` in it.
fn vhost_net_binds_to_driver(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let holder = format!("/sys/module/{}/holders/vhost_net", ctx.module_name);
    ensure!(
        std::path::Path::new(&holder).exists(),
        "{holder} missing: vhost_net does not use the driver"
    );
    let syms = std::fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
    for sym in ["tun_get_socket", "tun_get_tx_ring", "tun_ptr_free"] {
        let owner = syms
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(sym))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap_or("");
        ensure!(
            owner == format!("[{}]", ctx.module_name),
            "{sym} defined in {owner:?}, not [{}]",
            ctx.module_name
        );
    }
    Ok(())
}

fn run_vhost_net_test(ctx: &Ctx, args: &[&str]) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    vhost_net_test_run(ctx, args)
}

fn vhost_net_test_run(ctx: &Ctx, args: &[&str]) -> TestResult {
    let bin = ctx
        .vhost_net_test
        .as_deref()
        .ok_or_else(|| crate::skip("no --vhost-net-test given"))?;
    let Ran { ok, stdout, stderr } = run_tool(bin, &[&["--buf-num", BUFS], args].concat())?;
    ensure!(ok, "vhost_net_test {args:?} failed: {stdout} {stderr}");
    let done = format!("completed={:#x}", BUFS.parse::<u32>().unwrap_or(0));
    ensure!(
        stdout.matches(&done).count() == 2,
        "vhost_net_test {args:?}: expected RX and TX {done}: {stdout}"
    );
    Ok(())
}

fn vhost_net_test_default(ctx: &Ctx) -> TestResult {
    run_vhost_net_test(ctx, &[])
}

fn vhost_net_test_no_event_idx(ctx: &Ctx) -> TestResult {
    run_vhost_net_test(ctx, &["--no-event-idx"])
}

fn vhost_net_test_no_indirect(ctx: &Ctx) -> TestResult {
    run_vhost_net_test(ctx, &["--no-indirect"])
}

fn vhost_net_test_delayed_interrupt(ctx: &Ctx) -> TestResult {
    run_vhost_net_test(ctx, &["--delayed-interrupt"])
}

/// Zero-copy transmit: with `vhost_net experimental_zcopytx=1` vhost sends
/// a guest's frames of 256 bytes and more as `TUN_MSG_UBUF` (the driver's
/// sockets say `SOCK_ZEROCOPY`), and the driver pins the guest's pages into
/// the skb (`zerocopy_sg_from_iter`, counted by a kprobe) instead of
/// copying them; `vhost_net_test` passes both ways.
fn vhost_net_test_zerocopy(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load_with(ctx, "experimental_zcopytx=1")?;
    let probe = Kprobe::new("rtunzc", "zerocopy_sg_from_iter")?;
    vhost_net_test_run(ctx, &[])?;
    let hits = probe.hits()?;
    ensure!(
        hits > 0,
        "no zero-copy send (zerocopy_sg_from_iter not called)"
    );
    println!("# {hits} zero-copy sends");
    Ok(())
}

/// A kprobe event counting calls of a kernel function (tracefs).
struct Kprobe(String);

const TRACEFS: &str = "/sys/kernel/tracing";

impl Kprobe {
    fn new(name: &str, func: &str) -> Result<Self, String> {
        if !std::path::Path::new(&format!("{TRACEFS}/kprobe_events")).exists() {
            let r = run("mount", &["-t", "tracefs", "nodev", TRACEFS]);
            if r.is_err() || !std::path::Path::new(&format!("{TRACEFS}/kprobe_events")).exists() {
                return Err(crate::skip("no tracefs kprobe events"));
            }
        }
        let add = |line: String| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(format!("{TRACEFS}/kprobe_events"))
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| format!("kprobe_events {line:?}: {e}"))
        };
        add(format!("p:{name} {func}\n"))?;
        std::fs::write(format!("{TRACEFS}/events/kprobes/{name}/enable"), "1")
            .map_err(|e| format!("enabling kprobe {name}: {e}"))?;
        Ok(Self(name.to_string()))
    }

    /// Calls so far (`kprobe_profile`).
    fn hits(&self) -> Result<u64, String> {
        let profile = std::fs::read_to_string(format!("{TRACEFS}/kprobe_profile"))
            .map_err(|e| format!("kprobe_profile: {e}"))?;
        profile
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(self.0.as_str()))
                    .then(|| w.next().and_then(|n| n.parse().ok()))
                    .flatten()
            })
            .ok_or_else(|| format!("kprobe {} not in kprobe_profile: {profile}", self.0))
    }
}

impl Drop for Kprobe {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("{TRACEFS}/events/kprobes/{}/enable", self.0), "0");
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("{TRACEFS}/kprobe_events"))
            .and_then(|mut f| f.write_all(format!("-:{}\n", self.0).as_bytes()));
    }
}

// --- a minimal vhost-net client --------------------------------------------

const fn vhost_iow(nr: u64, size: usize) -> u64 {
    (1 << 30) | ((size as u64) << 16) | (0xaf << 8) | nr
}
const VHOST_SET_FEATURES: u64 = vhost_iow(0x00, 8);
const VHOST_SET_OWNER: u64 = 0xaf << 8 | 0x01;
const VHOST_SET_MEM_TABLE: u64 = vhost_iow(0x03, 8);
const VHOST_SET_VRING_NUM: u64 = vhost_iow(0x10, 8);
const VHOST_SET_VRING_ADDR: u64 = vhost_iow(0x11, 40);
const VHOST_SET_VRING_BASE: u64 = vhost_iow(0x12, 8);
const VHOST_SET_VRING_KICK: u64 = vhost_iow(0x20, 8);
const VHOST_SET_VRING_CALL: u64 = vhost_iow(0x21, 8);
const VHOST_NET_SET_BACKEND: u64 = vhost_iow(0x30, 8);
/// `VIRTIO_F_VERSION_1`: 12-byte `virtio_net_hdr_mrg_rxbuf` headers, which
/// vhost leaves to the tap (`sock_hlen`).
const VIRTIO_F_VERSION_1: u64 = 1 << 32;
const HDR_LEN: usize = 12;
const VRING_DESC_F_WRITE: u16 = 2;

/// Entries per ring.
pub(crate) const QSZ: usize = 64;
/// Bytes per packet buffer.
const BUF: usize = 2048;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
struct Avail {
    flags: u16,
    idx: u16,
    ring: [u16; QSZ],
    used_event: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct UsedElem {
    id: u32,
    len: u32,
}

#[repr(C)]
struct Used {
    flags: u16,
    idx: u16,
    ring: [UsedElem; QSZ],
    avail_event: u16,
}

/// One virtqueue with its own buffers.
#[repr(C, align(4096))]
struct Queue {
    desc: [Desc; QSZ],
    avail: Avail,
    used: Used,
    bufs: [[u8; BUF]; QSZ],
}

/// vhost-net's memory table with our one region.
#[repr(C)]
struct MemTable {
    nregions: u32,
    padding: u32,
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
    flags_padding: u64,
}

#[repr(C)]
struct VringAddr {
    index: u32,
    flags: u32,
    desc: u64,
    used: u64,
    avail: u64,
    log: u64,
}

/// A vhost-net instance with an RX (0) and a TX (1) virtqueue, guest
/// memory mapped 1:1 onto ours.
pub(crate) struct Vhost {
    fd: File,
    queues: Box<[Queue; 2]>,
    kicks: [OwnedFd; 2],
    _calls: [OwnedFd; 2],
    /// Next avail index per queue.
    next: [u16; 2],
}

fn eventfd() -> Result<OwnedFd, String> {
    // SAFETY: Plain syscall.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) };
    ensure!(fd >= 0, "eventfd failed");
    Ok(own_fd(fd as i64))
}

fn vioctl<T>(fd: &File, cmd: u64, arg: &mut T, what: &str) -> TestResult {
    ioctl_ptr(fd, cmd, arg as *mut T)
        .map(|_| ())
        .map_err(|e| format!("{what}: {}", errno_name(e)))
}

impl Vhost {
    /// Opens `/dev/vhost-net` and sets up both virtqueues, without a
    /// backend.
    pub(crate) fn new() -> Result<Self, String> {
        let fd = File::options()
            .read(true)
            .write(true)
            .open("/dev/vhost-net")
            .map_err(|e| format!("/dev/vhost-net: {e}"))?;
        // SAFETY: All-zero is a valid `Queue` (plain integers).
        let queues: Box<[Queue; 2]> = unsafe { Box::new_zeroed().assume_init() };
        let v = Vhost {
            fd,
            queues,
            kicks: [eventfd()?, eventfd()?],
            _calls: [eventfd()?, eventfd()?],
            next: [0; 2],
        };
        ioctl_val(&v.fd, VHOST_SET_OWNER, 0)
            .map_err(|e| format!("SET_OWNER: {}", errno_name(e)))?;
        let mut features = VIRTIO_F_VERSION_1;
        vioctl(&v.fd, VHOST_SET_FEATURES, &mut features, "SET_FEATURES")?;
        let base = v.queues.as_ptr() as u64;
        let mut mem = MemTable {
            nregions: 1,
            padding: 0,
            guest_phys_addr: base,
            memory_size: std::mem::size_of::<[Queue; 2]>() as u64,
            userspace_addr: base,
            flags_padding: 0,
        };
        vioctl(&v.fd, VHOST_SET_MEM_TABLE, &mut mem, "SET_MEM_TABLE")?;
        for i in 0..2 {
            let q = &v.queues[i];
            let mut num = [i as u32, QSZ as u32];
            vioctl(&v.fd, VHOST_SET_VRING_NUM, &mut num, "SET_VRING_NUM")?;
            let mut base = [i as u32, 0];
            vioctl(&v.fd, VHOST_SET_VRING_BASE, &mut base, "SET_VRING_BASE")?;
            let mut addr = VringAddr {
                index: i as u32,
                flags: 0,
                desc: addr_of!(q.desc) as u64,
                used: addr_of!(q.used) as u64,
                avail: addr_of!(q.avail) as u64,
                log: 0,
            };
            vioctl(&v.fd, VHOST_SET_VRING_ADDR, &mut addr, "SET_VRING_ADDR")?;
            let mut kick = [i as i32, v.kicks[i].as_raw_fd()];
            vioctl(&v.fd, VHOST_SET_VRING_KICK, &mut kick, "SET_VRING_KICK")?;
            let mut call = [i as i32, v._calls[i].as_raw_fd()];
            vioctl(&v.fd, VHOST_SET_VRING_CALL, &mut call, "SET_VRING_CALL")?;
        }
        Ok(v)
    }

    /// Makes `fd` the backend of both virtqueues (-1 detaches).
    pub(crate) fn set_backend(&self, fd: i32) -> Result<(), i32> {
        for i in 0..2 {
            let mut b = [i, fd];
            ioctl_ptr(&self.fd, VHOST_NET_SET_BACKEND, &mut b)?;
        }
        Ok(())
    }

    fn kick(&self, q: usize) {
        let one = 1u64;
        // SAFETY: An 8-byte write to an eventfd.
        unsafe { libc::write(self.kicks[q].as_raw_fd(), addr_of!(one).cast(), 8) };
    }

    /// Offers descriptor `slot` of queue `q` holding `len` bytes (TX) or
    /// room for a packet (RX).
    fn offer(&mut self, q: usize, slot: usize, len: usize) {
        let write = q == 0;
        let idx = self.next[q];
        let qu = &mut self.queues[q];
        qu.desc[slot] = Desc {
            addr: addr_of!(qu.bufs[slot]) as u64,
            len: if write { BUF as u32 } else { len as u32 },
            flags: if write { VRING_DESC_F_WRITE } else { 0 },
            next: 0,
        };
        qu.avail.ring[usize::from(idx) % QSZ] = slot as u16;
        fence(Ordering::SeqCst);
        // SAFETY: vhost reads the index concurrently; a volatile store
        // publishes it after the fence.
        unsafe { addr_of_mut!(qu.avail.idx).write_volatile(idx.wrapping_add(1)) };
        self.next[q] = idx.wrapping_add(1);
    }

    /// Queues `frame` (after a zero virtio-net header) for transmission.
    pub(crate) fn send(&mut self, slot: usize, frame: &[u8]) {
        let buf = &mut self.queues[1].bufs[slot];
        buf[..HDR_LEN].fill(0);
        buf[HDR_LEN..HDR_LEN + frame.len()].copy_from_slice(frame);
        self.offer(1, slot, HDR_LEN + frame.len());
        self.kick(1);
    }

    /// Offers `n` receive buffers.
    pub(crate) fn post_rx(&mut self, n: usize) {
        for slot in 0..n {
            self.offer(0, slot, BUF);
        }
        self.kick(0);
    }

    /// How many buffers of queue `q` vhost has used.
    fn used(&self, q: usize) -> u16 {
        // SAFETY: vhost writes the index concurrently: a volatile read.
        unsafe { addr_of!(self.queues[q].used.idx).read_volatile() }
    }

    /// The `i`th buffer vhost used on the RX queue: what it wrote there.
    fn received(&self, i: usize) -> &[u8] {
        let q = &self.queues[0];
        // SAFETY: vhost wrote the element before publishing the index that
        // `wait_used` saw: volatile reads.
        let e = unsafe { addr_of!(q.used.ring[i % QSZ]).read_volatile() };
        let len = (e.len as usize).min(BUF);
        &q.bufs[e.id as usize % QSZ][..len]
    }

    /// Waits up to 10 s for vhost to have used `n` buffers of queue `q`.
    fn wait_used(&self, q: usize, n: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.used(q) < n {
            ensure!(
                Instant::now() < deadline,
                "queue {q}: vhost used {} buffers, expected {n}",
                self.used(q)
            );
            sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// An Ethernet frame carrying IPv4/UDP from source port `port`: distinct
/// ports are distinct flows for the device's queue selection.
fn udp_frame(port: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2,
    ];
    let udp_len = 8 + 18u16;
    let total = 20 + udp_len;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let sum = crate::packet::csum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x5a; 18]);
    f
}

/// A raw packet socket bound to `ifname`, for sending frames out of the
/// device (into its queues).
pub(crate) fn packet_socket(ifname: &str) -> Result<(OwnedFd, libc::sockaddr_ll), String> {
    // SAFETY: Plain syscall.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    ensure!(
        fd >= 0,
        "socket(AF_PACKET): {}",
        std::io::Error::last_os_error()
    );
    let name = std::ffi::CString::new(ifname).map_err(|e| e.to_string())?;
    // SAFETY: A NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    ensure!(ifindex != 0, "no interface {ifname}");
    // SAFETY: All-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    // The stack hashes flows from the protocol given here.
    sll.sll_protocol = (libc::ETH_P_IP as u16).to_be();
    Ok((own_fd(fd as i64), sll))
}

pub(crate) fn send_out(sock: &OwnedFd, sll: &libc::sockaddr_ll, frame: &[u8]) -> TestResult {
    // SAFETY: Valid buffer and address.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    ensure!(
        n == frame.len() as isize,
        "sendto: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

fn stat(ifname: &str, what: &str) -> u64 {
    crate::sys::sysfs_u64(ifname, &format!("statistics/{what}")).unwrap_or(u64::MAX)
}

/// A TAP device with the 12-byte virtio-net header vhost expects.
fn vhost_tap(name: &str, flags: u32) -> Result<(File, String), String> {
    let (f, name) = tun_create(name, IFF_TAP | IFF_NO_PI | crate::sys::IFF_VNET_HDR | flags)?;
    let mut sz = HDR_LEN as i32;
    ioctl_ptr(&f, crate::sys::TUNSETVNETHDRSZ, &mut sz)
        .map_err(|e| format!("TUNSETVNETHDRSZ: {}", errno_name(e)))?;
    // Only the test's own frames: no IPv6 autoconfiguration traffic.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    ip(&["link", "set", &name, "up"])?;
    Ok((f, name))
}

/// vhost's backend checks: a file that is not a tun queue is refused
/// (`tun_get_socket` says EINVAL, vhost reports ENOTSOCK); a tun file not
/// attached to a device is refused too: rtun's `tun_get_socket` says
/// EBADFD, as tun.c's comment promises (vhost: ENOTSOCK), where tun.c
/// hands out its socket and vhost only refuses it on polling EPOLLERR
/// (EINVAL); a queue is accepted and released again.
fn vhost_backend_checks(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let v = Vhost::new()?;
    let null = File::open("/dev/null").map_err(|e| e.to_string())?;
    ensure!(
        v.set_backend(null.as_raw_fd()) == Err(libc::ENOTSOCK),
        "/dev/null as backend: {:?}",
        v.set_backend(null.as_raw_fd())
    );
    let unattached = crate::sys::open_tun().map_err(|e| e.to_string())?;
    let r = v.set_backend(unattached.as_raw_fd());
    let want = if ctx.module_name == "tun" {
        libc::EINVAL
    } else {
        libc::ENOTSOCK
    };
    ensure!(r == Err(want), "unattached tun file as backend: {r:?}");
    let (tap, _name) = vhost_tap("vhchk%d", 0)?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("tap as backend: {}", errno_name(e)))?;
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}

/// Traffic both ways through vhost, then the device deleted and its file
/// closed while vhost still holds the queue, with packets waiting in the
/// ring; vhost keeps working against a dead queue and lets go cleanly.
fn vhost_delete_and_close_while_attached(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let mut v = Vhost::new()?;
    let (tap, name) = vhost_tap("vhdel%d", 0)?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;

    guest_to_host(&mut v, &name, 4)?;

    // Host to guest: frames sent out of the device land in the guest's
    // buffers, header first.
    let (sock, sll) = packet_socket(&name)?;
    v.post_rx(2);
    for port in [7, 8] {
        send_out(&sock, &sll, &udp_frame(port))?;
    }
    v.wait_used(0, 2)?;
    let used = v.queues[0].used.ring[0];
    let frame = udp_frame(7);
    ensure!(
        used.len as usize == HDR_LEN + frame.len(),
        "guest got {} bytes, expected {}",
        used.len,
        HDR_LEN + frame.len()
    );
    let got = &v.queues[0].bufs[used.id as usize][HDR_LEN..HDR_LEN + frame.len()];
    ensure!(
        got == frame.as_slice(),
        "guest got another frame: {got:02x?}"
    );

    // More frames than the guest has buffers for wait in the ring...
    for port in 20..25 {
        send_out(&sock, &sll, &udp_frame(port))?;
    }
    sleep(Duration::from_millis(100));
    drop(sock);
    // ... when the device goes, and then its file, under vhost.
    ip(&["link", "del", &name])?;
    drop(tap);
    // vhost still sends and offers buffers on the dead queue.
    v.send(4, &udp_frame(3000));
    v.post_rx(4);
    sleep(Duration::from_millis(200));
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}

/// Guest to host: `n` frames through vhost's TX queue, counted as
/// received by the device.
fn guest_to_host(v: &mut Vhost, name: &str, n: usize) -> TestResult {
    let rx0 = stat(name, "rx_packets");
    for slot in 0..n {
        v.send(slot, &udp_frame(1000 + slot as u16));
    }
    v.wait_used(1, n as u16)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(name, "rx_packets") < rx0 + n as u64 && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    ensure!(
        stat(name, "rx_packets") == rx0 + n as u64,
        "device received {} of {n} guest frames",
        stat(name, "rx_packets") - rx0
    );
    Ok(())
}

/// With a limited send buffer (`TUNSETSNDBUF`), vhost does not batch: each
/// frame is its own `sendmsg` through the queue's write path.
fn vhost_tx_unbatched_with_sndbuf(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let mut v = Vhost::new()?;
    let (tap, name) = vhost_tap("vhsnd%d", 0)?;
    let mut sndbuf = 1i32 << 20;
    ioctl_ptr(&tap, crate::sys::TUNSETSNDBUF, &mut sndbuf)
        .map_err(|e| format!("TUNSETSNDBUF: {}", errno_name(e)))?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    guest_to_host(&mut v, &name, 8)?;
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}

/// Waits up to 5 s for the stack to have received `n` of the guest's UDP
/// frames through the device `incoming` watches.
fn stack_sees_udp(incoming: &crate::napi::Incoming, n: usize) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = 0;
    while seen < n && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
        seen += incoming
            .drain()
            .iter()
            .filter(|f| f.len() > 23 && f[23] == 17)
            .count();
    }
    ensure!(seen == n, "the stack saw {seen} of {n} guest frames");
    Ok(())
}

/// `ethtool -C rx-frames` (`tun_rx_batched`): unbatched sends that vhost
/// marks `MSG_MORE` wait for the ones after them, up to that many, and the
/// last send, unmarked, takes every one to the stack.
fn vhost_tx_rx_batched(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let mut v = Vhost::new()?;
    let (tap, name) = vhost_tap("vhrxb%d", 0)?;
    run("ethtool", &["-C", &name, "rx-frames", "4"])?;
    let frames = run("ethtool", &["-c", &name])?;
    ensure!(
        frames
            .lines()
            .any(|l| l.split_whitespace().eq(["rx-frames:", "4"])),
        "ethtool -c: {frames}"
    );
    let mut sndbuf = 1i32 << 20;
    ioctl_ptr(&tap, crate::sys::TUNSETSNDBUF, &mut sndbuf)
        .map_err(|e| format!("TUNSETSNDBUF: {}", errno_name(e)))?;
    let incoming = crate::napi::Incoming::open(&name)?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    guest_to_host(&mut v, &name, 16)?;
    stack_sees_udp(&incoming, 16)?;
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}

/// A guest's frames through an `IFF_NAPI` queue reach the stack (a packet
/// socket sees them), batched (queued, one NAPI poll scheduled after each
/// batch) and, with a limited send buffer, one `sendmsg` at a time (the
/// poll scheduled unless vhost says `MSG_MORE`).
fn vhost_tx_napi(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let mut v = Vhost::new()?;
    let (tap, name) = vhost_tap("vhnapi%d", crate::sys::IFF_NAPI)?;
    let incoming = crate::napi::Incoming::open(&name)?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    guest_to_host(&mut v, &name, 8)?;
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    let mut sndbuf = 1i32 << 20;
    ioctl_ptr(&tap, crate::sys::TUNSETSNDBUF, &mut sndbuf)
        .map_err(|e| format!("TUNSETSNDBUF: {}", errno_name(e)))?;
    let mut v = Vhost::new()?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    guest_to_host(&mut v, &name, 8)?;
    stack_sees_udp(&incoming, 16)?;
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}

/// Two vhost instances on two queues of one multi-queue device: each
/// carries its own traffic, and flows out of the device spread over both.
fn vhost_two_queues(ctx: &Ctx) -> TestResult {
    let _m = VhostModules::load(ctx)?;
    let (q0, name) = vhost_tap("vhmq%d", IFF_MULTI_QUEUE)?;
    let (q1, _) = tun_create(
        &name,
        IFF_TAP | IFF_NO_PI | crate::sys::IFF_VNET_HDR | IFF_MULTI_QUEUE,
    )?;
    let mut sz = HDR_LEN as i32;
    ioctl_ptr(&q1, crate::sys::TUNSETVNETHDRSZ, &mut sz)
        .map_err(|e| format!("TUNSETVNETHDRSZ: {}", errno_name(e)))?;
    let mut v = [Vhost::new()?, Vhost::new()?];
    for (vh, q) in v.iter().zip([&q0, &q1]) {
        vh.set_backend(q.as_raw_fd())
            .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    }

    let rx0 = stat(&name, "rx_packets");
    for (i, vh) in v.iter_mut().enumerate() {
        for slot in 0..8 {
            vh.send(slot, &udp_frame((100 * i + slot) as u16));
        }
    }
    for vh in &v {
        vh.wait_used(1, 8)?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(&name, "rx_packets") < rx0 + 16 && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    ensure!(
        stat(&name, "rx_packets") == rx0 + 16,
        "device received {} of 16 frames from two queues",
        stat(&name, "rx_packets") - rx0
    );

    // 32 flows out of the device: all reach a guest, and both queues get
    // some (all 32 hashing to one queue has odds of 2^-31).
    for vh in v.iter_mut() {
        vh.post_rx(QSZ);
    }
    let (sock, sll) = packet_socket(&name)?;
    for port in 0..32 {
        send_out(&sock, &sll, &udp_frame(5000 + port))?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while v[0].used(0) + v[1].used(0) < 32 && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    let (a, b) = (v[0].used(0), v[1].used(0));
    ensure!(a + b == 32, "guests got {a} + {b} of 32 frames");
    ensure!(a > 0 && b > 0, "all frames went to one queue: {a} + {b}");
    for vh in &v {
        vh.set_backend(-1)
            .map_err(|e| format!("detach: {}", errno_name(e)))?;
    }
    Ok(())
}

/// A tap whose XDP program sends every frame back (`XDP_TX`) under vhost:
/// the guest's batched sends run the program on vhost's buffers
/// (`tun_xdp_one`, which needs the XDP headroom vhost leaves on a socket
/// marked `SOCK_XDP`), and the frames queued in the ring come back to the
/// guest's receive buffers, read by vhost after a zeroed 12-byte header.
fn vhost_xdp_tx_to_guest(ctx: &Ctx) -> TestResult {
    use crate::{
        sys::bpf_return,
        xdp::{attach, DRV_MODE, XDP_TX},
    };
    let _m = VhostModules::load(ctx)?;
    let (tap, name) = vhost_tap("vhxdp%d", 0)?;
    let _link = attach(&name, &bpf_return(XDP_TX), DRV_MODE)?;
    let mut v = Vhost::new()?;
    v.set_backend(tap.as_raw_fd())
        .map_err(|e| format!("SET_BACKEND: {}", errno_name(e)))?;
    v.post_rx(8);
    let frames: Vec<Vec<u8>> = (0..8).map(|i| udp_frame(2000 + i)).collect();
    for (slot, f) in frames.iter().enumerate() {
        v.send(slot, f);
    }
    v.wait_used(1, 8)?;
    v.wait_used(0, 8)?;
    for i in 0..8 {
        let got = v.received(i);
        ensure!(
            got.len() == HDR_LEN + frames[i].len()
                && got[..HDR_LEN] == [0; HDR_LEN]
                && got[HDR_LEN..] == frames[i][..],
            "guest buffer {i}: {} bytes {:02x?}",
            got.len(),
            &got[..got.len().min(40)]
        );
    }
    v.set_backend(-1)
        .map_err(|e| format!("detach: {}", errno_name(e)))?;
    Ok(())
}
