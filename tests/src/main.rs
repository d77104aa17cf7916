// SPDX-License-Identifier: GPL-2.0

//! rtun's differential test runner, run inside a QEMU guest (see
//! `tests/run.sh`) once with tun.ko loaded and once with rtun.ko.
//!
//! A test states a behaviour of tun as user space sees it; it knows nothing
//! of which driver is loaded, except the module's file and name for the tests
//! that load and unload it. The same test passing on both drivers is the
//! claim that rtun is a drop-in for tun.
//!
//!   rtun-tests --module PATH.ko [--kselftest-tun PATH] [--vhost-net-test PATH]
//!              [--vhost-modules DIR] [--timeout SECONDS] [FILTER]
//!
//! Each test runs in a process of its own, in a network namespace of its
//! own with its own sysfs, under a timeout (default 300 s, well inside the
//! guest's own), so a failure, a hang or leftover devices cannot change
//! what later tests see. The
//! output is KTAP, as kselftests print it: `ok N NAME`, `not ok N NAME`
//! after `# FAIL NAME: why`, `ok N NAME # SKIP why` for a test whose
//! optional tool is missing, what a test prints as `# ` lines; then
//! `# Totals: ...` and `<module>: N passed, M failed`. Exits non-zero if
//! any failed.

mod clients;
mod conformance;
mod datapath;
mod forward;
mod foundation;
mod fuzz;
mod ioctls;
mod ktap;
mod lifetime;
mod lsm;
mod multiqueue;
mod napi;
mod nested;
mod packet;
mod stress;
mod surface;
mod sys;
mod traffic;
mod vhost;
mod xdp;

use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    panic::{self, AssertUnwindSafe},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// What a test knows of the driver under test.
pub struct Ctx {
    /// The module file, for tests that load it.
    pub module_path: String,
    /// The module name (`tun` or `rtun`), for tests that unload it.
    pub module_name: String,
    /// The kernel's own `tools/testing/selftests/net/tun.c`, built.
    pub kselftest_tun: Option<String>,
    /// The kernel's own `tools/virtio/vhost_net_test`, built.
    pub vhost_net_test: Option<String>,
    /// Where `vhost_net.ko` and the modules it needs are.
    pub vhost_modules: Option<String>,
    /// The nested guest's kernel, a bzImage (the perf kernel's).
    pub inner_kernel: Option<String>,
}

/// A test's verdict: `Err` says what differed from tun's behaviour, or,
/// made by [`skip`], why the test could not run here.
pub type TestResult = Result<(), String>;

/// Marks an `Err` as a skip, not a failure.
const SKIP: &str = "\u{1}SKIP ";

/// A verdict of "skipped": `why` the test cannot run on this machine.
pub fn skip(why: impl std::fmt::Display) -> String {
    format!("{SKIP}{why}")
}

/// Skips the test unless `cmd` is on `PATH`: real clients are optional
/// tools (`./dev setup` installs them).
pub fn need_tool(cmd: &str) -> TestResult {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join(cmd).is_file()) {
        Ok(())
    } else {
        Err(skip(format!("{cmd} is not installed")))
    }
}

/// A named test.
pub struct Test {
    pub name: &'static str,
    pub run: fn(&Ctx) -> TestResult,
}

/// A table of tests named after their functions.
#[macro_export]
macro_rules! tests {
    ($($t:ident),* $(,)?) => {
        &[$($crate::Test { name: stringify!($t), run: $t }),*]
    };
}

/// Fails the test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Tests that need a guest boot of their own (`--own-boot`), because what
/// they make the driver do would clash with the rest of the suite in the
/// kernel's debug state rather than in anything a test can see.
///
/// - `vhost_tx_rx_batched`: tun.c's `tun_rx_batched` takes the socket's
///   write-queue lock with softirqs enabled, and `tun_napi_poll` takes the
///   same lock class (every tun socket's `wlock-AF_UNSPEC`) in softirq
///   context. No one socket's queue is used both ways, but lockdep judges
///   the class: a boot that runs a NAPI test and this one reports
///   "inconsistent lock state" against tun.ko, an upstream false positive
///   that ends the guest's lockdep checking. (rtun keeps batched packets in
///   a queue of its own, with its own class.)
pub const OWN_BOOT: &[&str] = &["vhost_tx_rx_batched"];

