// SPDX-License-Identifier: GPL-2.0

//! Real clients, started unchanged from Debian's packages: `tunctl` (from
//! uml-utilities), OpenVPN in peer-to-peer static-key mode between two
//! network namespaces, slirp4netns and pasta (passt) giving rootless user
//! namespaces a TAP device, and wireguard-go tunnelling between two network
//! namespaces over TUN devices.

use std::{
    fs,
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::{self, sleep},
    time::{Duration, Instant},
};

use crate::{ensure, need_tool, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![
    tunctl_add_delete,
    openvpn_p2p,
    slirp4netns_rootless,
    pasta_rootless,
    wireguard_go_tunnel,
    socat_tun_vpn,
    socat_tap_vpn
];

/// `tunctl -t NAME -u UID` makes a persistent TAP device owned by UID
/// (`TUNSETIFF`, `TUNSETOWNER`, `TUNSETPERSIST`); `tunctl -d` deletes it
/// (`TUNSETPERSIST` 0).
fn tunctl_add_delete(_: &Ctx) -> TestResult {
    need_tool("tunctl")?;
    let result = (|| {
        run("tunctl", &["-t", "rttunctl0", "-u", "1234"])?;
        let flags =
            fs::read_to_string("/sys/class/net/rttunctl0/tun_flags").map_err(|e| e.to_string())?;
        // IFF_TAP | IFF_NO_PI | IFF_PERSIST
        ensure!(flags.trim() == "0x1802", "flags {flags:?}");
        let owner =
            fs::read_to_string("/sys/class/net/rttunctl0/owner").map_err(|e| e.to_string())?;
        ensure!(owner.trim() == "1234", "owner {owner:?}");
        run("tunctl", &["-d", "rttunctl0"])?;
        ensure!(
            !std::path::Path::new("/sys/class/net/rttunctl0").exists(),
            "rttunctl0 stayed after tunctl -d"
        );
        Ok(())
    })();
    let _ = ip(&["link", "del", "rttunctl0"]);
    result
}

/// The two OpenVPN processes, killed on drop, and their namespaces.
struct Vpn(Vec<Child>);

impl Drop for Vpn {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = ip(&["netns", "del", "rtvpna"]);
        let _ = ip(&["netns", "del", "rtvpnb"]);
    }
}

