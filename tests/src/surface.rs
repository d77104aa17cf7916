// SPDX-License-Identifier: GPL-2.0

//! What tools read about a tun device besides its packets: ethtool.

use std::process::Command;

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    ethtool_info_and_settings,
    fdinfo_iff,
    create_in_user_namespace,
    tap_txfilter,
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
    use std::io::Read;
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
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&["addr", "add", "10.87.0.1/24", "dev", &name])?;
    ip(&["link", "set", &name, "up"])?;
    let (good, bad) = ([2, 0, 0, 0, 0, 0x11], [2, 0, 0, 0, 0, 0x22]);
    ip(&[
        "neigh",
        "add",
        "10.87.0.2",
        "lladdr",
        "02:00:00:00:00:11",
        "dev",
        &name,
    ])?;
    ip(&[
        "neigh",
        "add",
        "10.87.0.3",
        "lladdr",
        "02:00:00:00:00:22",
        "dev",
        &name,
    ])?;
    let mut buf = tun_filter(0, &[good]);
    let n = ioctl_ptr(&f, TUNSETTXFILTER, buf.as_mut_ptr()).map_err(errno_name)?;
    ensure!(n == 1, "TUNSETTXFILTER returned {n}");
    let sock = std::net::UdpSocket::bind("10.87.0.1:0").map_err(|e| e.to_string())?;
    let count_to = |dest: &str, mac: [u8; 6]| -> Result<usize, String> {
        for _ in 0..5 {
            sock.send_to(b"flt", (dest, 9)).map_err(|e| e.to_string())?;
        }
        let mut got = 0;
        let mut b = [0u8; 2048];
        while poll1(&f, libc::POLLIN, 100) & libc::POLLIN != 0 {
            let n = (&f).read(&mut b).map_err(|e| e.to_string())?;
            if n >= 14 && b[..6] == mac {
                got += 1;
            }
        }
        Ok(got)
    };
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
