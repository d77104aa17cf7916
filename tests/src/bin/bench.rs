// SPDX-License-Identifier: GPL-2.0

//! rtun vs tun.ko throughput, in one guest boot (see `./dev bench`).
//!
//!   bench TUN.KO RTUN.KO SAMPLES [VHOST_NET_TEST VHOST_MODULE_DIR]
//!
//! For each sample, loads tun.ko, measures every case, unloads it, then
//! does the same with rtun.ko, so that both see the same machine state in
//! turn; a first round of both, not kept, warms the machine up. Prints
//! per-case medians (packets per second) and rtun/tun.
//!
//! Cases: `write-64`/`write-1500`: packets written into a TUN device and
//! dropped by the stack (not for this host, forwarding off);
//! `read-64`/`read-1500`: packets the stack sends through the device, read
//! back, in bursts of 256 (below the 500-packet ring); `napi-write-64`:
//! write-64 through an `IFF_NAPI` device; `mq1-`/`mq4-write-64` and
//! `mq4-read-64`: a thread per queue of a multi-queue device;
//! `read-64-lossless`: read-64 in rtun's lossless mode; `tcp-tso-64k`,
//! `tcp8`, `tcp8-lossless` (payload in 1448-byte segments per second):
//! TCP between two namespaces through two TAPs and a forwarder, one
//! stream in 64 KiB TSO super-packets, or 8 streams of plain frames, by
//! default and lossless; `create-destroy`, `mq4-create-destroy` (cycles
//! per second): a device's life from open to last close;
//! `netns-teardown` (teardowns per second): a namespace holding 8
//! devices of 4 attached queues each exits; `vhost-rx`/`vhost-tx`
//! (buffers per second, not packets): the kernel's `vhost_net_test`
//! driving a tap queue through vhost-net each way.
//!
//! Each case's measured part is a window marked for the icount QEMU plugin
//! (`qemu/icount/`, loaded by `./dev bench`), which counts the instructions
//! the guest runs in it; after each window this prints
//! `ICOUNT SEQ CASE DRIVER PACKETS SECONDS [FRAMES]` (SEQ counts windows
//! from 1, as the plugin counts its lines) for the host to join with them;
//! FRAMES, where given (the TCP cases: the frames the forwarder carried),
//! is what instructions are counted per. Without the
//! plugin the markers are NOPs.
//!
//! `RTUN_BENCH_CASE=CASE` measures only that case (both vhost cases come
//! from one run), for profiles; `RTUN_BENCH_KALLSYMS=DIR` saves
//! `/proc/kallsyms`, module symbols included, as `DIR/kallsyms.SEQ` after
//! each driver's last window SEQ (the vhost modules' too, read before they
//! unload), for the host to name profiled addresses.

#[path = "../forward.rs"]
#[allow(dead_code)]
mod forward;
#[path = "../icount.rs"]
mod icount;
#[path = "../packet.rs"]
#[allow(dead_code)]
mod packet;
#[path = "../sys.rs"]
#[allow(dead_code)]
mod sys;

use std::{
    fs::File,
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

const CASE_TIME: Duration = Duration::from_millis(300);

/// Long enough for deferred work (RCU callbacks, the freeing after a
/// device's teardown) to run, a few grace periods at HZ=250.
const SETTLE: Duration = Duration::from_millis(50);

fn udp_packet(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
    let payload = len - 28;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = packet::csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39]);
    p.extend_from_slice(&((payload + 8) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.resize(len, 0x5a);
    p
}

/// One measured case: packets (buffers for vhost) and seconds, and where
/// the drivers' unit of work is not the case's packet, how many of those
/// units the window carried (`frames`, for instructions per frame).
#[derive(Clone, Copy)]
struct Run {
    packets: u64,
    secs: f64,
    frames: Option<u64>,
}

/// Off in the warm-up round, whose windows the host must not see.
static MARKING: AtomicBool = AtomicBool::new(false);

/// `/proc/kallsyms` read while the vhost modules were loaded, for the
/// profile of the vhost cases: they are unloaded before the driver's
/// symbols are saved, and their addresses would take the names of the
/// driver's last functions.
static VHOST_KALLSYMS: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);

