// SPDX-License-Identifier: GPL-2.0

//! What tools read about a tun device besides its packets: ethtool.

use std::process::Command;

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![ethtool_info_and_settings, fdinfo_iff];

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
