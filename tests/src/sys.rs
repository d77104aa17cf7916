// SPDX-License-Identifier: GPL-2.0

//! The system calls the tests make, as thin `Result`-returning wrappers, and
//! tun's user-space ABI (`linux/if_tun.h`, `linux/sockios.h`) as the tests
//! see it: numbers spelled out, not taken from the driver under test.

use std::{
    ffi::CString,
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// An errno, or success with the call's return value.
pub type SysResult = Result<i64, i32>;

fn check(ret: i64) -> SysResult {
    if ret < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'T' as u64) << 8) | nr
}
const fn io(nr: u64) -> u64 {
    ioc(0, nr, 0)
}
const fn iow(nr: u64, size: usize) -> u64 {
    ioc(1, nr, size)
}
const fn ior(nr: u64, size: usize) -> u64 {
    ioc(2, nr, size)
}
const INT: usize = 4;
const FPROG: usize = 16;

pub const TUNSETNOCSUM: u64 = iow(200, INT);
pub const TUNSETDEBUG: u64 = iow(201, INT);
pub const TUNSETIFF: u64 = iow(202, INT);
pub const TUNSETPERSIST: u64 = iow(203, INT);
pub const TUNSETOWNER: u64 = iow(204, INT);
pub const TUNSETLINK: u64 = iow(205, INT);
pub const TUNSETGROUP: u64 = iow(206, INT);
pub const TUNGETFEATURES: u64 = ior(207, INT);
pub const TUNSETOFFLOAD: u64 = iow(208, INT);
pub const TUNSETTXFILTER: u64 = iow(209, INT);
pub const TUNGETIFF: u64 = ior(210, INT);
pub const TUNGETSNDBUF: u64 = ior(211, INT);
pub const TUNSETSNDBUF: u64 = iow(212, INT);
pub const TUNATTACHFILTER: u64 = iow(213, FPROG);
pub const TUNDETACHFILTER: u64 = iow(214, FPROG);
pub const TUNGETVNETHDRSZ: u64 = ior(215, INT);
pub const TUNSETVNETHDRSZ: u64 = iow(216, INT);
pub const TUNSETQUEUE: u64 = iow(217, INT);
pub const TUNSETIFINDEX: u64 = iow(218, INT);
pub const TUNGETFILTER: u64 = ior(219, FPROG);
pub const TUNSETVNETLE: u64 = iow(220, INT);
pub const TUNGETVNETLE: u64 = ior(221, INT);
pub const TUNSETVNETBE: u64 = iow(222, INT);
pub const TUNGETVNETBE: u64 = ior(223, INT);
pub const TUNSETSTEERINGEBPF: u64 = ior(224, INT);
pub const TUNSETFILTEREBPF: u64 = ior(225, INT);
pub const TUNSETCARRIER: u64 = iow(226, INT);
pub const TUNGETDEVNETNS: u64 = io(227);

pub const SIOCGIFFLAGS: u64 = 0x8913;
pub const SIOCSIFHWADDR: u64 = 0x8924;
pub const SIOCGIFHWADDR: u64 = 0x8927;
pub const SIOCGSKNS: u64 = 0x894c;

pub const IFF_TUN: u32 = 0x0001;
pub const IFF_TAP: u32 = 0x0002;
pub const IFF_NAPI: u32 = 0x0010;
pub const IFF_NAPI_FRAGS: u32 = 0x0020;
pub const IFF_NO_CARRIER: u32 = 0x0040;
pub const IFF_MULTI_QUEUE: u32 = 0x0100;
pub const IFF_ATTACH_QUEUE: u32 = 0x0200;
pub const IFF_DETACH_QUEUE: u32 = 0x0400;
pub const IFF_NO_PI: u32 = 0x1000;
pub const IFF_ONE_QUEUE: u32 = 0x2000;
pub const IFF_VNET_HDR: u32 = 0x4000;

/// `TUNSETOFFLOAD`'s flags.
pub const TUN_F_CSUM: u64 = 1;
pub const TUN_F_TSO4: u64 = 2;
pub const TUN_F_TSO6: u64 = 4;
pub const TUN_F_TSO_ECN: u64 = 8;
pub const TUN_F_UFO: u64 = 16;
pub const TUN_F_USO4: u64 = 32;
pub const TUN_F_USO6: u64 = 64;