/// The measured part of a case: timed, and marked for the icount plugin.
/// Outside the timed part, a window lets the work left by what came before
/// settle before it starts, and its own before it stops, so that each
/// window counts its own packets' deferred work and no one else's.
struct Window(Instant);

impl Window {
    fn start() -> Self {
        std::thread::sleep(SETTLE);
        Self::start_now()
    }

    fn start_now() -> Self {
        if MARKING.load(Ordering::Relaxed) {
            icount::mark_start();
        }
        Window(Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    fn stop(self, packets: u64) -> Run {
        let secs = self.0.elapsed().as_secs_f64();
        std::thread::sleep(SETTLE);
        Self::mark_stop();
        Run {
            packets,
            secs,
            frames: None,
        }
    }

    fn stop_now(self, packets: u64) -> Run {
        let secs = self.0.elapsed().as_secs_f64();
        Self::mark_stop();
        Run {
            packets,
            secs,
            frames: None,
        }
    }

    fn mark_stop() {
        if MARKING.load(Ordering::Relaxed) {
            icount::mark_stop();
        }
    }
}

fn setup() -> Result<File, String> {
    let (f, name) = sys::tun_create("rtbench", sys::IFF_TUN | sys::IFF_NO_PI)?;
    sys::ip(&[
        "addr",
        "add",
        "10.98.0.1",
        "peer",
        "10.98.0.2",
        "dev",
        &name,
    ])?;
    sys::ip(&["link", "set", &name, "up"])?;
    Ok(f)
}

/// Packets written into the device.
fn write_pps(f: &mut File, len: usize) -> Run {
    let pkt = udp_packet([10, 98, 0, 2], [10, 99, 99, 99], len);
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        for _ in 0..64 {
            if f.write(&pkt).is_ok() {
                n += 1;
            }
        }
    }
    w.stop(n)
}

/// Packets sent by the stack and read from the device.
fn read_pps(f: &mut File, len: usize) -> Result<Run, String> {
    let sock = UdpSocket::bind("10.98.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let payload = vec![0x5au8; len - 28];
    let mut buf = vec![0u8; 2048];
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        for _ in 0..256 {
            let _ = sock.send_to(&payload, "10.98.0.2:9");
        }
        for _ in 0..256 {
            if sys::poll1(f, libc::POLLIN, 0) & libc::POLLIN == 0 {
                break;
            }
            if f.read(&mut buf).is_ok() {
                n += 1;
            }
        }
    }
    Ok(w.stop(n))
}

const CASES: [&str; 17] = [
    "write-64",
    "write-1500",
    "read-64",
    "read-1500",
    "napi-write-64",
    "mq1-write-64",
    "mq4-write-64",
    "mq4-read-64",
    "read-64-lossless",
    "tcp-tso-64k",
    "tcp8",
    "tcp8-lossless",
    "create-destroy",
    "mq4-create-destroy",
    "netns-teardown",
    "vhost-rx",
    "vhost-tx",
];

/// Buffers each way per `vhost_net_test` sample.
const VHOST_BUFS: u32 = 10000;

/// Where the kernel's `vhost_net_test` and vhost's modules are.
struct VhostBench {
    test: String,
    modules: String,
}

/// Buffers each way through vhost-net, from the kernel's own
/// `vhost_net_test`: it runs its RX test (packets sent out of the tap into
/// the guest's ring), then its TX test (the other way), printing a line as
/// each completes; line-buffered, the lines' arrivals split the run into
/// two windows (the first with the process's start and set-up), back to
/// back and without settling, so that no work falls between them.
fn vhost_bps(v: &VhostBench) -> Result<(Run, Run), String> {
    for m in ["vhost_iotlb", "vhost", "vhost_net"] {
        sys::insmod(&format!("{}/{m}.ko", v.modules))
            .map_err(|e| format!("insmod {m}.ko: {}", sys::errno_name(e)))?;
    }
    let mut w = Some(Window::start());
    let mut child = std::process::Command::new("stdbuf")
        .args(["-oL", &v.test, "--buf-num", &VHOST_BUFS.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", v.test))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut runs = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        if line.map_err(|e| e.to_string())?.contains("completed=") {
            if let Some(done) = w.take() {
                runs.push(done.stop_now(VHOST_BUFS.into()));
                if runs.len() == 1 {
                    w = Some(Window::start_now());
                }
            }
        }
    }
    let ok = child.wait().map_err(|e| e.to_string())?.success();
    if std::env::var_os("RTUN_BENCH_KALLSYMS").is_some() {
        let k = std::fs::read("/proc/kallsyms").map_err(|e| format!("/proc/kallsyms: {e}"))?;
        *VHOST_KALLSYMS.lock().map_err(|_| "poisoned")? = Some(k);
    }
    for m in ["vhost_net", "vhost", "vhost_iotlb"] {
        while sys::rmmod(m) == Err(libc::EAGAIN) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if !ok || runs.len() != 2 {
        return Err(format!(
            "vhost_net_test failed ({} phases done)",
            runs.len()
        ));
    }
    Ok((runs[0], runs[1]))
}

/// Packets written by `queues` threads, one per queue of a multi-queue
/// device. The threads hand their queues back: the last close tears the
/// device down, which is not this window's work.
fn mq_write_pps(queues: usize) -> Result<Run, String> {
    let flags = sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE;
    let files: Vec<File> = (0..queues)
        .map(|_| sys::tun_create("rtbenchmq", flags).map(|(f, _)| f))
        .collect::<Result<_, _>>()?;
    sys::ip(&["link", "set", "rtbenchmq", "up"])?;
    let work: Vec<_> = files.into_iter().enumerate().collect();
    per_queue(Window::start(), work, |(i, mut f), start| {
        let pkt = udp_packet([10, 97, 0, i as u8 + 2], [10, 99, 99, 99], 64);
        let mut n = 0u64;
        while start.elapsed() < CASE_TIME {
            for _ in 0..64 {
                if f.write(&pkt).is_ok() {
                    n += 1;
                }
            }
        }
        (n, f)
    })
}

/// Control plane: device lifetimes per second, each `queues` files
/// opened and attached with `TUNSETIFF` (the first creates the device),
/// the device brought up, then every file closed (the last close destroys
/// it). The window's "packets" are whole cycles; each cycle's teardown
/// ends before the next starts, since the next reuses the name.
fn create_destroy(queues: usize) -> Result<Run, String> {
    let flags = if queues > 1 {
        sys::IFF_TAP | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE
    } else {
        sys::IFF_TAP | sys::IFF_NO_PI
    };
    let sock = sys::inet_socket().ok_or("socket")?;
    let w = Window::start();
    let mut n = 0u64;
    while w.elapsed() < CASE_TIME {
        let files: Vec<File> = (0..queues)
            .map(|_| sys::tun_create("rtbenchcd", flags).map(|(f, _)| f))
            .collect::<Result<_, _>>()?;
        sys::set_up(&sock, "rtbenchcd", true).map_err(|e| format!("up: {}", sys::errno_name(e)))?;
        drop(files);
        n += 1;
    }
    Ok(w.stop(n))
}

/// Packets sent by the stack through a `queues`-queue device and read
/// from every queue at once, each queue by its own thread with its own
/// UDP flow: flows are steered to queues by their hash, so each thread
/// first finds a source port whose flow lands on its queue.
fn mq_read_pps(queues: usize) -> Result<Run, String> {
    let flags = sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE;
    let files: Vec<File> = (0..queues)
        .map(|_| sys::tun_create("rtbenchmqr", flags).map(|(f, _)| f))
        .collect::<Result<_, _>>()?;
    std::fs::write("/proc/sys/net/ipv6/conf/rtbenchmqr/disable_ipv6", "1")
        .map_err(|e| format!("disable_ipv6: {e}"))?;
    sys::ip_script(
        None,
        "addr add 10.97.1.1 peer 10.97.1.2 dev rtbenchmqr\nlink set rtbenchmqr up\n",
    )?;
    let mut socks: Vec<Option<UdpSocket>> = (0..queues).map(|_| None).collect();
    let mut buf = [0u8; 2048];
    for _ in 0..64 * queues {
        if socks.iter().all(Option::is_some) {
            break;
        }
        let sock = UdpSocket::bind("10.97.1.1:0").map_err(|e| format!("bind: {e}"))?;
        sock.connect("10.97.1.2:9")
            .map_err(|e| format!("connect: {e}"))?;
        let _ = sock.send(&[0x5a; 36]);
        for (q, f) in files.iter().enumerate() {
            if sys::poll1(f, libc::POLLIN, 0) & libc::POLLIN != 0 {
                let _ = (&*f).read(&mut buf);
                socks[q].get_or_insert(sock);
                break;
            }
        }
    }
    let socks: Vec<UdpSocket> = socks
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("no flow found for some queue")?;
    let work: Vec<_> = files.into_iter().zip(socks).collect();
    per_queue(Window::start(), work, |(mut f, sock), start| {
        let payload = [0x5au8; 36];
        let mut buf = [0u8; 2048];
        let mut n = 0u64;
        while start.elapsed() < CASE_TIME {
            for _ in 0..256 {
                let _ = sock.send(&payload);
            }
            for _ in 0..256 {
                if sys::poll1(&f, libc::POLLIN, 0) & libc::POLLIN == 0 {
                    break;
                }
                if f.read(&mut buf).is_ok() {
                    n += 1;
                }
            }
        }
        (n, f)
    })
}

/// Runs `each` on a thread of its own for every item of `work` (one per
/// queue), in window `w`, each until the case's time from `w`'s start is
/// up; their packets together. The threads hand their files back: the
/// last close tears the device down, which is not the window's work.
fn per_queue<T: Send + 'static>(
    w: Window,
    work: Vec<T>,
    each: fn(T, Instant) -> (u64, File),
) -> Result<Run, String> {
    let start = w.0;
    let threads: Vec<_> = work
        .into_iter()
        .map(|t| thread::spawn(move || each(t, start)))
        .collect();
    let mut total = 0;
    let mut files = Vec::new();
    for t in threads {
        let (n, f) = t.join().map_err(|_| "a queue's thread panicked")?;
        total += n;
        files.push(f);
    }
    let run = w.stop(total);
    drop(files);
    Ok(run)
}

/// The payload the TCP cases count in: one segment's worth at MTU 1500
/// with timestamps, whatever sizes the stack and the devices moved it in.
const MSS: u64 = 1448;

/// TCP from namespace `rtbencha` to `rtbenchb` through two TAP devices
/// and a userspace forwarder (`forward.rs`): `streams` connections
/// sending as fast as they can for the case's time. With `tso` the
/// devices have `IFF_VNET_HDR` and the checksum and TSO offloads, so the
/// stack hands the forwarder 64 KiB super-packets, which it writes on as
/// they are, as wireguard-go and Tailscale do; with `lossless` rtun's
/// lossless mode is on (tun.ko has none: there this repeats the default).
/// The window opens with the connections established and closes when the
/// receivers have read everything: its "packets" are the payload
/// delivered, in [`MSS`]-byte segments.
fn tcp_segments(streams: usize, tso: bool, lossless: bool) -> Result<Run, String> {
    let flags = sys::IFF_TAP | sys::IFF_NO_PI | if tso { sys::IFF_VNET_HDR } else { 0 };
    let devs = ["rtbencha", "rtbenchb"];
    let mut taps = Vec::new();
    for dev in devs {
        let (f, _) = sys::tun_create(dev, flags)?;
        if tso {
            let offloads = sys::TUN_F_CSUM | sys::TUN_F_TSO4 | sys::TUN_F_TSO6;
            sys::ioctl_val(&f, sys::TUNSETOFFLOAD, offloads)
                .map_err(|e| format!("TUNSETOFFLOAD: {}", sys::errno_name(e)))?;
        }
        if lossless {
            let _ = std::fs::write(format!("/sys/class/net/{dev}/rtun_lossless"), "1");
        }
        taps.push(f);
    }
    let _ns = forward::Namespaces::new(devs, ["rtbencha", "rtbenchb"], "10.96.0")?;
    let stop = Arc::new(AtomicBool::new(false));
    let b = taps.pop().ok_or("no tap")?;
    let a = taps.pop().ok_or("no tap")?;
    let fwd = forward::forward(a, b, stop.clone());
    let result = (|| {
        let listener = thread::spawn(|| {
            forward::enter("rtbenchb")?;
            TcpListener::bind("10.96.0.2:5001").map_err(|e| format!("bind: {e}"))
        })
        .join()
        .map_err(|_| "listener thread panicked")??;
        let clients = thread::spawn(move || {
            forward::enter("rtbencha")?;
            (0..streams)
                .map(|_| TcpStream::connect("10.96.0.2:5001").map_err(|e| format!("connect: {e}")))
                .collect::<Result<Vec<_>, _>>()
        });
        let servers: Vec<TcpStream> = (0..streams)
            .map(|_| {
                listener
                    .accept()
                    .map(|(s, _)| s)
                    .map_err(|e| format!("accept: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let clients = clients.join().map_err(|_| "connect thread panicked")??;
        let w = Window::start();
        let start = w.0;
        let readers: Vec<_> = servers
            .into_iter()
            .map(|mut s| {
                thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut got = 0u64;
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        got += n as u64;
                    }
                    got
                })
            })
            .collect();
        let writers: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                thread::spawn(move || {
                    let chunk = vec![0x5au8; 1 << 16];
                    while start.elapsed() < CASE_TIME {
                        if c.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    let _ = c.shutdown(Shutdown::Write);
                })
            })
            .collect();
        for t in writers {
            t.join().map_err(|_| "a writer thread panicked")?;
        }
        let mut got = 0;
        for t in readers {
            got += t.join().map_err(|_| "a reader thread panicked")?;
        }
        Ok(w.stop(got / MSS))
    })();
    stop.store(true, Ordering::Relaxed);
    // How many segments ride in a frame (a super-packet, an ACK) is TCP's
    // choice, from its pacing and timing: within one driver it ranged from
    // 7 to 18 a frame from one window to the next. The drivers' work is per
    // frame, so that is what instructions are counted against. The count
    // also holds the few frames of the handshakes before the window
    // (three a stream), for both drivers alike.
    let frames = fwd.join().unwrap_or(0);
    result.map(|run| Run {
        frames: Some(frames).filter(|&f| f > 0),
        ..run
    })
}

/// Control plane: the teardown of a network namespace holding `devices`
/// persistent multi-queue TAP devices with `queues` queues each attached.
/// The files stay open here, so each device must detach its queues as
/// the namespace's exit unregisters it. The namespace is a thread's own,
/// which it leaves (exits) in the window; the window closes when the driver's
/// module count has dropped by the devices' references (`TUNSETPERSIST`
/// holds one per device, released once its queues are detached). One
/// teardown per window.
fn netns_teardown(driver: &str, devices: usize, queues: usize) -> Result<Run, String> {
    let flags = sys::IFF_TAP | sys::IFF_NO_PI | sys::IFF_MULTI_QUEUE;
    let mut files = Vec::new();
    let mut moves = String::new();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        // SAFETY: unshare(2) affects only this thread's namespaces.
        let ok = unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0;
        // SAFETY: Plain gettid(2).
        let _ = tid_tx.send(ok.then(|| unsafe { libc::gettid() }));
        let _ = go_rx.recv();
    });
    let tid = tid_rx
        .recv()
        .ok()
        .flatten()
        .ok_or("unshare(CLONE_NEWNET) failed")?;
    for d in 0..devices {
        let name = format!("rtbenchns{d}");
        for _ in 0..queues {
            files.push(sys::tun_create(&name, flags)?.0);
        }
        if let Some(f) = files.last() {
            sys::ioctl_val(f, sys::TUNSETPERSIST, 1)
                .map_err(|e| format!("TUNSETPERSIST: {}", sys::errno_name(e)))?;
        }
        moves.push_str(&format!("link set {name} netns {tid}\n"));
    }
    sys::ip_script(None, &moves)?;
    let refcnt = || {
        std::fs::read_to_string(format!("/sys/module/{driver}/refcnt"))
            .ok()
            .and_then(|r| r.trim().parse::<usize>().ok())
    };
    // The files hold references of their own (the file and its socket):
    // wait for the count to drop by the devices', whatever that is.
    let after = refcnt()
        .and_then(|n| n.checked_sub(devices))
        .ok_or("no module count")?;
    let w = Window::start();
    let _ = go_tx.send(());
    holder
        .join()
        .map_err(|_| "the namespace's thread panicked")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while refcnt() != Some(after) {
        if Instant::now() > deadline {
            return Err(format!("{driver}'s count still {:?} after 30 s", refcnt()));
        }
        thread::sleep(Duration::from_micros(500));
    }
    Ok(w.stop(1))
}

