// SPDX-License-Identifier: GPL-2.0

//! The kernel's tick counter.
//!
//! C header: [`include/linux/jiffies.h`](srctree/include/linux/jiffies.h)

use kernel::bindings;

/// Ticks per second (`HZ`).
pub(crate) const HZ: u64 = bindings::CONFIG_HZ as u64;

/// `jiffies`, truncated to 32 bits; compare with wrapping arithmetic.
pub(crate) fn jiffies32() -> u32 {
    // SAFETY: `jiffies` is a word the timer interrupt updates; a volatile
    // read of it is what `READ_ONCE(jiffies)` does.
    let j = unsafe { core::ptr::addr_of!(bindings::jiffies).read_volatile() };
    // CAST: Truncation is intended; callers compare differences.
    j as u32
}