/// OpenVPN 2.6 in static-key peer-to-peer mode (no data channel offload),
/// one end in each of two namespaces joined by a veth pair, each end on its
/// own tun device: pings cross the tunnel both ways.
fn openvpn_p2p(_: &Ctx) -> TestResult {
    need_tool("openvpn")?;
    let dir = std::env::temp_dir().join("rtun-openvpn");
    let _ = fs::create_dir_all(&dir);
    let key = dir.join("static.key");
    let key = key.to_str().ok_or("temp path")?;
    run("openvpn", &["--genkey", "secret", key])?;
    let mut vpn = Vpn(Vec::new());
    for ns in ["rtvpna", "rtvpnb"] {
        let _ = ip(&["netns", "del", ns]);
        ip(&["netns", "add", ns])?;
    }
    ip(&[
        "link", "add", "rtveth0", "netns", "rtvpna", "type", "veth", "peer", "name", "rtveth1",
        "netns", "rtvpnb",
    ])?;
    for (ns, dev, addr) in [
        ("rtvpna", "rtveth0", "10.210.0.1/24"),
        ("rtvpnb", "rtveth1", "10.210.0.2/24"),
    ] {
        ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    for (ns, local, remote, me, peer) in [
        (
            "rtvpna",
            "10.210.0.1",
            "10.210.0.2",
            "10.211.0.1",
            "10.211.0.2",
        ),
        (
            "rtvpnb",
            "10.210.0.2",
            "10.210.0.1",
            "10.211.0.2",
            "10.211.0.1",
        ),
    ] {
        let log = dir.join(format!("{ns}.log"));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "openvpn",
                "--dev",
                "tun",
                "--dev-type",
                "tun",
            ])
            .args(["--disable-dco", "--secret", key, "--cipher", "AES-256-CBC"])
            .args(["--local", local, "--remote", remote, "--port", "1194"])
            .args(["--ifconfig", me, peer, "--verb", "3", "--ping", "1"])
            .args(["--log", log.to_str().ok_or("temp path")?])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("openvpn: {e}"))?;
        vpn.0.push(child);
    }
    // Up when both logs say the link is initialised (TCG is slow to start
    // OpenSSL).
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = |ns: &str| {
        fs::read_to_string(dir.join(format!("{ns}.log")))
            .is_ok_and(|l| l.contains("Initialization Sequence Completed"))
    };
    while !(ready("rtvpna") && ready("rtvpnb")) {
        if Instant::now() > deadline {
            let logs: Vec<String> = ["rtvpna", "rtvpnb"]
                .iter()
                .map(|ns| fs::read_to_string(dir.join(format!("{ns}.log"))).unwrap_or_default())
                .collect();
            return Err(format!("OpenVPN did not come up: {}", logs.join(" | ")));
        }
        sleep(Duration::from_millis(200));
    }
    for (ns, peer) in [("rtvpna", "10.211.0.2"), ("rtvpnb", "10.211.0.1")] {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "busybox", "ping", "-c", "3", "-W", "5", peer,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        ensure!(
            out.status.success(),
            "ping {peer} from {ns} through the tunnel: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The tunnel's tun device carried them.
    let out = ip(&["-n", "rtvpna", "-s", "link", "show", "tun0"])?;
    ensure!(out.contains("tun0"), "no tun0 in rtvpna: {out}");
    Ok(())
}

/// Bytes each way in the real clients' TCP exchanges.
const EXCHANGE: usize = 256 << 10;

/// The byte at `i` of the stream the client sends (`up`) or the server
/// answers: position-dependent, different each way.
fn pattern(i: usize, up: bool) -> u8 {
    let x = i.wrapping_mul(2_654_435_761) >> 13;
    (if up { x } else { x ^ 0xa5 ^ (i >> 7) }) as u8
}

fn patterned(up: bool) -> Vec<u8> {
    (0..EXCHANGE).map(|i| pattern(i, up)).collect()
}

/// Where `got` first differs from the pattern, if it does.
fn check(got: &[u8], up: bool, what: &str) -> TestResult {
    ensure!(
        got.len() == EXCHANGE,
        "{what}: {} of {EXCHANGE} bytes",
        got.len()
    );
    match (0..EXCHANGE).find(|&i| got[i] != pattern(i, up)) {
        Some(i) => Err(format!("{what}: byte {i} differs")),
        None => Ok(()),
    }
}

/// The server end of an exchange, listening at `addr` in the calling
/// thread's namespace, in a thread: accepts one connection within
/// `timeout`, reads exactly [`EXCHANGE`] bytes and checks them, answers
/// [`EXCHANGE`] bytes of its own and closes.
fn serve_once(addr: &str, timeout: Duration) -> Result<thread::JoinHandle<TestResult>, String> {
    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("no connection to the server: {e}")),
            }
        };
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut got = vec![0u8; EXCHANGE];
        let mut n = 0;
        while n < EXCHANGE {
            match s.read(&mut got[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(format!("server read after {n} bytes: {e}")),
            }
        }
        got.truncate(n);
        check(&got, true, "server received")?;
        s.write_all(&patterned(false))
            .map_err(|e| format!("server write: {e}"))?;
        let _ = s.shutdown(Shutdown::Write);
        Ok(())
    }))
}

/// The client end, in the network namespace `netns` (a `/proc/PID/ns/net`
/// or `/run/netns/NAME`), in a thread: connects to `to` (retrying until
/// the client under test has brought the path up, within `timeout`),
/// sends [`EXCHANGE`] bytes, reads the answer to its end and checks it.
fn client_from(
    netns: PathBuf,
    to: SocketAddr,
    timeout: Duration,
) -> thread::JoinHandle<TestResult> {
    thread::spawn(move || {
        enter_netns(&netns)?;
        let deadline = Instant::now() + timeout;
        let mut s = loop {
            match TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(200)),
                Err(e) => return Err(format!("connect {to}: {e}")),
            }
        };
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.write_all(&patterned(true))
            .map_err(|e| format!("client write: {e}"))?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .map_err(|e| format!("client read after {} bytes: {e}", got.len()))?;
        check(&got, false, "client received")
    })
}

/// Both ends' verdicts, the server's first.
fn verdicts(
    server: thread::JoinHandle<TestResult>,
    client: thread::JoinHandle<TestResult>,
) -> TestResult {
    let c = client.join().map_err(|_| "client panicked")?;
    let s = server.join().map_err(|_| "server panicked")?;
    s.and(c)
}

