// SPDX-License-Identifier: GPL-2.0

//! The ioctls of an attached file, with valid and invalid arguments, and
//! who may attach to an existing device.

use std::fs;

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    owner_group_values,
    setlink,
    setoffload_accepted_sets,
    hwaddr_get_set,
    sndbuf,
    vnet_hdr_sz_and_endianness,
    setcarrier,
    getdevnetns,
    attach_permission,
];

const TUNSETDEBUG_ARG: u64 = 0x3f;

fn sysfs(name: &str, attr: &str) -> Result<String, String> {
    fs::read_to_string(format!("/sys/class/net/{name}/{attr}"))
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("{name}/{attr}: {e}"))
}

fn expect(r: SysResult, want: Result<i64, i32>, what: &str) -> TestResult {
    ensure!(
        r == want,
        "{what}: got {}, want {}",
        r.map_or_else(errno_name, |v| v.to_string()),
        want.map_or_else(errno_name, |v| v.to_string())
    );
    Ok(())
}

/// `TUNSETOWNER`/`TUNSETGROUP` take any id that maps, not -1;
/// `TUNSETDEBUG` and `TUNSETNOCSUM` take anything.
fn owner_group_values(_: &Ctx) -> TestResult {
    let (f, _) = tun_create("rtowner", IFF_TUN | IFF_NO_PI)?;
    for cmd in [TUNSETOWNER, TUNSETGROUP] {
        expect(ioctl_val(&f, cmd, 1000), Ok(0), "set 1000")?;
        expect(ioctl_val(&f, cmd, 0), Ok(0), "set 0")?;
        expect(ioctl_val(&f, cmd, 0xffff_ffff), Err(libc::EINVAL), "set -1")?;
    }
    expect(
        ioctl_val(&f, TUNSETDEBUG, TUNSETDEBUG_ARG),
        Ok(0),
        "TUNSETDEBUG",
    )?;
    expect(ioctl_val(&f, TUNSETNOCSUM, 1), Ok(0), "TUNSETNOCSUM")?;
    expect(
        ioctl_val(&f, 0x54fa, 0),
        Err(libc::EINVAL),
        "unknown command attached",
    )?;
    Ok(())
}

/// `TUNSETLINK` changes the link type only while the device is down.
fn setlink(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtsetlink", IFF_TUN | IFF_NO_PI)?;
    ip(&["link", "set", &name, "up"])?;
    expect(
        ioctl_val(&f, TUNSETLINK, 1),
        Err(libc::EBUSY),
        "TUNSETLINK while up",
    )?;
    ip(&["link", "set", &name, "down"])?;
    expect(ioctl_val(&f, TUNSETLINK, 1), Ok(0), "TUNSETLINK ether")?;
    ensure!(sysfs(&name, "type")? == "1", "type after TUNSETLINK 1");
    ensure!(
        sysfs(&name, "addr_len")? == "6",
        "addr_len after TUNSETLINK 1"
    );
    expect(ioctl_val(&f, TUNSETLINK, 776), Ok(0), "TUNSETLINK sit")?;
    ensure!(
        sysfs(&name, "addr_len")? == "4",
        "addr_len after TUNSETLINK 776"
    );
    Ok(())
}

/// `TUNSETOFFLOAD` accepts exactly the combinations tun.c knows, and
/// refuses any other bit so that user space can probe.
fn setoffload_accepted_sets(_: &Ctx) -> TestResult {
    let (f, _) = tun_create("rtoffload", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)?;
    let ok = [
        0,
        TUN_F_CSUM,
        TUN_F_CSUM | TUN_F_TSO4,
        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
        TUN_F_CSUM | TUN_F_UFO,
        TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6,
        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6,
    ];
    for arg in ok {
        expect(
            ioctl_val(&f, TUNSETOFFLOAD, arg),
            Ok(0),
            &format!("offload {arg:#x}"),
        )?;
    }
    let bad = [
        TUN_F_TSO4,
        TUN_F_UFO,
        TUN_F_CSUM | TUN_F_TSO_ECN,
        TUN_F_CSUM | TUN_F_USO4,
        TUN_F_CSUM | 0x80,
        1 << 40,
    ];
    for arg in bad {
        expect(
            ioctl_val(&f, TUNSETOFFLOAD, arg),
            Err(libc::EINVAL),
            &format!("offload {arg:#x}"),
        )?;
    }
    Ok(())
}

