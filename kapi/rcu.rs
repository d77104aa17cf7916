// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections (6.12's `kernel` crate has none).
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h)

use core::marker::PhantomData;

use kernel::bindings;

/// An RCU read-side critical section, ended on drop.
///
/// Not `Send`: the section belongs to the task (or CPU) that entered it.
pub(crate) struct Guard(PhantomData<*mut ()>);

/// Enters an RCU read-side critical section (`rcu_read_lock`).
pub(crate) fn read_lock() -> Guard {
    // SAFETY: Always allowed; paired with the unlock in `drop`.
    unsafe { bindings::rcu_read_lock() };
    Guard(PhantomData)
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: This guard entered the section it leaves.
        unsafe { bindings::rcu_read_unlock() };
    }
}