/// `struct virtio_net_hdr`'s `flags` and `gso_type` values.
pub const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
pub const VIRTIO_NET_HDR_GSO_UDP_L4: u8 = 5;

/// `struct ifreq`: a name and a 24-byte union, 40 bytes on 64-bit.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IfReq {
    pub name: [u8; 16],
    pub flags: i16,
    pub pad: [u8; 22],
}

/// Opens `/dev/net/tun` read-write.
pub fn open_tun() -> io::Result<File> {
    File::options().read(true).write(true).open("/dev/net/tun")
}

/// `ioctl(fd, cmd, ptr)`.
pub fn ioctl_ptr<T>(fd: &impl AsRawFd, cmd: u64, arg: *mut T) -> SysResult {
    // SAFETY: The kernel validates `arg`; a bad pointer gives EFAULT.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, arg) } as i64)
}

/// `ioctl(fd, cmd, value)` for commands that take an integer argument.
pub fn ioctl_val(fd: &impl AsRawFd, cmd: u64, arg: u64) -> SysResult {
    // SAFETY: As above; the argument is passed by value.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, arg) } as i64)
}

/// Takes ownership of a file descriptor an ioctl returned.
pub fn own_fd(fd: i64) -> OwnedFd {
    // SAFETY: The kernel just installed `fd` for us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// `finit_module(2)`: loads the module in `path`.
pub fn insmod(path: &str) -> SysResult {
    insmod_with(path, "")
}

/// `insmod PATH PARAMS`.
pub fn insmod_with(path: &str, params: &str) -> SysResult {
    let file = File::open(path).map_err(|e| e.raw_os_error().unwrap_or(0))?;
    let params = std::ffi::CString::new(params).map_err(|_| libc::EINVAL)?;
    // SAFETY: A valid fd and NUL-terminated parameter string.
    check(unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) })
}

/// Makes reads and writes on `fd` return `EAGAIN` instead of waiting.
pub fn set_nonblock(fd: &impl AsRawFd) {
    // SAFETY: Plain fcntl(2) on a descriptor the caller holds.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
}

/// `delete_module(2)` with `O_NONBLOCK`, as rmmod does.
pub fn rmmod(name: &str) -> SysResult {
    let name = CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: A NUL-terminated module name.
    check(unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) })
}

/// `stat(2)`.
pub fn stat(path: &str) -> Result<libc::stat, i32> {
    let path = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: All-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: Valid path and output buffer.
    check(unsafe { libc::stat(path.as_ptr(), &mut st) } as i64)?;
    Ok(st)
}

/// `fstat(2)`.
pub fn fstat(fd: &impl AsRawFd) -> Result<libc::stat, i32> {
    // SAFETY: All-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: Valid fd and output buffer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as i64)?;
    Ok(st)
}

/// Expects the error `want` from a call described by `what`.
pub fn expect_errno<T: std::fmt::Debug>(
    r: Result<T, i32>,
    want: i32,
    what: &str,
) -> Result<(), String> {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!(
            "{what}: {} (want {})",
            errno_name(e),
            errno_name(want)
        )),
        Ok(v) => Err(format!(
            "{what}: returned {v:?} (want {})",
            errno_name(want)
        )),
    }
}

/// The name of an errno, for messages.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::EBADFD => "EBADFD",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENOTTY => "ENOTTY",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAGAIN => "EAGAIN",
        libc::ENOENT => "ENOENT",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// `IFF_TUN_EXCL`, `IFF_PERSIST` and `IFF_NOFILTER` of `if_tun.h`.
pub const IFF_TUN_EXCL: u32 = 0x8000;
pub const IFF_NOFILTER: u32 = 0x1000;
pub const IFF_PERSIST: u32 = 0x0800;

impl IfReq {
    /// A request for `name` with `flags`.
    pub fn new(name: &str, flags: u32) -> Self {
        let mut ifr = IfReq {
            flags: flags as u16 as i16,
            ..Default::default()
        };
        let n = name.len().min(15);
        ifr.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        ifr
    }

