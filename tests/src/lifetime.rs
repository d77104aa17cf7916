// SPDX-License-Identifier: GPL-2.0

//! A device over its life: the MTU range, carrier state and its counters
//! across a persistent device's close and reopen (as LTP checks them), and
//! network namespaces: moving a device, and a namespace taking its
//! persistent devices with it.

use std::fs;

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    mtu_range,
    carrier_counts_across_reopen,
    device_moved_to_netns,
    persistent_device_dies_with_netns,
];

/// MTUs 68 (the IPv4 minimum), 1500, 9000 and 65535 are accepted on a TUN
/// device; -1, 0, 67 and 70000 are rejected, through sysfs.
fn mtu_range(_: &Ctx) -> TestResult {
    let (_f, name) = tun_create("rtmtu%d", IFF_TUN | IFF_NO_PI)?;
    let path = format!("/sys/class/net/{name}/mtu");
    for mtu in ["68", "1500", "9000", "65535"] {
        fs::write(&path, mtu).map_err(|e| format!("mtu {mtu} refused: {e}"))?;
        ensure!(sysfs(&name, "mtu")? == mtu, "mtu {mtu} not taken");
    }
    for mtu in ["-1", "0", "67", "70000"] {
        ensure!(fs::write(&path, mtu).is_err(), "mtu {mtu} accepted");
        ensure!(sysfs(&name, "mtu")? == "65535", "mtu {mtu} changed it");
    }
    Ok(())
}

/// A persistent, up device loses its carrier when its last file closes and
/// regains it when a file attaches again; `carrier_up_count` and
/// `carrier_down_count` count each change once.
fn carrier_counts_across_reopen(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtcarrier", IFF_TAP | IFF_NO_PI)?;
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
    ip(&["link", "set", &name, "up"])?;
    ensure!(sysfs(&name, "carrier")? == "1", "no carrier while attached");
    let (up, down) = (
        sysfs_u64(&name, "carrier_up_count")?,
        sysfs_u64(&name, "carrier_down_count")?,
    );
    drop(f);
    ensure!(sysfs(&name, "carrier")? == "0", "carrier with no file");
    ensure!(
        sysfs_u64(&name, "carrier_down_count")? == down + 1,
        "carrier_down_count {} after close, was {down}",
        sysfs_u64(&name, "carrier_down_count")?
    );
    let (f, _) = tun_create(&name, IFF_TAP | IFF_NO_PI)?;
    ensure!(sysfs(&name, "carrier")? == "1", "no carrier after reopen");
    ensure!(
        sysfs_u64(&name, "carrier_up_count")? == up + 1,
        "carrier_up_count {} after reopen, was {up}",
        sysfs_u64(&name, "carrier_up_count")?
    );
    ioctl_val(&f, TUNSETPERSIST, 0).map_err(errno_name)?;
    Ok(())
}

/// `ip link set DEV netns NS` moves a device with its open queue:
/// `TUNGETDEVNETNS` then opens the new namespace, and `TUNGETIFF` still
/// works.
fn device_moved_to_netns(_: &Ctx) -> TestResult {
    let _ = ip(&["netns", "del", "rtmove"]);
    ip(&["netns", "add", "rtmove"])?;
    let result = (|| {
        let (f, name) = tun_create("rtmoved", IFF_TUN | IFF_NO_PI)?;
        ip(&["link", "set", &name, "netns", "rtmove"])?;
        ensure!(
            !std::path::Path::new(&format!("/sys/class/net/{name}")).exists(),
            "device still in the first namespace"
        );
        let fd = ioctl_val(&f, TUNGETDEVNETNS, 0).map_err(errno_name)?;
        let ns = own_fd(fd);
        let want = stat("/var/run/netns/rtmove").map_err(errno_name)?;
        let got = fstat(&ns).map_err(errno_name)?;
        ensure!(
            (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino),
            "TUNGETDEVNETNS is not the namespace the device moved to"
        );
        let ifr = getiff(&f).map_err(errno_name)?;
        ensure!(
            ifr.name() == name,
            "TUNGETIFF after the move: {:?}",
            ifr.name()
        );
        let out = ip(&["-n", "rtmove", "link", "show", &name])?;
        ensure!(out.contains(&name), "not in the new namespace: {out}");
        Ok(())
    })();
    let _ = ip(&["netns", "del", "rtmove"]);
    result
}

/// A persistent device moved into a namespace is destroyed with it (the
/// namespace's devices are unregistered, its file-less queue state freed);
/// the module can then be unloaded without it.
fn persistent_device_dies_with_netns(ctx: &Ctx) -> TestResult {
    let _ = ip(&["netns", "del", "rtdoomed"]);
    ip(&["netns", "add", "rtdoomed"])?;
    let (f, name) = tun_create("rtdoomed0", IFF_TAP | IFF_NO_PI)?;
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
    drop(f);
    ip(&["link", "set", &name, "netns", "rtdoomed"])?;
    ip(&["netns", "del", "rtdoomed"])?;
    // Namespace teardown runs from a workqueue: wait for the module
    // reference the persistent device held to go.
    let refs = || {
        fs::read_to_string(format!("/sys/module/{}/refcnt", ctx.module_name))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while refs() != "0" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ensure!(
        refs() == "0",
        "module still referenced ({}) after the namespace went",
        refs()
    );
    Ok(())
}
