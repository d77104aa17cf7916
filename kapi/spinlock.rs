// SPDX-License-Identifier: GPL-2.0

//! `spin_lock`/`spin_unlock` on a C `spinlock_t`, as C inlines them: where
//! this kernel's unlock is a plain release store, it is done in place and
//! the lock is taken by calling `_raw_spin_lock` directly, instead of
//! through two `rust_helper_*` wrappers per critical section (per packet
//! on tun's rings).
//!
//! Lock order: none here; callers document the locks they take.
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h)

use core::sync::atomic::{AtomicU8, Ordering};

use kernel::bindings;

/// Whether `spin_unlock` is `queued_spin_unlock` alone, a release store of
/// 0 to the lock's `locked` byte: x86-64 queued spinlocks with neither
/// paravirt unlock (`CONFIG_PARAVIRT_SPINLOCKS`), lock debugging or
/// lockdep (`spin_release`), KCSAN instrumentation, an out-of-line unlock
/// (`CONFIG_UNINLINE_SPIN_UNLOCK`) nor a preemption count (whose
/// `preempt_enable` may reschedule); `spin_lock` then is the call to
/// `_raw_spin_lock` C makes too (x86 never inlines the lock).
const UNLOCK_IS_STORE: bool = cfg!(all(
    target_arch = "x86_64",
    CONFIG_QUEUED_SPINLOCKS,
    not(any(
        CONFIG_PARAVIRT_SPINLOCKS,
        CONFIG_DEBUG_SPINLOCK,
        CONFIG_DEBUG_LOCK_ALLOC,
        CONFIG_KCSAN,
        CONFIG_UNINLINE_SPIN_UNLOCK,
        CONFIG_INLINE_SPIN_LOCK,
        CONFIG_PREEMPT_COUNT
    ))
));

// Without lockdep a `spinlock_t` is a union holding only its `raw_spinlock`
// (offset 0, as for any union member), and a `raw_spinlock` without lock
// debugging is its `qspinlock` (`raw_lock`, its first member), whose
// `locked` byte is at offset 0 (`kernel/check-layout.py` proves the last
// two). Checked here for the build that relies on it.
const _: () = assert!(
    !UNLOCK_IS_STORE
        || (core::mem::size_of::<bindings::spinlock_t>()
            == core::mem::size_of::<bindings::raw_spinlock_t>()
            && core::mem::size_of::<bindings::raw_spinlock_t>()
                == core::mem::size_of::<bindings::qspinlock>()
            && core::mem::offset_of!(bindings::raw_spinlock, raw_lock) == 0)
);

/// Takes `lock` (`spin_lock`).
///
/// # Safety
///
/// `lock` must point to an initialised `spinlock_t` that stays valid until
/// [`unlock`] releases it, and the caller must not hold it already.
#[inline(always)]
pub(crate) unsafe fn lock(lock: *mut bindings::spinlock_t) {
    if UNLOCK_IS_STORE {
        // CAST: The `raw_spinlock` is at offset 0 of the `spinlock_t`
        // (above).
        // SAFETY: From the caller; `_raw_spin_lock` is what `spin_lock`
        // calls.
        unsafe { bindings::_raw_spin_lock(lock.cast()) };
    } else {
        // SAFETY: From the caller.
        unsafe { bindings::spin_lock(lock) };
    }
}

/// Releases `lock` (`spin_unlock`).
///
/// # Safety
///
/// The caller must hold `lock`, taken with [`lock`].
#[inline(always)]
pub(crate) unsafe fn unlock(lock: *mut bindings::spinlock_t) {
    if UNLOCK_IS_STORE {
        // CAST: The `locked` byte is at offset 0 of the `spinlock_t`
        // (above).
        // SAFETY: The caller holds the lock, so the byte is valid, aligned
        // (a `u8`) and ours to clear; the lock's other users access it
        // atomically too. A release store is `smp_store_release`.
        unsafe { AtomicU8::from_ptr(lock.cast::<u8>()).store(0, Ordering::Release) };
    } else {
        // SAFETY: From the caller.
        unsafe { bindings::spin_unlock(lock) };
    }
}