    /// `ifr_name` as a string.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Opens `/dev/net/tun` and `TUNSETIFF`s it: the file and the name the
/// kernel wrote back.
pub fn tun_create(name: &str, flags: u32) -> Result<(File, String), String> {
    let f = open_tun().map_err(|e| format!("open: {e}"))?;
    let mut ifr = IfReq::new(name, flags);
    ioctl_ptr(&f, TUNSETIFF, &mut ifr)
        .map_err(|e| format!("TUNSETIFF({name:?}, {flags:#x}): {}", errno_name(e)))?;
    Ok((f, ifr.name()))
}

/// `/sys/class/net/NAME/ATTR`, trimmed.
pub fn sysfs(name: &str, attr: &str) -> Result<String, String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{attr}"))
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("{name}/{attr}: {e}"))
}

/// A numeric `/sys/class/net/NAME/ATTR`.
pub fn sysfs_u64(name: &str, attr: &str) -> Result<u64, String> {
    sysfs(name, attr)?
        .parse()
        .map_err(|e| format!("{name}/{attr}: {e}"))
}

/// A read's or write's byte count, or its errno.
pub fn io_errno(r: io::Result<usize>) -> Result<usize, i32> {
    r.map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// How many `/sys/class/net/NAME/queues` entries start with `prefix`
/// (`rx-`, `tx-`); 0 if the device is gone.
pub fn queue_count(name: &str, prefix: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
            .count()
        })
        .unwrap_or(0)
}

/// `TUNGETIFF`: the attached device's name and flags.
pub fn getiff(f: &impl AsRawFd) -> Result<IfReq, i32> {
    let mut ifr = IfReq::default();
    ioctl_ptr(f, TUNGETIFF, &mut ifr)?;
    Ok(ifr)
}

/// `TUNSETIFF` on a new file, returning the errno.
pub fn tun_create_err(name: &str, flags: u32) -> Result<File, i32> {
    let f = open_tun().map_err(|e| e.raw_os_error().unwrap_or(0))?;
    let mut ifr = IfReq::new(name, flags);
    ioctl_ptr(&f, TUNSETIFF, &mut ifr)?;
    Ok(f)
}

/// `poll(2)` on one descriptor: the returned events, 0 on timeout.
pub fn poll1(fd: &impl AsRawFd, events: i16, timeout_ms: i32) -> i16 {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n > 0 {
        p.revents
    } else {
        0
    }
}

/// Runs `ip ARGS...`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    run("ip", args)
}

