// SPDX-License-Identifier: GPL-2.0

//! Asynchronous notification (`O_ASYNC`, SIGIO) of a file's readiness.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{bindings, error::to_result, prelude::*, types::Opaque};

use super::file::File;

/// A file's list of `fasync` subscribers, and whether notifications are on.
///
/// # Invariants
///
/// `list` is the `fasync_struct` list head `fasync_helper` maintains (NULL
/// when empty); the C functions serialise access to it.
pub(crate) struct Fasync {
    list: Opaque<*mut bindings::fasync_struct>,
    on: AtomicBool,
}

// SAFETY: `fasync_helper` and `kill_fasync` synchronise the list with
// `fasync_lock` and RCU.
unsafe impl Send for Fasync {}
// SAFETY: See `Send`.
unsafe impl Sync for Fasync {}

impl Fasync {
    pub(crate) const fn new() -> Self {
        Self {
            list: Opaque::new(core::ptr::null_mut()),
            on: AtomicBool::new(false),
        }
    }

    /// The `fasync` file operation: subscribes (`on`) or unsubscribes
    /// `file`. Subscribing makes the calling process the signal's target, as
    /// tun does (`__f_setown(file, task_pid(current), PIDTYPE_TGID, 0)`).
    pub(crate) fn set(&self, file: &File, fd: i32, on: bool) -> Result {
        if on {
            // 6.12 allocates a file's owner record on demand.
            // SAFETY: The file is valid during the call.
            to_result(unsafe { bindings::file_f_owner_allocate(file.as_raw()) })?;
        }
        // SAFETY: `list` is ours; the file is valid during the call.
        to_result(unsafe {
            bindings::fasync_helper(fd, file.as_raw(), i32::from(on), self.list.get())
        })?;
        if on {
            // SAFETY: `current` and its pid are valid; the file is valid and
            // has its owner record (allocated above).
            unsafe {
                bindings::__f_setown(
                    file.as_raw(),
                    bindings::task_pid(bindings::get_current()),
                    bindings::pid_type_PIDTYPE_TGID,
                    0,
                )
            };
        }
        self.on.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Sends SIGIO with `POLL_IN` to subscribers (`kill_fasync`), if on.
    pub(crate) fn notify_readable(&self) {
        if self.on.load(Ordering::Relaxed) {
            // CAST: SIGIO and POLL_IN are small ints.
            // SAFETY: `list` is a valid (possibly empty) fasync list.
            unsafe {
                bindings::kill_fasync(
                    self.list.get(),
                    bindings::SIGIO as i32,
                    bindings::POLL_IN as i32,
                )
            };
        }
    }
}
