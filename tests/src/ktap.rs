// SPDX-License-Identifier: GPL-2.0

//! KTAP output, as kselftests print it (Documentation/dev-tools/ktap.rst),
//! for the suite, the fuzzer and the stress run alike: a plan, one result
//! line per test, diagnostics as `# ` lines, totals, and then rtun's own
//! closing `NAME: N passed, M failed`, which `tests/run.sh` counts.

/// A KTAP report of `planned` tests, numbered from 1 in the order given.
pub struct Ktap {
    name: String,
    next: usize,
    planned: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Ktap {
    /// Starts the report: the version line and the plan.
    pub fn new(name: &str, planned: usize) -> Self {
        println!("KTAP version 1");
        println!("1..{planned}");
        Self {
            name: name.to_string(),
            next: 1,
            planned,
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    /// A diagnostic line.
    pub fn diag(&self, line: &str) {
        println!("# {line}");
    }

    pub fn pass(&mut self, test: &str) {
        println!("ok {} {test}", self.next);
        self.next += 1;
        self.passed += 1;
    }

    /// A failure: `why` first, as a diagnostic naming the test.
    pub fn fail(&mut self, test: &str, why: &str) {
        for (i, line) in why.lines().enumerate() {
            if i == 0 {
                println!("# FAIL {test}: {line}");
            } else {
                println!("# {line}");
            }
        }
        println!("not ok {} {test}", self.next);
        self.next += 1;
        self.failed += 1;
    }

    pub fn skip(&mut self, test: &str, why: &str) {
        println!("ok {} {test} # SKIP {why}", self.next);
        self.next += 1;
        self.skipped += 1;
    }

    /// Ends the report (tests planned but not run count as failed);
    /// returns the exit status: 0 if none failed.
    pub fn finish(mut self) -> i32 {
        let missing = (self.planned + 1).saturating_sub(self.next);
        if missing != 0 {
            self.diag(&format!("{missing} planned tests did not run"));
            self.failed += missing;
        }
        println!(
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0",
            self.passed, self.failed, self.skipped
        );
        println!(
            "{}: {} passed, {} failed",
            self.name, self.passed, self.failed
        );
        i32::from(self.failed != 0)
    }
}