/// `SIOCGIFHWADDR` reports family and address; `SIOCSIFHWADDR` sets it.
fn hwaddr_get_set(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rthwaddr", IFF_TAP | IFF_NO_PI)?;
    let mut ifr = IfReq::default();
    ioctl_ptr(&f, SIOCGIFHWADDR, &mut ifr).map_err(errno_name)?;
    let raw = unsafe_bytes(&ifr);
    ensure!(
        u16::from_ne_bytes([raw[16], raw[17]]) == 1,
        "family not ARPHRD_ETHER"
    );
    let mac: Vec<String> = raw[18..24].iter().map(|b| format!("{b:02x}")).collect();
    ensure!(
        mac.join(":") == sysfs(&name, "address")?,
        "address {}",
        mac.join(":")
    );
    let mut set = IfReq::default();
    set.flags = 1; // sa_family = ARPHRD_ETHER, in the union's first bytes
    set.pad[..6].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    ioctl_ptr(&f, SIOCSIFHWADDR, &mut set).map_err(errno_name)?;
    ensure!(
        sysfs(&name, "address")? == "02:11:22:33:44:55",
        "address not set"
    );
    let (t, _) = tun_create("rthwaddr1", IFF_TUN | IFF_NO_PI)?;
    let mut ifr = IfReq::default();
    ioctl_ptr(&t, SIOCGIFHWADDR, &mut ifr).map_err(errno_name)?;
    let raw = unsafe_bytes(&ifr);
    ensure!(
        u16::from_ne_bytes([raw[16], raw[17]]) == 65534,
        "TUN family"
    );
    Ok(())
}

fn unsafe_bytes(ifr: &IfReq) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..16].copy_from_slice(&ifr.name);
    b[16..18].copy_from_slice(&ifr.flags.to_ne_bytes());
    b[18..].copy_from_slice(&ifr.pad);
    b
}

/// `TUNGETSNDBUF` starts at `INT_MAX`; `TUNSETSNDBUF` takes positives.
fn sndbuf(_: &Ctx) -> TestResult {
    let (f, _) = tun_create("rtsndbuf", IFF_TUN | IFF_NO_PI)?;
    let mut v: i32 = 0;
    ioctl_ptr(&f, TUNGETSNDBUF, &mut v).map_err(errno_name)?;
    ensure!(v == i32::MAX, "default sndbuf {v}");
    for bad in [0i32, -1] {
        let mut b = bad;
        expect(
            ioctl_ptr(&f, TUNSETSNDBUF, &mut b),
            Err(libc::EINVAL),
            "sndbuf <= 0",
        )?;
    }
    let mut s: i32 = 65536;
    expect(ioctl_ptr(&f, TUNSETSNDBUF, &mut s), Ok(0), "sndbuf 65536")?;
    ioctl_ptr(&f, TUNGETSNDBUF, &mut v).map_err(errno_name)?;
    ensure!(v == 65536, "sndbuf after set {v}");
    expect(
        ioctl_ptr(&f, TUNSETSNDBUF, std::ptr::null_mut::<i32>()),
        Err(libc::EFAULT),
        "sndbuf NULL",
    )
}

/// The vnet header size (at least 10, default 10) and its byte order.
fn vnet_hdr_sz_and_endianness(_: &Ctx) -> TestResult {
    let (f, _) = tun_create("rtvnet", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)?;
    let mut v: i32 = 0;
    ioctl_ptr(&f, TUNGETVNETHDRSZ, &mut v).map_err(errno_name)?;
    ensure!(v == 10, "default vnet_hdr_sz {v}");
    let mut s: i32 = 9;
    expect(
        ioctl_ptr(&f, TUNSETVNETHDRSZ, &mut s),
        Err(libc::EINVAL),
        "vnet_hdr_sz 9",
    )?;
    let mut s: i32 = 12;
    expect(
        ioctl_ptr(&f, TUNSETVNETHDRSZ, &mut s),
        Ok(0),
        "vnet_hdr_sz 12",
    )?;
    ioctl_ptr(&f, TUNGETVNETHDRSZ, &mut v).map_err(errno_name)?;
    ensure!(v == 12, "vnet_hdr_sz after set {v}");
    ioctl_ptr(&f, TUNGETVNETLE, &mut v).map_err(errno_name)?;
    ensure!(v == 0, "default LE {v}");
    let mut one: i32 = 1;
    expect(ioctl_ptr(&f, TUNSETVNETLE, &mut one), Ok(0), "set LE")?;
    ioctl_ptr(&f, TUNGETVNETLE, &mut v).map_err(errno_name)?;
    ensure!(v == 1, "LE after set {v}");
    // Big-endian headers need CONFIG_TUN_VNET_CROSS_LE, which is off.
    expect(
        ioctl_ptr(&f, TUNGETVNETBE, &mut v),
        Err(libc::EINVAL),
        "TUNGETVNETBE",
    )?;
    expect(
        ioctl_ptr(&f, TUNSETVNETBE, &mut one),
        Err(libc::EINVAL),
        "TUNSETVNETBE",
    )?;
    Ok(())
}

