// SPDX-License-Identifier: GPL-2.0

//! XDP on tap devices. A program attached in native mode runs on what the
//! queues write: in place, in a page fragment, for a small write that does
//! not block (tun.c's `tun_build_skb`), else on the skb (`do_xdp_generic`).
//! PASS hands the packet to the stack; DROP, ABORTED and unknown verdicts
//! count a receive drop on the native path and nothing on the generic one;
//! TX sends it back out of the device, to its reader; REDIRECT sends it to
//! another device. Other devices redirect into a tap's queues
//! (`ndo_xdp_xmit`). tun devices take programs in generic mode only.

use std::{
    fs::File,
    io::{Read, Write},
    os::fd::{AsRawFd, OwnedFd},
};

use crate::{ensure, napi::Incoming, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    xdp_native_verdicts,
    xdp_generic_verdicts,
    xdp_tx_frame_layout,
    xdp_redirect_into_tap,
    xdp_attach_modes
];

pub const XDP_ABORTED: i32 = 0;
pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;
pub const XDP_TX: i32 = 3;
/// `XDP_FLAGS_SKB_MODE` and `XDP_FLAGS_DRV_MODE`.
pub const SKB_MODE: u32 = 2;
pub const DRV_MODE: u32 = 4;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`'s `BPF_XDP`.
const BPF_XDP: u32 = 37;
/// `bpf(2)`'s `BPF_LINK_CREATE`.
const BPF_LINK_CREATE: i64 = 28;

/// An XDP program attached to a device through a BPF link; detached when
/// dropped.
pub struct XdpLink(#[allow(dead_code)] OwnedFd);

impl XdpLink {
    /// Attaches `prog` to `ifname` in the mode `flags` names.
    pub fn attach(ifname: &str, prog: &OwnedFd, flags: u32) -> Result<Self, i32> {
        let mut attr = [0u8; 64];
        attr[0..4].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
        attr[4..8].copy_from_slice(&ifindex(ifname).to_ne_bytes());
        attr[8..12].copy_from_slice(&BPF_XDP.to_ne_bytes());
        attr[12..16].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: BPF_LINK_CREATE with a valid, zero-padded attribute block.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_LINK_CREATE,
                attr.as_mut_ptr(),
                attr.len(),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        Ok(Self(own_fd(fd)))
    }
}

/// Attaches an XDP program of `insns` to `ifname`.
pub fn attach(ifname: &str, insns: &[[u8; 8]], flags: u32) -> Result<XdpLink, String> {
    let prog = bpf_load(BPF_PROG_TYPE_XDP, insns)?;
    XdpLink::attach(ifname, &prog, flags)
        .map_err(|e| format!("attaching XDP to {ifname}: {}", errno_name(e)))
}

/// `return bpf_redirect(ifindex, 0);`
pub fn redirect_to(ifindex: u32) -> Vec<[u8; 8]> {
    vec![
        bpf_insn(0xb7, 1, 0, 0, ifindex as i32), // mov r1, ifindex
        bpf_insn(0xb7, 2, 0, 0, 0),              // mov r2, 0
        bpf_insn(0x85, 0, 0, 0, 23),             // call bpf_redirect
        bpf_insn(0x95, 0, 0, 0, 0),              // exit
    ]
}

pub fn ifindex(name: &str) -> u32 {
    let Ok(name) = std::ffi::CString::new(name) else {
        return 0;
    };
    // SAFETY: A NUL-terminated name.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// A broadcast Ethernet frame of `len` bytes, numbered `n`, with a local
/// experimental EtherType that the stack ignores.
fn frame(n: u8, len: usize) -> Vec<u8> {
    let mut f = vec![n; len];
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0x72, n]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    f
}

fn set_blocking(f: &impl AsRawFd, nonblock: bool) {
    let flags = if nonblock { libc::O_NONBLOCK } else { 0 };
    // SAFETY: Plain fcntl(2) on a descriptor the caller holds.
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags) };
}

/// The device counters a verdict moves, and where the packet went.
#[derive(Debug, PartialEq)]
struct Seen {
    rx_packets: u64,
    rx_dropped: u64,
    tx_packets: u64,
    tx_dropped: u64,
    /// Frames the stack received.
    stack: usize,
    /// Whether the device's reader got the frame back.
    read_back: bool,
}

fn counters(name: &str) -> Result<[u64; 4], String> {
    let mut c = [0; 4];
    for (v, what) in c
        .iter_mut()
        .zip(["rx_packets", "rx_dropped", "tx_packets", "tx_dropped"])
    {
        *v = sysfs_u64(name, &format!("statistics/{what}"))?;
    }
    Ok(c)
}

/// A tap device, up, with nothing of the stack's own going through it.
fn tap(name: &str, flags: u32) -> Result<(File, String), String> {
    let (f, name) = tun_create(name, IFF_TAP | flags)?;
    no_ipv6_up(&name)?;
    Ok((f, name))
}

/// Writes one frame to `tap` with a program returning `verdict`
/// attached, blocking or not, and reads it back if it comes back.
fn one_write(
    tap: &mut File,
    name: &str,
    incoming: &Incoming,
    verdict: i32,
    nonblock: bool,
) -> Result<Seen, String> {
    let link = attach(name, &bpf_return(verdict), DRV_MODE)?;
    incoming.drain();
    let before = counters(name)?;
    let f = frame(verdict as u8, 60);
    set_blocking(tap, nonblock);
    let n = io_errno(tap.write(&f)).map_err(|e| format!("write: {}", errno_name(e)))?;
    ensure!(n == f.len(), "write returned {n}");
    let mut read_back = false;
    if poll1(tap, libc::POLLIN, 200) & libc::POLLIN != 0 {
        let mut buf = [0u8; 2048];
        let n = io_errno(tap.read(&mut buf)).map_err(|e| format!("read: {}", errno_name(e)))?;
        ensure!(buf[..n] == f[..], "read back {n} bytes, not the frame");
        read_back = true;
    }
    let stack = incoming.drain().iter().filter(|g| **g == f).count();
    let after = counters(name)?;
    drop(link);
    Ok(Seen {
        rx_packets: after[0] - before[0],
        rx_dropped: after[1] - before[1],
        tx_packets: after[2] - before[2],
        tx_dropped: after[3] - before[3],
        stack,
        read_back,
    })
}

fn verdicts(nonblock: bool, expect: &[(i32, Seen)]) -> TestResult {
    let (mut tap, name) = tap("xdpv%d", IFF_NO_PI)?;
    let incoming = Incoming::open(&name)?;
    for (verdict, want) in expect {
        let seen = one_write(&mut tap, &name, &incoming, *verdict, nonblock)?;
        ensure!(
            seen == *want,
            "verdict {verdict}: {seen:?}, expected {want:?}"
        );
    }
    Ok(())
}

const fn seen(rx: u64, dropped: u64, tx: u64, stack: usize, read_back: bool) -> Seen {
    Seen {
        rx_packets: rx,
        rx_dropped: dropped,
        tx_packets: tx,
        tx_dropped: 0,
        stack,
        read_back,
    }
}

/// Small non-blocking writes run the program natively (`tun_build_skb`):
/// what it drops, aborts or answers with an unknown verdict (42) counts as
/// a receive drop; what it transmits counts as received, and comes back to
/// the reader, counted as sent when read.
fn xdp_native_verdicts(_ctx: &Ctx) -> TestResult {
    verdicts(
        true,
        &[
            (XDP_PASS, seen(1, 0, 0, 1, false)),
            (XDP_DROP, seen(0, 1, 0, 0, false)),
            (XDP_ABORTED, seen(0, 1, 0, 0, false)),
            (42, seen(0, 1, 0, 0, false)),
            (XDP_TX, seen(1, 0, 1, 0, true)),
        ],
    )
}

/// Blocking writes take the skb path, where the program runs in the
/// generic hook (`do_xdp_generic`): a dropped packet counts nothing, and a
/// transmitted one leaves through the device's transmit path without
/// counting as received.
fn xdp_generic_verdicts(_ctx: &Ctx) -> TestResult {
    verdicts(
        false,
        &[
            (XDP_PASS, seen(1, 0, 0, 1, false)),
            (XDP_DROP, seen(0, 0, 0, 0, false)),
            (XDP_ABORTED, seen(0, 0, 0, 0, false)),
            (42, seen(0, 0, 0, 0, false)),
            (XDP_TX, seen(0, 0, 1, 0, true)),
        ],
    )
}

/// Reads a frame the program sent back (`tun_put_user_xdp`): after a
/// zeroed `struct virtio_net_hdr`, and the rest of `TUNSETVNETHDRSZ` bytes
/// skipped, with `IFF_VNET_HDR`, never after a PI header (tun.c writes none even without
/// `IFF_NO_PI`), cut silently to a short buffer. The bytes read count as
/// sent, the header included.
fn xdp_tx_frame_layout(_ctx: &Ctx) -> TestResult {
    let f = frame(7, 60);
    // With a 12-byte virtio-net header.
    let (mut t, name) = tap("xdpl%d", IFF_NO_PI | IFF_VNET_HDR)?;
    let mut sz = 12i32;
    ioctl_ptr(&t, TUNSETVNETHDRSZ, &mut sz)
        .map_err(|e| format!("TUNSETVNETHDRSZ: {}", errno_name(e)))?;
    let _link = attach(&name, &bpf_return(XDP_TX), DRV_MODE)?;
    set_nonblock(&t);
    let mut w = vec![0u8; 12];
    w.extend_from_slice(&f);
    io_errno(t.write(&w)).map_err(|e| format!("write: {}", errno_name(e)))?;
    let before = sysfs_u64(&name, "statistics/tx_bytes")?;
    let mut buf = [0xaau8; 256];
    let n = io_errno(t.read(&mut buf)).map_err(|e| format!("read: {}", errno_name(e)))?;
    // The header's 10 bytes are zeroed and the rest of its 12 skipped,
    // left as they were (`iov_iter_advance`).
    ensure!(
        n == 72 && buf[..10] == [0; 10] && buf[10..12] == [0xaa; 2] && buf[12..72] == f[..],
        "with a vnet header read {n} bytes: {:02x?}",
        &buf[..n.min(24)]
    );
    let sent = sysfs_u64(&name, "statistics/tx_bytes")? - before;
    ensure!(sent == 72, "tx_bytes +{sent}, expected +72");
    // A buffer shorter than the header is refused.
    io_errno(t.write(&w)).map_err(|e| format!("write: {}", errno_name(e)))?;
    ensure!(
        io_errno(t.read(&mut buf[..8])) == Err(libc::EINVAL),
        "an 8-byte read of a frame with a 12-byte header did not fail with EINVAL"
    );
    // Without IFF_NO_PI: no PI header on the way out, and a short buffer
    // takes what fits.
    let (mut t, name) = tap("xdpp%d", 0)?;
    let _link = attach(&name, &bpf_return(XDP_TX), DRV_MODE)?;
    set_nonblock(&t);
    let mut w = vec![0, 0, 0x88, 0xb5];
    w.extend_from_slice(&f);
    io_errno(t.write(&w)).map_err(|e| format!("write: {}", errno_name(e)))?;
    let n = io_errno(t.read(&mut buf)).map_err(|e| format!("read: {}", errno_name(e)))?;
    ensure!(
        n == 60 && buf[..60] == f[..],
        "without IFF_NO_PI read {n} bytes: {:02x?}",
        &buf[..n.min(24)]
    );
    io_errno(t.write(&w)).map_err(|e| format!("write: {}", errno_name(e)))?;
    let n = io_errno(t.read(&mut buf[..20])).map_err(|e| format!("read: {}", errno_name(e)))?;
    ensure!(
        n == 20 && buf[..20] == f[..20],
        "a 20-byte read returned {n}"
    );
    Ok(())
}

/// `XDP_REDIRECT` into a tap queue (`ndo_xdp_xmit`), from another tap's
/// program (native, on a write) and from a veth's (native, on a frame the
/// peer sent): the tap's reader gets the frame.
fn xdp_redirect_into_tap(_ctx: &Ctx) -> TestResult {
    let (mut dst, dname) = tap("xdpd%d", IFF_NO_PI)?;
    set_nonblock(&dst);
    let (mut src, sname) = tap("xdps%d", IFF_NO_PI)?;
    set_nonblock(&src);
    let _link = attach(&sname, &redirect_to(ifindex(&dname)), DRV_MODE)?;
    let rx0 = sysfs_u64(&sname, "statistics/rx_packets")?;
    let mut buf = [0u8; 2048];
    for n in 0..4u8 {
        let f = frame(n, 60 + usize::from(n));
        io_errno(src.write(&f)).map_err(|e| format!("write: {}", errno_name(e)))?;
        ensure!(
            poll1(&dst, libc::POLLIN, 1000) & libc::POLLIN != 0,
            "frame {n} did not reach {dname}"
        );
        let got = io_errno(dst.read(&mut buf)).map_err(|e| format!("read: {}", errno_name(e)))?;
        ensure!(
            buf[..got] == f[..],
            "frame {n} arrived as {got} other bytes"
        );
    }
    let rx = sysfs_u64(&sname, "statistics/rx_packets")? - rx0;
    ensure!(
        rx == 4,
        "{sname} counted {rx} redirected frames as received, not 4"
    );

    // From a veth pair.
    let _ = ip(&["link", "del", "xdpv0"]);
    ip(&[
        "link", "add", "xdpv0", "type", "veth", "peer", "name", "xdpv1",
    ])?;
    let res = (|| -> TestResult {
        no_ipv6_up("xdpv0")?;
        no_ipv6_up("xdpv1")?;
        let _link = attach("xdpv1", &redirect_to(ifindex(&dname)), DRV_MODE)?;
        let (sock, sll) = crate::vhost::packet_socket("xdpv0")?;
        let f = frame(9, 80);
        crate::vhost::send_out(&sock, &sll, &f)?;
        ensure!(
            poll1(&dst, libc::POLLIN, 2000) & libc::POLLIN != 0,
            "the veth's frame did not reach {dname}"
        );
        let got = io_errno(dst.read(&mut buf)).map_err(|e| format!("read: {}", errno_name(e)))?;
        ensure!(
            buf[..got] == f[..],
            "the veth's frame arrived as {got} other bytes"
        );
        Ok(())
    })();
    let _ = ip(&["link", "del", "xdpv0"]);
    res
}

/// tun devices have no native XDP (`EOPNOTSUPP`) but take programs in
/// generic mode; tap devices take both, and `ip link` shows which.
fn xdp_attach_modes(_ctx: &Ctx) -> TestResult {
    let (_t, tname) = tun_create("xdpt%d", IFF_TUN | IFF_NO_PI)?;
    let prog = bpf_load(BPF_PROG_TYPE_XDP, &bpf_return(XDP_PASS))?;
    ensure!(
        XdpLink::attach(&tname, &prog, DRV_MODE).err() == Some(libc::EOPNOTSUPP),
        "native XDP on a tun device did not fail with EOPNOTSUPP"
    );
    let generic = XdpLink::attach(&tname, &prog, SKB_MODE)
        .map_err(|e| format!("generic XDP on {tname}: {}", errno_name(e)))?;
    let shown = ip(&["link", "show", "dev", &tname])?;
    ensure!(shown.contains("xdpgeneric"), "ip link show: {shown}");
    drop(generic);
    let (_t, name) = tap("xdpa%d", IFF_NO_PI)?;
    let native = XdpLink::attach(&name, &prog, DRV_MODE)
        .map_err(|e| format!("native XDP on {name}: {}", errno_name(e)))?;
    let shown = ip(&["link", "show", "dev", &name])?;
    ensure!(
        shown.contains("prog/xdp ") && !shown.contains("xdpgeneric"),
        "ip link show: {shown}"
    );
    drop(native);
    let _generic = XdpLink::attach(&name, &prog, SKB_MODE)
        .map_err(|e| format!("generic XDP on {name}: {}", errno_name(e)))?;
    let shown = ip(&["link", "show", "dev", &name])?;
    ensure!(shown.contains("xdpgeneric"), "ip link show: {shown}");
    Ok(())
}
