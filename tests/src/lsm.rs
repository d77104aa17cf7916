// SPDX-License-Identifier: GPL-2.0

//! tun's LSM hooks: a BPF LSM program (the debug kernel boots with
//! `CONFIG_LSM="bpf"` and BTF) that denies one `security_tun_dev_*` hook at
//! a time makes exactly the operation that hook guards fail with its errno,
//! and nothing else; detaching it lets the operation through again.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::{ensure, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    lsm_denies_create,
    lsm_denies_alloc_security,
    lsm_denies_attach,
    lsm_denies_open,
    lsm_denies_attach_queue,
];

const BPF_PROG_LOAD: i64 = 5;
const BPF_RAW_TRACEPOINT_OPEN: i64 = 17;
const BPF_PROG_TYPE_LSM: u32 = 29;
const BPF_LSM_MAC: u32 = 27;
const BTF_KIND_FUNC: u32 = 12;

/// The BTF type id of function `name` in the kernel's BTF.
fn btf_func_id(name: &str) -> Result<u32, String> {
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| format!("vmlinux BTF: {e}"))?;
    let u32_at = |at: usize| -> Result<u32, String> {
        btf.get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "BTF truncated".to_string())
    };
    ensure!(
        btf.len() > 24 && btf[0..2] == 0xeb9fu16.to_ne_bytes(),
        "not BTF"
    );
    let hdr_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let str_off = u32_at(16)? as usize;
    let strings = hdr_len + str_off;
    let name_at = |off: u32| -> &[u8] {
        let start = strings + off as usize;
        let rest = btf.get(start..).unwrap_or(&[]);
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    };
    let (mut at, end) = (hdr_len + type_off, hdr_len + type_off + type_len);
    let mut id = 1;
    while at < end {
        let (name_off, info) = (u32_at(at)?, u32_at(at + 4)?);
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        if kind == BTF_KIND_FUNC && name_at(name_off) == name.as_bytes() {
            return Ok(id);
        }
        at += 12
            + match kind {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
                _ => 0,
            };
        id += 1;
    }
    Err(format!("no BTF function {name}"))
}

/// A BPF LSM program on hook `hook` that returns -EPERM, attached; the hook
/// is free again when the returned descriptors close.
fn deny(hook: &str) -> Result<(OwnedFd, OwnedFd), String> {
    let id = btf_func_id(&format!("bpf_lsm_{hook}"))?;
    let mut insns = [0u8; 16];
    insns[0] = 0xb7; // r0 = -EPERM
    insns[4..8].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
    insns[8] = 0x95; // exit
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let mut attr = [0u8; 144];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_LSM.to_ne_bytes());
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    attr[68..72].copy_from_slice(&BPF_LSM_MAC.to_ne_bytes());
    attr[108..112].copy_from_slice(&id.to_ne_bytes());
    // SAFETY: BPF_PROG_LOAD with a valid, zero-padded attribute block.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_mut_ptr(), attr.len()) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(format!(
            "BPF_PROG_LOAD lsm/{hook}: {e}: {}",
            String::from_utf8_lossy(&log[..end])
        ));
    }
    let prog = own_fd(fd);
    let mut attr = [0u8; 24];
    attr[8..12].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    // SAFETY: BPF_RAW_TRACEPOINT_OPEN with no name attaches an LSM program
    // to its BTF hook.
    let link = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_RAW_TRACEPOINT_OPEN,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    ensure!(
        link >= 0,
        "attach lsm/{hook}: {}",
        std::io::Error::last_os_error()
    );
    Ok((prog, own_fd(link)))
}

/// Runs `op` with `hook` denied, expecting `EPERM`, then again with the
/// program gone, expecting success.
fn denied_then_allowed(hook: &str, op: impl Fn() -> Result<(), i32>) -> TestResult {
    let guard = deny(hook)?;
    let r = op();
    drop(guard);
    expect_errno(r, libc::EPERM, &format!("with {hook} denied"))?;
    op().map_err(|e| format!("with {hook} allowed again: {}", errno_name(e)))
}

/// `security_tun_dev_create`: creating a device.
fn lsm_denies_create(_: &Ctx) -> TestResult {
    denied_then_allowed("tun_dev_create", || {
        tun_create_err("rtlsmc", IFF_TUN).map(drop)
    })
}

/// `security_tun_dev_alloc_security`: the new device's blob.
fn lsm_denies_alloc_security(_: &Ctx) -> TestResult {
    denied_then_allowed("tun_dev_alloc_security", || {
        tun_create_err("rtlsma", IFF_TAP).map(drop)
    })?;
    ensure!(
        sysfs("rtlsma", "ifindex").is_err(),
        "a refused device exists"
    );
    Ok(())
}

/// `security_tun_dev_attach`: a file becoming a queue, of a new device or
/// an existing one.
fn lsm_denies_attach(_: &Ctx) -> TestResult {
    denied_then_allowed("tun_dev_attach", || {
        tun_create_err("rtlsmt", IFF_TUN).map(drop)
    })?;
    let flags = IFF_TAP | IFF_MULTI_QUEUE;
    let (_a, name) = tun_create("rtlsmt2", flags)?;
    denied_then_allowed("tun_dev_attach", || tun_create_err(&name, flags).map(drop))
}

/// `security_tun_dev_open`: attaching to an existing device, not creating.
fn lsm_denies_open(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_MULTI_QUEUE;
    let guard = deny("tun_dev_open")?;
    let created = tun_create("rtlsmo", flags);
    let second = match &created {
        Ok((_, name)) => tun_create_err(name, flags).map(drop),
        Err(_) => Ok(()),
    };
    drop(guard);
    let (_a, name) = created.map_err(|e| format!("create with tun_dev_open denied: {e}"))?;
    expect_errno(second, libc::EPERM, "attach with tun_dev_open denied")?;
    tun_create(&name, flags).map(drop)
}

/// `security_tun_dev_attach_queue`: re-enabling a detached queue
/// (`TUNSETQUEUE` with `IFF_ATTACH_QUEUE`); detaching is not guarded.
fn lsm_denies_attach_queue(_: &Ctx) -> TestResult {
    let flags = IFF_TAP | IFF_MULTI_QUEUE;
    let (a, name) = tun_create("rtlsmq", flags)?;
    let (_b, _) = tun_create(&name, flags)?;
    let guard = deny("tun_dev_attach_queue")?;
    let mut detach = IfReq::new("", IFF_DETACH_QUEUE);
    let detached = ioctl_ptr(&a, TUNSETQUEUE, &mut detach);
    let mut attach = IfReq::new("", IFF_ATTACH_QUEUE);
    let denied = ioctl_ptr(&a, TUNSETQUEUE, &mut attach);
    drop(guard);
    detached.map_err(|e| format!("detach with attach_queue denied: {}", errno_name(e)))?;
    expect_errno(denied, libc::EPERM, "attach_queue denied")?;
    ioctl_ptr(&a, TUNSETQUEUE, &mut attach)
        .map(drop)
        .map_err(|e| format!("attach_queue allowed again: {}", errno_name(e)))
}