/// One exchange, the server at `addr` here and the client in the named
/// namespace `ns`, each given a minute.
fn exchange_from(ns: &str, addr: &str) -> TestResult {
    let server = serve_once(addr, Duration::from_secs(60))?;
    let client = client_from(
        PathBuf::from(format!("/var/run/netns/{ns}")),
        addr.parse().map_err(|_| "address")?,
        Duration::from_secs(60),
    );
    verdicts(server, client)
}

/// `prog` to run here, or in the named namespace `ns` (`ip netns exec`).
fn command_in(ns: Option<&str>, prog: &str) -> Command {
    match ns {
        None => Command::new(prog),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, prog]);
            c
        }
    }
}

/// A veth pair, `here` in this namespace as `NET.1/24` and `there` in `ns`
/// as `NET.2/24`, both up, and `ns`'s loopback up.
fn veth_to(ns: &str, here: &str, there: &str, net: &str) -> TestResult {
    ip_script(
        None,
        &format!(
            "link add {here} type veth peer name {there} netns {ns}\n\
             addr add {net}.1/24 dev {here}\n\
             link set {here} up\n"
        ),
    )?;
    ip_script(
        Some(ns),
        &format!(
            "addr add {net}.2/24 dev {there}\n\
             link set {there} up\n\
             link set lo up\n"
        ),
    )?;
    Ok(())
}

/// Child processes, killed on drop.
#[derive(Default)]
struct Children(Vec<Child>);

