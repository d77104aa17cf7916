// SPDX-License-Identifier: GPL-2.0

//! What tools read about a tun device besides its packets: ethtool.

use std::process::Command;

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    ethtool_info_and_settings,
    fdinfo_iff,
    create_in_user_namespace
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
