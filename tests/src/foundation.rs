// SPDX-License-Identifier: GPL-2.0

//! What tun does before any device exists: the character device, module
//! life cycle, `TUNGETFEATURES`, and the errno of every ioctl on a file that
//! is not attached to a device.
//!
//! `TUNSETIFF` on an unattached file creates a device and belongs with the
//! data-path tests.

use std::{
    fs,
    os::{fd::AsRawFd, unix::fs::FileTypeExt},
    process::Command,
};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    node_is_char_10_200,
    modinfo_aliases,
    getfeatures,
    unattached_ioctls_ebadfd,
    unattached_ioctls_efault,
    unattached_setqueue_einval,
    unattached_setifindex,
    siocgskns_opens_netns,
    rtnetlink_create_refused,
    open_close_1000,
    open_close_threads,
    rmmod_refused_while_open,
    insmod_rmmod_20,
];

fn open() -> Result<fs::File, String> {
    open_tun().map_err(|e| format!("open /dev/net/tun: {e}"))
}

/// `/dev/net/tun` is the character device 10:200 (misc, `TUN_MINOR`).
fn node_is_char_10_200(_: &Ctx) -> TestResult {
    let st = stat("/dev/net/tun").map_err(|e| format!("stat: {}", errno_name(e)))?;
    let meta = fs::metadata("/dev/net/tun").map_err(|e| e.to_string())?;
    ensure!(
        meta.file_type().is_char_device(),
        "/dev/net/tun is not a character device"
    );
    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    ensure!(
        (major, minor) == (10, 200),
        "/dev/net/tun is {major}:{minor}"
    );
    let dev = fs::read_to_string("/sys/class/misc/tun/dev").map_err(|e| e.to_string())?;
    ensure!(dev.trim() == "10:200", "/sys/class/misc/tun/dev is {dev:?}");
    Ok(())
}

