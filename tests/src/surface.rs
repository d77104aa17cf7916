// SPDX-License-Identifier: GPL-2.0

//! What tools read about a tun device besides its packets: ethtool.

use std::{os::fd::AsRawFd, process::Command};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    ethtool_info_and_settings,
    fdinfo_iff,
    create_in_user_namespace,
    tap_txfilter,
    tap_socket_filter,
    socket_filter_on_later_queues,
    ebpf_filter,
    ebpf_steering,
];

fn ethtool(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ethtool")
        .args(args)
        .output()
        .map_err(|e| format!("ethtool: {e}"))?;
    ensure!(
        out.status.success(),
        "ethtool {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ethtool -i`, link settings, message level, channels and coalescing, as
/// tun.c's `tun_ethtool_ops` answer them.
fn ethtool_info_and_settings(_: &Ctx) -> TestResult {
    let (_f, name) = tun_create("rtethtool", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE)?;
    let info = ethtool(&["-i", &name])?;
    for want in ["driver: tun", "version: 1.6", "bus-info: tap"] {
        ensure!(info.contains(want), "no {want:?} in {info:?}");
    }
    let link = ethtool(&[&name])?;
    for want in [
        "Speed: 10000Mb/s",
        "Duplex: Full",
        "Port: Twisted Pair",
        "Auto-negotiation: off",
    ] {
        ensure!(link.contains(want), "no {want:?} in {link:?}");
    }
    ethtool(&["-s", &name, "speed", "100", "duplex", "half"])?;
    let link = ethtool(&[&name])?;
    ensure!(
        link.contains("Speed: 100Mb/s") && link.contains("Duplex: Half"),
        "{link:?}"
    );
    ethtool(&["-s", &name, "msglvl", "0x5"])?;
    let link = ethtool(&[&name])?;
    ensure!(link.contains("0x00000005"), "msglvl not kept: {link:?}");
    let ch = ethtool(&["-l", &name])?;
    ensure!(
        ch.contains("Combined:\t256") && ch.contains("Combined:\t1"),
        "channels {ch:?}"
    );
    ethtool(&["-C", &name, "rx-frames", "100"])?;
    let co = ethtool(&["-c", &name])?;
    ensure!(
        co.contains("rx-frames: 64"),
        "rx-frames not capped at 64: {co:?}"
    );
    let (_t, tname) = tun_create("rtethtool1", IFF_TUN)?;
    let info = ethtool(&["-i", &tname])?;
    ensure!(info.contains("bus-info: tun"), "tun bus-info: {info:?}");
    Ok(())
}

/// `/proc/self/fdinfo/<fd>` names the attached device (`iff:`), empty when
/// unattached.
fn fdinfo_iff(_: &Ctx) -> TestResult {
    use std::os::fd::AsRawFd;
    let fdinfo = |fd: i32| std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"));
    let un = open_tun().map_err(|e| e.to_string())?;
    let text = fdinfo(un.as_raw_fd()).map_err(|e| e.to_string())?;
    ensure!(text.contains("iff:\t\n"), "unattached fdinfo {text:?}");
    let (f, name) = tun_create("rtfdinfo", IFF_TUN)?;
    let text = fdinfo(f.as_raw_fd()).map_err(|e| e.to_string())?;
    ensure!(text.contains(&format!("iff:\t{name}\n")), "fdinfo {text:?}");
    Ok(())
}

/// A process in a new user and network namespace (as slirp4netns or
/// rootless containers run) creates a device there: `CAP_NET_ADMIN` over
/// the namespace suffices, and the device lives in it.
fn create_in_user_namespace(_: &Ctx) -> TestResult {
    // SAFETY: Single-threaded here; the child only makes system calls and
    // exits.
    let pid = unsafe { libc::fork() };
    ensure!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = (|| -> Result<(), i32> {
            // SAFETY: Plain system calls in the child.
            if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
                return Err(10);
            }
            std::fs::write("/proc/self/setgroups", "deny").map_err(|_| 11)?;
            std::fs::write("/proc/self/uid_map", "0 0 1").map_err(|_| 12)?;
            std::fs::write("/proc/self/gid_map", "0 0 1").map_err(|_| 13)?;
            let (f, name) = tun_create("rtuserns", IFF_TAP | IFF_NO_PI).map_err(|_| 14)?;
            // The device is in the child's namespace (sysfs shows the
            // parent's, so ask the kernel by name).
            let cname = std::ffi::CString::new(name).map_err(|_| 15)?;
            // SAFETY: A NUL-terminated name.
            if unsafe { libc::if_nametoindex(cname.as_ptr()) } == 0 {
                return Err(15);
            }
            let fd = ioctl_val(&f, SIOCGSKNS, 0).map_err(|_| 16)?;
            let ns = own_fd(fd);
            let got = fstat(&ns).map_err(|_| 17)?;
            let want = stat("/proc/self/ns/net").map_err(|_| 18)?;
            if (got.st_dev, got.st_ino) != (want.st_dev, want.st_ino) {
                return Err(19);
            }
            Ok(())
        })();
        // SAFETY: Leaves the child without running the parent's destructors.
        unsafe { libc::_exit(code.err().unwrap_or(0)) };
    }
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure!(libc::WIFEXITED(status), "child died");
    let code = libc::WEXITSTATUS(status);
    ensure!(code == 0, "child failed at step {code}");
    ensure!(
        std::fs::metadata("/sys/class/net/rtuserns").is_err(),
        "device visible outside its namespace"
    );
    Ok(())
}