/// `TUNSETCARRIER` switches the carrier of an up device.
fn setcarrier(_: &Ctx) -> TestResult {
    let (f, name) = tun_create("rtcarrier", IFF_TUN | IFF_NO_PI)?;
    ip(&["link", "set", &name, "up"])?;
    ensure!(sysfs(&name, "carrier")? == "1", "carrier after attach");
    let mut off: i32 = 0;
    expect(ioctl_ptr(&f, TUNSETCARRIER, &mut off), Ok(0), "carrier off")?;
    ensure!(sysfs(&name, "carrier")? == "0", "carrier not off");
    let mut on: i32 = 1;
    expect(ioctl_ptr(&f, TUNSETCARRIER, &mut on), Ok(0), "carrier on")?;
    ensure!(sysfs(&name, "carrier")? == "1", "carrier not on");
    let (g, n2) = tun_create("rtcarrier1", IFF_TUN | IFF_NO_PI | IFF_NO_CARRIER)?;
    ip(&["link", "set", &n2, "up"])?;
    ensure!(
        sysfs(&n2, "carrier")? == "0",
        "IFF_NO_CARRIER device has carrier"
    );
    drop(g);
    Ok(())
}

/// `TUNGETDEVNETNS` opens the device's network namespace.
fn getdevnetns(_: &Ctx) -> TestResult {
    let (f, _) = tun_create("rtnetns", IFF_TUN | IFF_NO_PI)?;
    let fd = ioctl_val(&f, TUNGETDEVNETNS, 0).map_err(errno_name)?;
    let ns = own_fd(fd);
    let got = fstat(&ns).map_err(errno_name)?;
    let want = stat("/proc/self/ns/net").map_err(errno_name)?;
    ensure!(
        (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino),
        "wrong netns"
    );
    Ok(())
}

/// Runs `f` in a child that dropped to `uid`/`gid` without capabilities;
/// returns its `TUNSETIFF` errno (0 for success).
fn as_user(fd: &fs::File, uid: u32, gid: u32, name: &str, flags: u32) -> Result<i32, String> {
    use std::os::fd::AsRawFd;
    let mut ifr = IfReq::new(name, flags);
    // SAFETY: The test runner is single-threaded here; the child only makes
    // system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        // SAFETY: Plain system calls in the child.
        unsafe {
            let groups = [gid];
            if libc::setgroups(1, groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                libc::_exit(200);
            }
            let r = libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut ifr);
            let e = if r < 0 { *libc::__errno_location() } else { 0 };
            libc::_exit(e);
        }
    }
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure!(libc::WIFEXITED(status), "child died");
    let code = libc::WEXITSTATUS(status);
    ensure!(code != 200, "child could not drop privileges");
    Ok(code)
}

/// Attaching to an existing device takes `CAP_NET_ADMIN`, or matching
/// the owner and the group that are set: both, when both are.
fn attach_permission(_: &Ctx) -> TestResult {
    // (owner, group) of the device, then (uid, gid, allowed) attempts.
    let cases: [(Option<u64>, Option<u64>, &[(u32, u32, bool)]); 3] = [
        (Some(1000), None, &[(1000, 1000, true), (3000, 3000, false)]),
        (None, Some(2000), &[(3000, 2000, true), (3000, 3000, false)]),
        (
            Some(1000),
            Some(2000),
            &[(1000, 2000, true), (1000, 1000, false), (3000, 2000, false)],
        ),
    ];
    for (owner, group, attempts) in cases {
        let (f, name) = tun_create("rtperm", IFF_TAP | IFF_NO_PI)?;
        ioctl_val(&f, TUNSETPERSIST, 1).map_err(errno_name)?;
        if let Some(o) = owner {
            ioctl_val(&f, TUNSETOWNER, o).map_err(errno_name)?;
        }
        if let Some(g) = group {
            ioctl_val(&f, TUNSETGROUP, g).map_err(errno_name)?;
        }
        drop(f);
        let mut result = Ok(());
        for &(uid, gid, allowed) in attempts {
            let g = open_tun().map_err(|e| e.to_string())?;
            let e = as_user(&g, uid, gid, &name, IFF_TAP | IFF_NO_PI)?;
            let want = if allowed { 0 } else { libc::EPERM };
            if e != want {
                result = Err(format!(
                    "owner {owner:?} group {group:?}: uid {uid} gid {gid} got {}",
                    errno_name(e)
                ));
                break;
            }
        }
        let (g, _) = tun_create(&name, IFF_TAP | IFF_NO_PI)?;
        ioctl_val(&g, TUNSETPERSIST, 0).map_err(errno_name)?;
        drop(g);
        result?;
    }
    let g = open_tun().map_err(|e| e.to_string())?;
    let e = as_user(&g, 3000, 3000, "rtpermnew", IFF_TAP)?;
    ensure!(
        e == libc::EPERM,
        "unprivileged create got {}",
        errno_name(e)
    );
    Ok(())
}