/// Tests that run in a guest of the perf kernel (`--perf-boot`), alone:
///
/// - `qemu_guest_on_taps`: a QEMU guest inside the test guest. Nested
///   software emulation on the debug kernel took 480 s a driver (every
///   timer tick of the inner guest is system calls of the outer QEMU, each
///   slowed by KASAN and lockdep), more than the suite's time has; the perf
///   kernel still fails the run on any oops, BUG or WARN.
pub const PERF_BOOT: &[&str] = &["qemu_guest_on_taps"];

/// Tests allowed longer than `--timeout`, with their limit in seconds.
const LONG: &[(&str, u64)] = &[("qemu_guest_on_taps", 1200)];

/// `--fuzz` and `--fuzz-seed` (see `fuzz.rs`), if those are the arguments.
fn fuzz_mode() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    match args.first().map(String::as_str) {
        Some("--fuzz-seed") => Some(fuzz::seed_main(num(1)?, u32::try_from(num(2)?).ok()?)),
        Some("--list-own-boot") => {
            println!("{}", OWN_BOOT.join("\n"));
            Some(0)
        }
        Some("--list-perf-boot") => {
            println!("{}", PERF_BOOT.join("\n"));
            Some(0)
        }
        Some("--stress") => Some(stress::main(
            args.get(1)?,
            num(2)?,
            num(3)?,
            num(4)?,
            args.get(5).map(String::as_str),
        )),
        Some("--fuzz") => Some(fuzz::main(
            args.get(1)?,
            args.get(2)?,
            num(3)?,
            num(4)?,
            u32::try_from(num(5)?).ok()?,
        )),
        _ => None,
    }
}

/// The line a test's process ends with: its verdict for the runner.
const VERDICT: &str = "\u{1}verdict ";

/// How a test ended, as the runner saw it.
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

fn all_tests() -> impl Iterator<Item = &'static Test> {
    foundation::TESTS
        .iter()
        .chain(datapath::TESTS)
        .chain(ioctls::TESTS)
        .chain(multiqueue::TESTS)
        .chain(traffic::TESTS)
        .chain(napi::TESTS)
        .chain(surface::TESTS)
        .chain(lifetime::TESTS)
        .chain(clients::TESTS)
        .chain(conformance::TESTS)
        .chain(lsm::TESTS)
        .chain(vhost::TESTS)
        .chain(xdp::TESTS)
        .chain(nested::TESTS)
}

/// `--one NAME`: runs one test here, in a fresh network namespace, and
/// ends with its verdict line.
fn run_one(ctx: &Ctx, name: &str) -> i32 {
    let Some(test) = all_tests().find(|t| t.name == name) else {
        println!("{VERDICT}fail no test {name}");
        return 1;
    };
    let verdict = fuzz::private_netns().and_then(|()| {
        // As the guest's own namespace has it.
        let sock = sys::inet_socket().ok_or("no socket")?;
        sys::set_up(&sock, "lo", true).map_err(|e| format!("lo up: {e}"))?;
        // A panicking test is a failed test, reported like any other.
        panic::set_hook(Box::new(|_| {}));
        panic::catch_unwind(AssertUnwindSafe(|| (test.run)(ctx))).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        })
    });
    let line = match verdict {
        Ok(()) => "ok".to_string(),
        Err(why) => match why.strip_prefix(SKIP) {
            Some(why) => format!("skip {why}"),
            None => format!("fail {}", why.replace('\n', " | ")),
        },
    };
    println!("\n{VERDICT}{line}");
    0
}

