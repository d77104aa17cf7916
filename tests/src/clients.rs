// SPDX-License-Identifier: GPL-2.0

//! Real clients, started unchanged from Debian's packages: `tunctl` (from
//! uml-utilities) and OpenVPN in peer-to-peer static-key mode between two
//! network namespaces.

use std::{
    fs,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{ensure, need_tool, sys::*, tests, Ctx, Test, TestResult};

pub const TESTS: &[Test] = tests![tunctl_add_delete, openvpn_p2p];

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