/// What a finished program said: whether it succeeded, its stdout and its
/// stderr.
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `ip` commands in `lines`, one per line, in one `ip -b -` (one
/// exec, not one per command: each costs most of a second on the debug
/// kernel), in the named namespace `ns` or here.
pub fn ip_script(ns: Option<&str>, lines: &str) -> Result<String, String> {
    let mut args = vec!["-b", "-"];
    if let Some(ns) = ns {
        args.splice(0..0, ["-n", ns]);
    }
    let mut child = std::process::Command::new("ip")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("ip: {e}"))?;
    let fed = child
        .stdin
        .take()
        .map(|mut i| io::Write::write_all(&mut i, lines.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() && matches!(fed, Some(Ok(()))) {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip -b: {}{}",
            lines.replace('\n', "; "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs the calling thread in the network namespace at `path` (a
/// `/proc/PID/ns/net` or `/run/netns/NAME`).
pub fn enter_netns(path: &std::path::Path) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: A valid namespace descriptor; setns affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "setns {}: {}",
            path.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Runs `cmd ARGS...` to completion.
pub fn run_tool(cmd: &str, args: &[&str]) -> Result<Ran, String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs `cmd ARGS...`, failing with what it said unless it succeeds; its
/// stdout.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let r = run_tool(cmd, args)?;
    if r.ok {
        Ok(r.stdout)
    } else {
        Err(format!(
            "{cmd} {}: {}{}",
            args.join(" "),
            r.stdout,
            r.stderr.trim()
        ))
    }
}

/// One eBPF instruction: `code`, `dst`/`src` registers, offset, immediate.
pub fn bpf_insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut i = [0u8; 8];
    i[0] = code;
    i[1] = dst | src << 4;
    i[2..4].copy_from_slice(&off.to_ne_bytes());
    i[4..8].copy_from_slice(&imm.to_ne_bytes());
    i
}

/// `mov r0, ret; exit`.
pub fn bpf_return(ret: i32) -> Vec<[u8; 8]> {
    // BPF_ALU64 | BPF_MOV | BPF_K; BPF_JMP | BPF_EXIT.
    vec![bpf_insn(0xb7, 0, 0, 0, ret), bpf_insn(0x95, 0, 0, 0, 0)]
}

/// Loads a program of `prog_type` (`BPF_PROG_LOAD`).
pub fn bpf_load(prog_type: u32, insns: &[[u8; 8]]) -> Result<OwnedFd, String> {
    let license = c"GPL";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&prog_type.to_ne_bytes());
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: BPF_PROG_LOAD (5) with a valid, zero-padded attribute block.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_mut_ptr(), attr.len()) };
    check(fd)
        .map(own_fd)
        .map_err(|e| format!("BPF_PROG_LOAD: {}", errno_name(e)))
}

/// Loads a `BPF_PROG_TYPE_SOCKET_FILTER` program that returns `ret` for
/// every packet, as user space would for
/// `TUNSETSTEERINGEBPF`/`TUNSETFILTEREBPF`.
pub fn bpf_socket_filter_returning(ret: i32) -> Result<OwnedFd, String> {
    bpf_load(1, &bpf_return(ret))
}

/// A `struct sock_fprog` for `TUNATTACHFILTER`: `len` instructions at the
/// user address `filter`.
pub fn sock_fprog(len: u16, filter: u64) -> [u8; 16] {
    let mut fprog = [0u8; 16];
    fprog[0..2].copy_from_slice(&len.to_ne_bytes());
    fprog[8..16].copy_from_slice(&filter.to_ne_bytes());
    fprog
}

/// `writev` of `segs` to `f`.
pub fn writev(f: &impl AsRawFd, segs: &[&[u8]]) -> Result<usize, i32> {
    let iov: Vec<libc::iovec> = segs
        .iter()
        .map(|s| libc::iovec {
            iov_base: s.as_ptr() as *mut libc::c_void,
            iov_len: s.len(),
        })
        .collect();
    // SAFETY: Valid iovecs over live buffers.
    let n = unsafe { libc::writev(f.as_raw_fd(), iov.as_ptr(), iov.len() as i32) };
    if n < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(n as usize)
    }
}

/// Brings `name` up with IPv6 off, so the stack sends nothing of its own
/// through it.
pub fn no_ipv6_up(name: &str) -> Result<(), String> {
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
        .map_err(|e| e.to_string())?;
    ip(&["link", "set", name, "up"])?;
    Ok(())
}

/// A socket for interface ioctls (`SIOCSIFFLAGS` and friends).
pub fn inet_socket() -> Option<OwnedFd> {
    // SAFETY: Plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    (fd >= 0).then(|| own_fd(fd.into()))
}

/// An `ifreq` for `name` with `val` in the union's first int.
pub fn ifreq_int(name: &str, val: i32) -> [u8; 40] {
    let mut r = [0u8; 40];
    let n = name.len().min(15);
    r[..n].copy_from_slice(&name.as_bytes()[..n]);
    r[16..20].copy_from_slice(&val.to_ne_bytes());
    r
}

/// Brings `name` up or down (`SIOCSIFFLAGS` with `IFF_UP`).
pub fn set_up(sock: &OwnedFd, name: &str, up: bool) -> SysResult {
    let mut r = ifreq_int(name, 0);
    ioctl_ptr(sock, libc::SIOCGIFFLAGS as u64, r.as_mut_ptr())?;
    let mut fl = i16::from_ne_bytes([r[16], r[17]]);
    fl = if up { fl | 1 } else { fl & !1 };
    r[16..18].copy_from_slice(&fl.to_ne_bytes());
    ioctl_ptr(sock, libc::SIOCSIFFLAGS as u64, r.as_mut_ptr())
}

/// Clears `FD_CLOEXEC` on `fd`, so that a program this process starts
/// inherits it at the same number (as libvirt hands QEMU a tap).
pub fn set_inheritable(fd: &impl AsRawFd) -> SysResult {
    // SAFETY: fcntl(2) on a descriptor the caller owns, with an integer
    // argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) } as i64)
}