impl Children {
    fn spawn(&mut self, cmd: &mut Command) -> Result<u32, String> {
        let c = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        let pid = c.id();
        self.0.push(c);
        Ok(pid)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `/dev/net/tun` as udev leaves it on a Debian machine (`MODE="0666"`),
/// for clients that run unprivileged; the guest's devtmpfs mode is put
/// back on drop.
struct TunOpenToAll(u32);

impl TunOpenToAll {
    fn new() -> Result<Self, String> {
        let dev = Path::new("/dev/net/tun");
        let mode = fs::metadata(dev).map_err(|e| format!("/dev/net/tun: {e}"))?;
        let mode = mode.permissions().mode() & 0o7777;
        fs::set_permissions(dev, fs::Permissions::from_mode(0o666))
            .map_err(|e| format!("chmod /dev/net/tun: {e}"))?;
        Ok(Self(mode))
    }
}

impl Drop for TunOpenToAll {
    fn drop(&mut self) {
        let _ = fs::set_permissions("/dev/net/tun", fs::Permissions::from_mode(self.0));
    }
}

/// `setpriv` arguments that run the rest as user and group nobody.
const AS_NOBODY: [&str; 4] = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/// slirp4netns as rootless podman and rootlesskit start it: an
/// unprivileged user makes a user and network namespace (`unshare
/// --user --map-root-user --net`), and slirp4netns, as that user, joins
/// it, opens a TAP device there (`IFF_TAP | IFF_NO_PI`), configures it
/// (10.0.2.100, gateway 10.0.2.2), sandboxes itself with seccomp, and
/// carries the namespace's traffic on host sockets: a TCP connection
/// from the namespace to 10.0.2.2 reaches a server on 127.0.0.1 outside,
/// 256 KiB each way, every byte checked.
fn slirp4netns_rootless(_: &Ctx) -> TestResult {
    need_tool("slirp4netns")?;
    need_tool("setpriv")?;
    let _tun = TunOpenToAll::new()?;
    let mut kids = Children::default();
    let holder = kids.spawn(Command::new("setpriv").args(AS_NOBODY).args([
        "unshare",
        "--user",
        "--map-root-user",
        "--net",
        "sleep",
        "120",
    ]))?;
    // unshare has made the namespaces when the holder's differs from ours.
    let ns = PathBuf::from(format!("/proc/{holder}/ns/net"));
    let ours = fs::read_link("/proc/self/ns/net").map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_link(&ns).ok().is_none_or(|l| l == ours) {
        ensure!(Instant::now() < deadline, "unshare made no namespace");
        sleep(Duration::from_millis(100));
    }
    let server = serve_once("127.0.0.1:5801", Duration::from_secs(60))?;
    let log = std::env::temp_dir().join("rtun-slirp4netns.log");
    let logf = fs::File::create(&log).map_err(|e| e.to_string())?;
    kids.spawn(
        Command::new("setpriv")
            .args(AS_NOBODY)
            .args(["slirp4netns", "--configure", "--mtu=65520"])
            .args(["--enable-sandbox", "--enable-seccomp"])
            .args([&holder.to_string(), "tap0"])
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf),
    )?;
    let client = client_from(
        ns,
        "10.0.2.2:5801".parse().map_err(|_| "address")?,
        Duration::from_secs(60),
    );
    verdicts(server, client).map_err(|e| {
        let said = fs::read_to_string(&log).unwrap_or_default();
        format!("{e}; slirp4netns said: {}", said.trim())
    })
}

/// pasta (passt) as a user starts it: unprivileged, `pasta --config-net
/// -- COMMAND` makes a user and network namespace, a TAP device in it
/// copying the outer namespace's address and default route, and runs
/// COMMAND there (`-f`: in the foreground, so the test waits for it). The
/// command, bash, connects to the gateway's address, which pasta maps to
/// the outer 127.0.0.1, sends 256 KiB and writes what the server answers
/// to a file: every byte checked both ways.
fn pasta_rootless(_: &Ctx) -> TestResult {
    need_tool("pasta")?;
    need_tool("setpriv")?;
    need_tool("bash")?;
    let _tun = TunOpenToAll::new()?;
    let dir = std::env::temp_dir().join("rtun-pasta");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;
    // What pasta copies: an interface with an address and a default route.
    ip_script(
        None,
        "link add rtpasta0 type veth peer name rtpasta1\n\
         link set rtpasta1 up\n\
         addr add 10.212.0.1/24 dev rtpasta0\n\
         link set rtpasta0 up\n\
         route add default via 10.212.0.254\n",
    )?;
    let up = dir.join("up");
    let down = dir.join("down");
    fs::write(&up, patterned(true)).map_err(|e| e.to_string())?;
    let server = serve_once("127.0.0.1:5802", Duration::from_secs(60))?;
    let script = format!(
        "exec 3<>/dev/tcp/10.212.0.254/5802 && cat {} >&3 && cat <&3 >{}",
        up.display(),
        down.display()
    );
    let mut kids = Children::default();
    kids.spawn(
        Command::new("setpriv")
            .args(AS_NOBODY)
            .args(["pasta", "-f", "--config-net", "--", "bash", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        match kids.0[0].try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(100)),
            Ok(None) => return Err("pasta did not finish in 90 s".into()),
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut said = String::new();
    if let Some(mut e) = kids.0[0].stderr.take() {
        let _ = e.read_to_string(&mut said);
    }
    let served = server.join().map_err(|_| "server panicked")?;
    let result = served
        .and_then(|()| {
            let got = fs::read(&down).map_err(|e| format!("{}: {e}", down.display()))?;
            check(&got, false, "the namespace received")
        })
        .and_then(|()| {
            ensure!(status.success(), "pasta: {status}");
            Ok(())
        });
    let _ = fs::remove_dir_all(&dir);
    result.map_err(|e| format!("{e}; pasta said: {}", said.trim()))
}

/// wireguard-go as its README runs it (`wireguard-go [-f] IFNAME`, then
/// `wg` and `ip`), one instance here and one in namespace `rtwgb`, over a
/// veth pair: each makes a TUN device, the two exchange WireGuard
/// handshakes and data over UDP, and a TCP connection through the tunnel
/// carries 256 KiB each way, every byte checked.
fn wireguard_go_tunnel(_: &Ctx) -> TestResult {
    need_tool("wireguard-go")?;
    need_tool("wg")?;
    let dir = std::env::temp_dir().join("rtun-wireguard");
    let _ = fs::create_dir_all(&dir);
    let mut keys = Vec::new();
    for side in ["a", "b"] {
        let private = run("wg", &["genkey"])?;
        let file = dir.join(format!("{side}.key"));
        fs::write(&file, &private).map_err(|e| e.to_string())?;
        let mut pubkey = Command::new("wg")
            .arg("pubkey")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("wg pubkey: {e}"))?;
        if let Some(mut i) = pubkey.stdin.take() {
            i.write_all(private.as_bytes()).map_err(|e| e.to_string())?;
        }
        let out = pubkey.wait_with_output().map_err(|e| e.to_string())?;
        ensure!(out.status.success(), "wg pubkey: {}", out.status);
        keys.push((
            file,
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    let _ = ip(&["netns", "del", "rtwgb"]);
    ip(&["netns", "add", "rtwgb"])?;
    let mut kids = Children::default();
    let result = (|| -> TestResult {
        veth_to("rtwgb", "rtwg0", "rtwg1", "10.214.0")?;
        for (ns, dev) in [(None, "rtwga"), (Some("rtwgb"), "rtwgb")] {
            let sock = Path::new("/var/run/wireguard").join(format!("{dev}.sock"));
            let _ = fs::remove_file(&sock);
            let mut cmd = command_in(ns, "wireguard-go");
            kids.spawn(
                cmd.args(["-f", dev])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
            // Up when its control socket is.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !sock.exists() {
                ensure!(
                    Instant::now() < deadline,
                    "wireguard-go {dev} did not start"
                );
                sleep(Duration::from_millis(100));
            }
        }
        let flags = sysfs("rtwga", "tun_flags")?;
        let flags = u64::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
            .map_err(|e| format!("rtwga tun_flags {flags:?}: {e}"))?;
        ensure!(
            flags & 0xf == u64::from(IFF_TUN),
            "rtwga tun_flags {flags:#x}: not a TUN device"
        );
        for (me, (key, _), (_, peer_pub), peer, allowed) in [
            ("rtwga", &keys[0], &keys[1], "10.214.0.2", "10.215.0.2/32"),
            ("rtwgb", &keys[1], &keys[0], "10.214.0.1", "10.215.0.1/32"),
        ] {
            let key = key.to_str().ok_or("temp path")?;
            let endpoint = format!("{peer}:51820");
            let wg = [
                "set",
                me,
                "listen-port",
                "51820",
                "private-key",
                key,
                "peer",
                peer_pub,
                "endpoint",
                &endpoint,
                "allowed-ips",
                allowed,
            ];
            if me == "rtwga" {
                run("wg", &wg)?;
            } else {
                let mut args = vec!["netns", "exec", "rtwgb", "wg"];
                args.extend(wg);
                run("ip", &args)?;
            }
        }
        ip_script(
            None,
            "addr add 10.215.0.1/24 dev rtwga\nlink set rtwga up\n",
        )?;
        ip_script(
            Some("rtwgb"),
            "addr add 10.215.0.2/24 dev rtwgb\nlink set rtwgb up\n",
        )?;
        exchange_from("rtwgb", "10.215.0.1:5803")
    })();
    drop(kids);
    let _ = ip(&["netns", "del", "rtwgb"]);
    result
}

/// socat's `TUN:` address as its manual's VPN example uses it: one socat
/// here and one in namespace `rtsocb`, each relaying between a device it
/// makes (`tun-type=tun` or `tap`, addressed and brought up by socat, with
/// the packet information header: no `iff-no-pi`) and UDP datagrams over a
/// veth pair; a TCP connection through them carries 256 KiB each way,
/// every byte checked.
fn socat_tun_vpn(_: &Ctx) -> TestResult {
    socat_vpn("tun")
}

/// The same with TAP devices: Ethernet frames, ARP included, cross.
fn socat_tap_vpn(_: &Ctx) -> TestResult {
    socat_vpn("tap")
}

fn socat_vpn(kind: &str) -> TestResult {
    need_tool("socat")?;
    let _ = ip(&["netns", "del", "rtsocb"]);
    ip(&["netns", "add", "rtsocb"])?;
    let mut kids = Children::default();
    let result = (|| -> TestResult {
        veth_to("rtsocb", "rtsoc0", "rtsoc1", "10.216.0")?;
        for (ns, peer, me) in [
            (None, "10.216.0.2", "10.217.0.1/24"),
            (Some("rtsocb"), "10.216.0.1", "10.217.0.2/24"),
        ] {
            let mut cmd = command_in(ns, "socat");
            kids.spawn(
                cmd.arg(format!("UDP-DATAGRAM:{peer}:5804,bind=:5804"))
                    .arg(format!("TUN:{me},tun-name=rtsocat,tun-type={kind},iff-up"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
        }
        // socat has made ours, addressed it and brought it up (IFF_UP),
        // in that order.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sysfs("rtsocat", "flags")
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .is_none_or(|f| f & 1 == 0)
        {
            ensure!(Instant::now() < deadline, "socat brought up no rtsocat");
            sleep(Duration::from_millis(100));
        }
        let flags = sysfs("rtsocat", "tun_flags")?;
        let want = if kind == "tun" { "0x1" } else { "0x2" };
        ensure!(flags == want, "rtsocat tun_flags {flags}, not {want}");
        exchange_from("rtsocb", "10.217.0.1:5805")
    })();
    drop(kids);
    let _ = ip(&["netns", "del", "rtsocb"]);
    result
}