/// Every case (or `only`), in window order.
fn measure(
    driver: &str,
    only: Option<&str>,
    vhost: Option<&VhostBench>,
) -> Result<Vec<(&'static str, Run)>, String> {
    let want = |case: &str| only.is_none_or(|o| o == case);
    let mut runs = Vec::new();
    let mut f = setup()?;
    // Let IPv6 autoconfiguration chatter pass before reading.
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 2048];
    while sys::poll1(&f, libc::POLLIN, 0) & libc::POLLIN != 0 {
        let _ = f.read(&mut buf);
    }
    for (case, len) in [("write-64", 64), ("write-1500", 1500)] {
        if want(case) {
            runs.push((case, write_pps(&mut f, len)));
        }
    }
    for (case, len) in [("read-64", 64), ("read-1500", 1500)] {
        if want(case) {
            runs.push((case, read_pps(&mut f, len)?));
        }
    }
    drop(f);
    if want("napi-write-64") {
        let (mut f, name) =
            sys::tun_create("rtbenchnapi", sys::IFF_TUN | sys::IFF_NO_PI | sys::IFF_NAPI)?;
        sys::ip(&["link", "set", &name, "up"])?;
        runs.push(("napi-write-64", write_pps(&mut f, 64)));
    }
    for (case, queues) in [("mq1-write-64", 1), ("mq4-write-64", 4)] {
        if want(case) {
            runs.push((case, mq_write_pps(queues)?));
        }
    }
    if want("mq4-read-64") {
        runs.push(("mq4-read-64", mq_read_pps(4)?));
    }
    // rtun's lossless mode, where the driver has it (tun.ko does not: there
    // this repeats read-64).
    if want("read-64-lossless") {
        let mut f = setup()?;
        let _ = std::fs::write("/sys/class/net/rtbench/rtun_lossless", "1");
        runs.push(("read-64-lossless", read_pps(&mut f, 64)?));
    }
    for (case, streams, tso, lossless) in [
        ("tcp-tso-64k", 1, true, false),
        ("tcp8", 8, false, false),
        ("tcp8-lossless", 8, false, true),
    ] {
        if want(case) {
            runs.push((case, tcp_segments(streams, tso, lossless)?));
        }
    }
    for (case, queues) in [("create-destroy", 1), ("mq4-create-destroy", 4)] {
        if want(case) {
            runs.push((case, create_destroy(queues)?));
        }
    }
    if want("netns-teardown") {
        runs.push(("netns-teardown", netns_teardown(driver, 8, 4)?));
    }
    if let Some(v) = vhost.filter(|_| want("vhost-rx") || want("vhost-tx")) {
        let (rx, tx) = vhost_bps(v)?;
        runs.push(("vhost-rx", rx));
        runs.push(("vhost-tx", tx));
    }
    Ok(runs)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 && args.len() != 6 {
        eprintln!("usage: bench TUN.KO RTUN.KO SAMPLES [VHOST_NET_TEST VHOST_MODULE_DIR]");
        std::process::exit(2);
    }
    let vhost = (args.len() == 6).then(|| VhostBench {
        test: args[4].clone(),
        modules: args[5].clone(),
    });
    let samples: usize = args[3].parse().unwrap_or(10);
    let only = std::env::var("RTUN_BENCH_CASE").ok();
    if let Some(o) = only.as_deref().filter(|o| !CASES.contains(o)) {
        eprintln!("bench: no case {o}; the cases: {}", CASES.join(" "));
        std::process::exit(2);
    }
    let kallsyms = std::env::var("RTUN_BENCH_KALLSYMS").ok();
    // glibc takes a shorter path through every system call until a process
    // first has a second thread (the multi-queue cases start some): one
    // now, so that every window runs the same user code.
    let _ = std::thread::spawn(|| {}).join();
    let mut seq = 0;
    let drivers = [("tun", &args[1]), ("rtun", &args[2])];
    let mut results = vec![vec![Vec::new(); CASES.len()]; 2];
    // Round 0 warms up, unmarked and not kept: for the first few windows
    // after boot the page allocator's per-CPU lists are still growing to
    // the load, at up to 1.5% more kernel instructions per packet.
    for s in 0..=samples {
        MARKING.store(s > 0, Ordering::Relaxed);
        for (d, (name, ko)) in drivers.iter().enumerate() {
            if let Err(e) = sys::insmod(ko) {
                eprintln!("bench: insmod {ko}: {}", sys::errno_name(e));
                std::process::exit(1);
            }
            match measure(name, only.as_deref(), vhost.as_ref()) {
                Ok(_) if s == 0 => {}
                Ok(runs) => {
                    for (case, run) in runs {
                        seq += 1;
                        let frames = run.frames.map(|f| format!(" {f}")).unwrap_or_default();
                        println!(
                            "ICOUNT {seq} {case} {name} {} {:.6}{frames}",
                            run.packets, run.secs
                        );
                        let c = CASES.iter().position(|&n| n == case).unwrap_or(0);
                        results[d][c].push(run.packets as f64 / run.secs);
                    }
                }
                Err(e) => {
                    eprintln!("bench: {name}: {e}");
                    std::process::exit(1);
                }
            }
            if let Some(dir) = kallsyms.as_ref().filter(|_| s > 0) {
                // Read, not copied: procfs reports a size of 0.
                let vhost = VHOST_KALLSYMS.lock().ok().and_then(|mut k| k.take());
                let saved = vhost
                    .map_or_else(|| std::fs::read("/proc/kallsyms"), Ok)
                    .and_then(|k| std::fs::write(format!("{dir}/kallsyms.{seq}"), k));
                if let Err(e) = saved {
                    eprintln!("bench: saving /proc/kallsyms in {dir}: {e}");
                    std::process::exit(1);
                }
            }
            // The device goes with its file; wait for its teardown.
            std::thread::sleep(Duration::from_millis(20));
            while sys::rmmod(name).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if s == 0 {
            eprintln!("bench: warmed up");
        } else {
            eprintln!("bench: sample {s}/{samples}");
        }
    }
    println!(
        "{:<12} {:>14} {:>14} {:>10}",
        "case (pps)", "tun.ko", "rtun.ko", "rtun/tun"
    );
    for (c, case) in CASES.iter().enumerate() {
        if results[0][c].is_empty() {
            continue;
        }
        let t = median(&mut results[0][c]);
        let r = median(&mut results[1][c]);
        println!("{case:<12} {t:>14.0} {r:>14.0} {:>10.3}", r / t);
    }
    let rtun = |case: &str| {
        let c = CASES.iter().position(|&n| n == case).unwrap_or(0);
        median(&mut results[1][c].clone())
    };
    for (lossless, default) in [("read-64-lossless", "read-64"), ("tcp8-lossless", "tcp8")] {
        let ratio = rtun(lossless) / rtun(default);
        if !ratio.is_nan() {
            println!("rtun {default} lossless/default: {ratio:.3}");
        }
    }
    println!("({samples} samples per driver, medians, alternating loads in one boot)");
}