/// Runs `--one NAME` in a child of its own process group, relaying what it
/// prints as KTAP diagnostics; kills the group after `timeout`.
fn run_isolated(args: &[String], name: &str, timeout: Duration) -> Verdict {
    let me = match std::env::current_exe() {
        Ok(me) => me,
        Err(e) => return Verdict::Fail(format!("current_exe: {e}")),
    };
    let mut child = match Command::new(me)
        .args(args)
        .args(["--one", name])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Fail(format!("spawn: {e}")),
    };
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + timeout;
    let mut verdict = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => match line.strip_prefix(VERDICT) {
                Some(v) => verdict = Some(v.to_string()),
                None if line.is_empty() => {}
                None => println!("# {line}"),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if left.is_zero() {
                    // SAFETY: Signals the child's process group, which it
                    // leads (`process_group(0)`).
                    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                    let _ = child.wait();
                    return Verdict::Fail(format!("timed out after {} s", timeout.as_secs()));
                }
            }
        }
    }
    let status = child.wait();
    match verdict.as_deref() {
        Some("ok") => Verdict::Pass,
        Some(v) => match v.split_once(' ') {
            Some(("skip", why)) => Verdict::Skip(why.to_string()),
            Some(("fail", why)) => Verdict::Fail(why.to_string()),
            _ => Verdict::Fail(format!("verdict {v:?}")),
        },
        None => Verdict::Fail(format!("exited without a verdict: {status:?}")),
    }
}

fn main() {
    if let Some(rc) = fuzz_mode() {
        std::process::exit(rc);
    }
    let mut args = std::env::args().skip(1);
    let mut child_args = Vec::new();
    let mut module_path = None;
    let mut filter = None;
    let mut one = None;
    let mut own_boot = false;
    let mut perf_boot = false;
    let mut kselftest_tun = None;
    let mut vhost_net_test = None;
    let mut vhost_modules = None;
    let mut inner_kernel = None;
    let mut timeout = 300;
    while let Some(arg) = args.next() {
        let mut value = || {
            let v = args.next();
            child_args.extend([arg.clone(), v.clone().unwrap_or_default()]);
            v
        };
        match arg.as_str() {
            "--module" => module_path = value(),
            "--kselftest-tun" => kselftest_tun = value(),
            "--vhost-net-test" => vhost_net_test = value(),
            "--vhost-modules" => vhost_modules = value(),
            "--inner-kernel" => inner_kernel = value(),
            "--timeout" => timeout = value().and_then(|v| v.parse().ok()).unwrap_or(timeout),
            "--one" => one = args.next(),
            "--own-boot" => own_boot = true,
            "--perf-boot" => perf_boot = true,
            _ => filter = Some(arg),
        }
    }
    let Some(module_path) = module_path else {
        eprintln!("usage: rtun-tests --module PATH.ko [FILTER]");
        std::process::exit(2);
    };
    let module_name = std::path::Path::new(&module_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ctx = Ctx {
        module_path,
        module_name,
        kselftest_tun,
        vhost_net_test,
        vhost_modules,
        inner_kernel,
    };
    if let Some(name) = one {
        std::process::exit(run_one(&ctx, &name));
    }

    // FILTER is one or more `|`-separated parts of test names. The tests
    // that need a boot of their own run only with `--own-boot` or
    // `--perf-boot`, alone.
    let tests: Vec<&Test> = all_tests()
        .filter(|t| OWN_BOOT.contains(&t.name) == own_boot)
        .filter(|t| PERF_BOOT.contains(&t.name) == perf_boot)
        .filter(|t| {
            filter
                .as_deref()
                .is_none_or(|f| f.split('|').any(|part| t.name.contains(part)))
        })
        .collect();
    let mut report = ktap::Ktap::new(&ctx.module_name, tests.len());
    for test in tests {
        let start = Instant::now();
        let limit = LONG
            .iter()
            .find(|(name, _)| *name == test.name)
            .map_or(timeout, |&(_, secs)| secs.max(timeout));
        let verdict = run_isolated(&child_args, test.name, Duration::from_secs(limit));
        let secs = start.elapsed().as_secs_f64();
        if secs >= 30.0 {
            report.diag(&format!("{} took {secs:.0} s", test.name));
        }
        match verdict {
            Verdict::Pass => report.pass(test.name),
            Verdict::Skip(why) => report.skip(test.name, &why),
            Verdict::Fail(why) => report.fail(test.name, &why),
        }
    }
    std::process::exit(report.finish());
}