/// The module carries tun.ko's aliases, so that opening `/dev/net/tun` or
/// the misc minor loads it on demand, and its GPL licence.
fn modinfo_aliases(ctx: &Ctx) -> TestResult {
    let field = |f: &str| -> Result<Vec<String>, String> {
        let out = Command::new("modinfo")
            .args(["-F", f, &ctx.module_path])
            .output()
            .map_err(|e| format!("modinfo: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    };
    let aliases = field("alias")?;
    for want in ["char-major-10-200", "devname:net/tun"] {
        ensure!(
            aliases.iter().any(|a| a == want),
            "no alias {want} in {aliases:?}"
        );
    }
    ensure!(field("license")? == ["GPL"], "licence is not GPL");
    Ok(())
}

/// `TUNGETFEATURES` works on an unattached file and reports every flag
/// `TUNSETIFF` accepts.
fn getfeatures(_: &Ctx) -> TestResult {
    let f = open()?;
    let mut features: u32 = 0;
    ioctl_ptr(&f, TUNGETFEATURES, &mut features).map_err(errno_name)?;
    let want = IFF_TUN
        | IFF_TAP
        | IFF_NO_CARRIER
        | IFF_NO_PI
        | IFF_ONE_QUEUE
        | IFF_VNET_HDR
        | IFF_MULTI_QUEUE
        | IFF_NAPI
        | IFF_NAPI_FRAGS;
    ensure!(features == want, "features {features:#x}, want {want:#x}");
    expect_errno(
        ioctl_ptr(&f, TUNGETFEATURES, std::ptr::null_mut::<u32>()),
        libc::EFAULT,
        "TUNGETFEATURES(NULL)",
    )
}

/// Every command that needs a device fails with `EBADFD` on a file that has
/// none, whatever its argument, and so do unknown commands.
fn unattached_ioctls_ebadfd(_: &Ctx) -> TestResult {
    let f = open()?;
    let cmds = [
        ("TUNSETNOCSUM", TUNSETNOCSUM),
        ("TUNSETDEBUG", TUNSETDEBUG),
        ("TUNSETPERSIST", TUNSETPERSIST),
        ("TUNSETOWNER", TUNSETOWNER),
        ("TUNSETLINK", TUNSETLINK),
        ("TUNSETGROUP", TUNSETGROUP),
        ("TUNSETOFFLOAD", TUNSETOFFLOAD),
        ("TUNSETTXFILTER", TUNSETTXFILTER),
        ("TUNGETIFF", TUNGETIFF),
        ("TUNGETSNDBUF", TUNGETSNDBUF),
        ("TUNSETSNDBUF", TUNSETSNDBUF),
        ("TUNATTACHFILTER", TUNATTACHFILTER),
        ("TUNDETACHFILTER", TUNDETACHFILTER),
        ("TUNGETVNETHDRSZ", TUNGETVNETHDRSZ),
        ("TUNSETVNETHDRSZ", TUNSETVNETHDRSZ),
        ("TUNGETFILTER", TUNGETFILTER),
        ("TUNSETVNETLE", TUNSETVNETLE),
        ("TUNGETVNETLE", TUNGETVNETLE),
        ("TUNSETVNETBE", TUNSETVNETBE),
        ("TUNGETVNETBE", TUNGETVNETBE),
        ("TUNSETSTEERINGEBPF", TUNSETSTEERINGEBPF),
        ("TUNSETFILTEREBPF", TUNSETFILTEREBPF),
        ("TUNSETCARRIER", TUNSETCARRIER),
        ("TUNGETDEVNETNS", TUNGETDEVNETNS),
        ("SIOCGIFHWADDR", SIOCGIFHWADDR),
        ("SIOCSIFHWADDR", SIOCSIFHWADDR),
        ("SIOCGIFFLAGS", SIOCGIFFLAGS),
        ("_IO('T', 250)", 0x54fa),
        ("0", 0),
    ];
    let mut errors = Vec::new();
    for (name, cmd) in cmds {
        let mut buf = IfReq::default();
        if let Err(e) = expect_errno(ioctl_ptr(&f, cmd, &mut buf), libc::EBADFD, name) {
            errors.push(e);
        }
        // Integer-argument style (TUNSETPERSIST 1, TUNSETNOCSUM 0, ...).
        if let Err(e) = expect_errno(ioctl_val(&f, cmd, 1), libc::EBADFD, name) {
            if cmd != SIOCGIFHWADDR && cmd != SIOCSIFHWADDR && cmd != SIOCGIFFLAGS {
                errors.push(format!("{e} (by value)"));
            }
        }
    }
    ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(())
}

/// The commands whose argument is a `struct ifreq` copy it in first: a bad
/// pointer is `EFAULT` before anything else is checked.
fn unattached_ioctls_efault(_: &Ctx) -> TestResult {
    let f = open()?;
    let null = std::ptr::null_mut::<IfReq>();
    expect_errno(
        ioctl_ptr(&f, TUNSETQUEUE, null),
        libc::EFAULT,
        "TUNSETQUEUE(NULL)",
    )?;
    expect_errno(
        ioctl_ptr(&f, SIOCGIFHWADDR, null),
        libc::EFAULT,
        "SIOCGIFHWADDR(NULL)",
    )?;
    expect_errno(
        ioctl_ptr(&f, SIOCSIFHWADDR, null),
        libc::EFAULT,
        "SIOCSIFHWADDR(NULL)",
    )?;
    expect_errno(
        ioctl_ptr(&f, TUNSETIFINDEX, null),
        libc::EFAULT,
        "TUNSETIFINDEX(NULL)",
    )?;
    // Commands that need a device do not read their argument first.
    expect_errno(
        ioctl_ptr(&f, TUNGETIFF, null),
        libc::EBADFD,
        "TUNGETIFF(NULL)",
    )
}

/// `TUNSETQUEUE` without a device: attach needs one the file was detached
/// from, detach one it is attached to; any other flag is invalid.
fn unattached_setqueue_einval(_: &Ctx) -> TestResult {
    let f = open()?;
    for flags in [IFF_ATTACH_QUEUE, IFF_DETACH_QUEUE, 0, IFF_TUN, 0xffff] {
        let mut ifr = IfReq {
            flags: flags as u16 as i16,
            ..Default::default()
        };
        expect_errno(
            ioctl_ptr(&f, TUNSETQUEUE, &mut ifr),
            libc::EINVAL,
            &format!("TUNSETQUEUE({flags:#x})"),
        )?;
    }
    Ok(())
}

/// `TUNSETIFINDEX` works unattached: a negative index is invalid.
fn unattached_setifindex(_: &Ctx) -> TestResult {
    let f = open()?;
    let mut idx: i32 = -1;
    expect_errno(
        ioctl_ptr(&f, TUNSETIFINDEX, &mut idx),
        libc::EINVAL,
        "TUNSETIFINDEX(-1)",
    )?;
    for mut idx in [0i32, 4242, i32::MAX] {
        ensure!(
            ioctl_ptr(&f, TUNSETIFINDEX, &mut idx) == Ok(0),
            "TUNSETIFINDEX({idx}) failed"
        );
    }
    Ok(())
}

/// `SIOCGSKNS` opens the network namespace the file was opened in.
fn siocgskns_opens_netns(_: &Ctx) -> TestResult {
    let f = open()?;
    let fd = ioctl_val(&f, SIOCGSKNS, 0).map_err(|e| format!("SIOCGSKNS: {}", errno_name(e)))?;
    let ns = own_fd(fd);
    let got = fstat(&ns).map_err(errno_name)?;
    let want = stat("/proc/self/ns/net").map_err(errno_name)?;
    ensure!(
        (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino),
        "SIOCGSKNS fd {} is not this task's netns",
        ns.as_raw_fd()
    );
    Ok(())
}

/// `ip link add ... type tun` is refused: tun devices come from `TUNSETIFF`.
fn rtnetlink_create_refused(_: &Ctx) -> TestResult {
    let out = Command::new("ip")
        .args(["link", "add", "rtuntest0", "type", "tun"])
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "ip link add type tun succeeded");
    ensure!(
        stderr.contains("tun/tap creation via rtnetlink is not supported."),
        "ip said {stderr:?}"
    );
    Ok(())
}

fn open_close_1000(_: &Ctx) -> TestResult {
    for i in 0..1000 {
        let f = open().map_err(|e| format!("open #{i}: {e}"))?;
        drop(f);
    }
    Ok(())
}

/// Opens, queries and closes from several threads at once.
fn open_close_threads(_: &Ctx) -> TestResult {
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| -> TestResult {
                for _ in 0..250 {
                    let f = open()?;
                    let mut features = 0u32;
                    ioctl_ptr(&f, TUNGETFEATURES, &mut features).map_err(errno_name)?;
                    expect_errno(ioctl_val(&f, TUNGETIFF, 0), libc::EBADFD, "TUNGETIFF")?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "worker panicked".to_string())??;
    }
    Ok(())
}

fn refcnt(name: &str) -> Result<String, String> {
    fs::read_to_string(format!("/sys/module/{name}/refcnt"))
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("refcnt: {e}"))
}

/// An open file holds a reference on the module: unloading fails until it
/// is closed. (How many references is the driver's business: tun.ko takes
/// one for the file and one for its socket's `proto`.)
fn rmmod_refused_while_open(ctx: &Ctx) -> TestResult {
    let count = || -> Result<u32, String> {
        refcnt(&ctx.module_name)?
            .parse()
            .map_err(|e| format!("refcnt: {e}"))
    };
    let idle = count()?;
    let f = open()?;
    let one = count()?;
    ensure!(one > idle, "refcnt {one} with a file open, {idle} without");
    expect_errno(
        rmmod(&ctx.module_name),
        libc::EWOULDBLOCK,
        "rmmod with a file open",
    )?;
    let f2 = open()?;
    let two = count()?;
    ensure!(
        two > one,
        "refcnt {two} with two files open, {one} with one"
    );
    drop((f, f2));
    ensure!(count()? == idle, "refcnt after close is not {idle}");
    Ok(())
}

/// The module unloads and loads again, cleanly, many times; each load brings
/// the node back and each unload takes it away.
fn insmod_rmmod_20(ctx: &Ctx) -> TestResult {
    for i in 0..20 {
        rmmod(&ctx.module_name).map_err(|e| format!("rmmod #{i}: {}", errno_name(e)))?;
        ensure!(
            !std::path::Path::new("/sys/class/misc/tun").exists(),
            "misc device still registered after rmmod #{i}"
        );
        insmod(&ctx.module_path).map_err(|e| format!("insmod #{i}: {}", errno_name(e)))?;
        let f = open().map_err(|e| format!("after insmod #{i}: {e}"))?;
        let mut features = 0u32;
        ioctl_ptr(&f, TUNGETFEATURES, &mut features).map_err(errno_name)?;
    }
    Ok(())
}
