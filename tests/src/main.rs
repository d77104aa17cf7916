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
//!              [--vhost-modules DIR] [FILTER]
//!
//! Prints `ok NAME` or `FAIL NAME: why` per test, then
//! `<module>: N passed, M failed`; exits non-zero if any failed.

mod clients;
mod conformance;
mod datapath;
mod foundation;
mod fuzz;
mod ioctls;
mod lifetime;
mod lsm;
mod multiqueue;
mod packet;
mod stress;
mod surface;
mod sys;
mod traffic;
mod vhost;

use std::panic::{self, AssertUnwindSafe};

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
}

/// A test's verdict: `Err` says what differed from tun's behaviour.
pub type TestResult = Result<(), String>;

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

/// `--fuzz` and `--fuzz-seed` (see `fuzz.rs`), if those are the arguments.
fn fuzz_mode() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    match args.first().map(String::as_str) {
        Some("--fuzz-seed") => Some(fuzz::seed_main(num(1)?, u32::try_from(num(2)?).ok()?)),
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

fn main() {
    if let Some(rc) = fuzz_mode() {
        std::process::exit(rc);
    }
    let mut args = std::env::args().skip(1);
    let mut module_path = None;
    let mut filter = None;
    let mut kselftest_tun = None;
    let mut vhost_net_test = None;
    let mut vhost_modules = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--module" => module_path = args.next(),
            "--kselftest-tun" => kselftest_tun = args.next(),
            "--vhost-net-test" => vhost_net_test = args.next(),
            "--vhost-modules" => vhost_modules = args.next(),
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
    };

    // A panicking test is a failed test, reported like any other.
    panic::set_hook(Box::new(|_| {}));
    let (mut passed, mut failed) = (0, 0);
    let all = foundation::TESTS
        .iter()
        .chain(datapath::TESTS)
        .chain(ioctls::TESTS)
        .chain(multiqueue::TESTS)
        .chain(traffic::TESTS)
        .chain(surface::TESTS)
        .chain(lifetime::TESTS)
        .chain(clients::TESTS)
        .chain(conformance::TESTS)
        .chain(lsm::TESTS)
        .chain(vhost::TESTS);
    for test in all {
        // FILTER is one or more `|`-separated parts of test names.
        if filter
            .as_deref()
            .is_some_and(|f| !f.split('|').any(|part| test.name.contains(part)))
        {
            continue;
        }
        let verdict =
            panic::catch_unwind(AssertUnwindSafe(|| (test.run)(&ctx))).unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!("panicked: {msg}"))
            });
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("ok   {}", test.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {}: {why}", test.name);
            }
        }
    }
    println!("{}: {passed} passed, {failed} failed", ctx.module_name);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