/// `struct tun_filter` with `addrs`.
/// A TAP device's IPv4 subnet `10.NET.0.0/24` with the device at `.1`
/// and neighbours `.2`, `.3`, ... at `macs`, and a UDP socket to send from
/// the device's address: the stack's frames out of the device, to order.
struct Peers(std::net::UdpSocket);

impl Peers {
    fn new(name: &str, net: u8, macs: &[[u8; 6]]) -> Result<Self, String> {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
            .map_err(|e| e.to_string())?;
        ip(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", name])?;
        ip(&["link", "set", name, "up"])?;
        for (i, m) in macs.iter().enumerate() {
            let mac = m.map(|b| format!("{b:02x}")).join(":");
            let addr = format!("10.{net}.0.{}", i + 2);
            ip(&["neigh", "add", &addr, "lladdr", &mac, "dev", name])?;
        }
        let sock =
            std::net::UdpSocket::bind(format!("10.{net}.0.1:0")).map_err(|e| e.to_string())?;
        Ok(Peers(sock))
    }

    /// Sends 5 datagrams of 100 bytes to `dest` port 9 and returns the
    /// frames the device's reader `f` gets.
    fn frames_to(&self, f: &std::fs::File, dest: &str) -> Result<Vec<Vec<u8>>, String> {
        self.send(dest)?;
        drain(f)
    }

    /// Sends 5 datagrams of 100 bytes to `dest` port 9.
    fn send(&self, dest: &str) -> TestResult {
        for _ in 0..5 {
            self.0
                .send_to(&[0x5a; 100], (dest, 9))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The frames waiting on queue `f`, read until none comes for 100 ms.
fn drain(f: &std::fs::File) -> Result<Vec<Vec<u8>>, String> {
    use std::io::Read;
    let mut frames = Vec::new();
    let mut b = [0u8; 2048];
    while poll1(f, libc::POLLIN, 100) & libc::POLLIN != 0 {
        let n = (&*f).read(&mut b).map_err(|e| e.to_string())?;
        if n >= 14 {
            frames.push(b[..n].to_vec());
        }
    }
    Ok(frames)
}

/// A classic BPF program of one `ret #k` instruction, as a
/// `struct sock_filter`, and the `struct sock_fprog` pointing at it.
fn bpf_ret(k: u32, insn: &mut [u8; 8]) -> [usize; 2] {
    // BPF_RET | BPF_K
    insn[..2].copy_from_slice(&0x06u16.to_ne_bytes());
    insn[4..].copy_from_slice(&k.to_ne_bytes());
    [1, insn.as_ptr() as usize]
}

fn getiff_flags(f: &std::fs::File) -> Result<u32, i32> {
    Ok(getiff(f)?.flags as u16 as u32)
}

/// `TUNATTACHFILTER`, `TUNGETFILTER`, `TUNDETACHFILTER`: TAP only
/// (`EINVAL` on TUN); a classic BPF program on the queues drops (`ret #0`)
/// or trims (`ret #42`) the frames the stack sends, `TUNGETIFF` stops
/// reporting `IFF_NOFILTER`, `TUNGETFILTER` gives the program back as
/// passed, and detaching lets everything through again. `IFF_NOFILTER` is
/// the bit of `IFF_NO_PI`, so the device keeps its PI header here.
fn tap_socket_filter(_: &Ctx) -> TestResult {
    let (t, _) = tun_create("rtsflt0", IFF_TUN)?;
    let mut prog = [0usize; 2];
    for (cmd, what) in [
        (TUNATTACHFILTER, "TUNATTACHFILTER"),
        (TUNDETACHFILTER, "TUNDETACHFILTER"),
        (TUNGETFILTER, "TUNGETFILTER"),
    ] {
        expect_errno(ioctl_ptr(&t, cmd, prog.as_mut_ptr()), libc::EINVAL, what)?;
    }
    let (f, name) = tun_create("rtsflt", IFF_TAP)?;
    let peers = Peers::new(&name, 88, &[[2, 0, 0, 0, 0, 0x11]])?;
    let flags = getiff_flags(&f).map_err(errno_name)?;
    ensure!(
        flags & IFF_NOFILTER != 0,
        "no IFF_NOFILTER without a filter: {flags:#x}"
    );
    expect_errno(
        ioctl_ptr(&f, TUNATTACHFILTER, std::ptr::null_mut::<u8>()),
        libc::EFAULT,
        "NULL program",
    )?;
    // Every frame reads as 146 bytes: PI 4 + 14 + 20 + 8 + 100.
    ensure!(
        peers
            .frames_to(&f, "10.88.0.2")?
            .iter()
            .all(|b| b.len() == 146),
        "unfiltered frames not whole"
    );
    let mut insn = [0u8; 8];
    let mut prog = bpf_ret(0, &mut insn);
    ioctl_ptr(&f, TUNATTACHFILTER, prog.as_mut_ptr()).map_err(errno_name)?;
    let flags = getiff_flags(&f).map_err(errno_name)?;
    ensure!(
        flags & IFF_NOFILTER == 0,
        "IFF_NOFILTER with a filter: {flags:#x}"
    );
    let mut got = [0usize; 2];
    ioctl_ptr(&f, TUNGETFILTER, got.as_mut_ptr()).map_err(errno_name)?;
    ensure!(
        got == prog,
        "TUNGETFILTER gave {got:x?}, attached {prog:x?}"
    );
    let n = peers.frames_to(&f, "10.88.0.2")?.len();
    ensure!(n == 0, "ret #0 let {n} frames through");
    let mut insn = [0u8; 8];
    let mut prog = bpf_ret(42, &mut insn);
    ioctl_ptr(&f, TUNATTACHFILTER, prog.as_mut_ptr()).map_err(errno_name)?;
    let frames = peers.frames_to(&f, "10.88.0.2")?;
    ensure!(
        frames.len() == 5 && frames.iter().all(|b| b.len() == 4 + 42),
        "ret #42: frames of {:?} bytes",
        frames.iter().map(Vec::len).collect::<Vec<_>>()
    );
    ioctl_ptr(&f, TUNDETACHFILTER, prog.as_mut_ptr()).map_err(errno_name)?;
    let frames = peers.frames_to(&f, "10.88.0.2")?;
    ensure!(
        frames.len() == 5 && frames.iter().all(|b| b.len() == 146),
        "detached: {} frames",
        frames.len()
    );
    let flags = getiff_flags(&f).map_err(errno_name)?;
    ensure!(
        flags & IFF_NOFILTER != 0,
        "no IFF_NOFILTER after detach: {flags:#x}"
    );
    Ok(())
}

/// A queue attaching to a filtered multi-queue TAP device gets the filter,
/// unless it asks for `IFF_NOFILTER` (the bit of `IFF_NO_PI`). tun.c 6.12
/// returns right after re-attaching the filter without attaching the
/// queue (`tun_attach`'s `goto out`), so on tun.ko that queue is left
/// unattached (`EBADFD`); rtun attaches it, as tun.c's comment intends.
fn socket_filter_on_later_queues(ctx: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_MULTI_QUEUE;
    let (q0, name) = tun_create("rtsfmq%d", flags)?;
    let mut insn = [0u8; 8];
    let mut prog = bpf_ret(0, &mut insn);
    ioctl_ptr(&q0, TUNATTACHFILTER, prog.as_mut_ptr()).map_err(errno_name)?;
    let (q1, _) = tun_create(&name, flags)?;
    let r = getiff_flags(&q1);
    if ctx.module_name == "tun" {
        ensure!(r == Err(libc::EBADFD), "tun.ko's re-attach: {r:?}");
    } else {
        let f = r.map_err(errno_name)?;
        ensure!(f & IFF_NOFILTER == 0, "later queue has no filter: {f:#x}");
    }
    // Skipping the filter attaches the queue on both.
    let (q2, _) = tun_create(&name, flags | IFF_NOFILTER)?;
    getiff_flags(&q2).map_err(|e| format!("IFF_NOFILTER queue: {}", errno_name(e)))?;
    Ok(())
}

fn tun_filter(flags: u16, addrs: &[[u8; 6]]) -> Vec<u8> {
    let mut v = flags.to_ne_bytes().to_vec();
    v.extend_from_slice(&(addrs.len() as u16).to_ne_bytes());
    for a in addrs {
        v.extend_from_slice(a);
    }
    v
}

/// `TUNSETTXFILTER`: TAP only; exact addresses pass, others are dropped;
/// multicast past the eighth address is hashed; a unicast address there
/// turns the filter off (return 0).
fn tap_txfilter(_: &Ctx) -> TestResult {
    let (t, _) = tun_create("rttxflt0", IFF_TUN)?;
    let mut buf = tun_filter(0, &[[2, 0, 0, 0, 0, 1]]);
    expect_errno(
        ioctl_ptr(&t, TUNSETTXFILTER, buf.as_mut_ptr()),
        libc::EINVAL,
        "TUN",
    )?;
    let (f, name) = tun_create("rttxflt", IFF_TAP | IFF_NO_PI)?;
    expect_errno(
        ioctl_ptr(&f, TUNSETTXFILTER, std::ptr::null_mut::<u8>()),
        libc::EFAULT,
        "NULL",
    )?;
    let (good, bad) = ([2, 0, 0, 0, 0, 0x11], [2, 0, 0, 0, 0, 0x22]);
    let peers = Peers::new(&name, 87, &[good, bad])?;
    let count_to = |dest: &str, mac: [u8; 6]| -> Result<usize, String> {
        Ok(peers
            .frames_to(&f, dest)?
            .iter()
            .filter(|b| b[..6] == mac)
            .count())
    };
    let mut buf = tun_filter(0, &[good]);
    let n = ioctl_ptr(&f, TUNSETTXFILTER, buf.as_mut_ptr()).map_err(errno_name)?;
    ensure!(n == 1, "TUNSETTXFILTER returned {n}");
    ensure!(
        count_to("10.87.0.2", good)? == 5,
        "frames to the allowed address lost"
    );
    ensure!(
        count_to("10.87.0.3", bad)? == 0,
        "frames to another address passed"
    );
    // Eight exact addresses, then a multicast: hashed.
    let mut addrs = vec![[2, 0, 0, 0, 1, 0]; 8];
    addrs.push([0x01, 0x00, 0x5e, 0, 0, 1]);
    let mut buf = tun_filter(0, &addrs);
    ensure!(
        ioctl_ptr(&f, TUNSETTXFILTER, buf.as_mut_ptr()) == Ok(8),
        "8 exact + 1 hashed"
    );
    ensure!(
        count_to("10.87.0.2", good)? == 0,
        "filtered-out address passed"
    );
    // A unicast address past the eighth: no filter at all.
    addrs.push([2, 0, 0, 0, 2, 0]);
    let mut buf = tun_filter(0, &addrs);
    ensure!(
        ioctl_ptr(&f, TUNSETTXFILTER, buf.as_mut_ptr()) == Ok(0),
        "unicast in hash part"
    );
    ensure!(
        count_to("10.87.0.3", bad)? == 5,
        "disabled filter dropped frames"
    );
    // Count 0 disables.
    let mut buf = tun_filter(0, &[good]);
    ioctl_ptr(&f, TUNSETTXFILTER, buf.as_mut_ptr()).map_err(errno_name)?;
    let mut off = tun_filter(0, &[]);
    ensure!(
        ioctl_ptr(&f, TUNSETTXFILTER, off.as_mut_ptr()) == Ok(0),
        "count 0"
    );
    ensure!(count_to("10.87.0.3", bad)? == 5, "count 0 did not disable");
    Ok(())
}

/// `TUNSETFILTEREBPF`: a socket-filter eBPF program drops (returns 0) or
/// trims (returns 42) what the device transmits; -1 removes it. Bad
/// descriptors: `EBADF`; a file that is not a BPF program: `EINVAL`.
fn ebpf_filter(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtebpf", IFF_TAP | IFF_NO_PI)?;
    let peers = Peers::new(&name, 89, &[[2, 0, 0, 0, 0, 0x11]])?;
    let mut fd = 9999i32;
    expect_errno(
        ioctl_ptr(&f, TUNSETFILTEREBPF, &mut fd),
        libc::EBADF,
        "closed fd",
    )?;
    let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    let mut fd = null.as_raw_fd();
    expect_errno(
        ioctl_ptr(&f, TUNSETFILTEREBPF, &mut fd),
        libc::EINVAL,
        "/dev/null",
    )?;
    expect_errno(
        ioctl_ptr(&f, TUNSETFILTEREBPF, std::ptr::null_mut::<i32>()),
        libc::EFAULT,
        "NULL",
    )?;
    let lens = |frames: Vec<Vec<u8>>| frames.iter().map(Vec::len).collect::<Vec<_>>();
    for (ret, want) in [(0, vec![]), (42, vec![42; 5]), (-1, vec![142; 5])] {
        let prog;
        let mut fd = if ret == -1 {
            -1
        } else {
            prog = bpf_socket_filter_returning(ret)?;
            prog.as_raw_fd()
        };
        ioctl_ptr(&f, TUNSETFILTEREBPF, &mut fd).map_err(errno_name)?;
        let got = lens(peers.frames_to(&f, "10.89.0.2")?);
        ensure!(got == want, "filter returning {ret}: frames of {got:?}");
    }
    Ok(())
}

/// `TUNSETSTEERINGEBPF`: the program's return value modulo the queue count
/// picks the queue every transmitted packet goes to.
fn ebpf_steering(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    let (q0, name) = tun_create("rtsteer", flags)?;
    let (q1, _) = tun_create(&name, flags)?;
    let peers = Peers::new(&name, 90, &[[2, 0, 0, 0, 0, 0x11]])?;
    for (ret, want0, want1) in [(1, 0, 5), (2, 5, 0), (3, 0, 5)] {
        let prog = bpf_socket_filter_returning(ret)?;
        let mut fd = prog.as_raw_fd();
        ioctl_ptr(&q0, TUNSETSTEERINGEBPF, &mut fd).map_err(errno_name)?;
        peers.send("10.90.0.2")?;
        let (got0, got1) = (drain(&q0)?.len(), drain(&q1)?.len());
        ensure!(
            (got0, got1) == (want0, want1),
            "steering returning {ret}: queue 0 got {got0}, queue 1 {got1}"
        );
    }
    let mut fd = -1;
    ioctl_ptr(&q1, TUNSETSTEERINGEBPF, &mut fd).map_err(errno_name)?;
    Ok(())
}
