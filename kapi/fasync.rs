// SPDX-License-Identifier: GPL-2.0

//! Asynchronous notification (`O_ASYNC`, SIGIO) of a file's readiness.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::error::to_result;
use kernel::{bindings, prelude::*, types::Opaque};

use super::file::File;

/// A list of `fasync` subscribers (`struct fasync_struct *`), such as a
/// socket's `wq.fasync_list`.
///
/// # Invariants
///
/// The pointer is the list head `fasync_helper` maintains (NULL when
/// empty); the C functions serialise access to it.
#[repr(transparent)]
pub(crate) struct FasyncList(Opaque<*mut bindings::fasync_struct>);

// SAFETY: `fasync_helper` and `kill_fasync` synchronise the list with
// `fasync_lock` and RCU.
unsafe impl Send for FasyncList {}
// SAFETY: See `Send`.
unsafe impl Sync for FasyncList {}

impl FasyncList {
    /// # Safety
    ///
    /// `ptr` must point to an initialised (possibly NULL) fasync list head
    /// that stays valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut *mut bindings::fasync_struct) -> &'a Self {
        // SAFETY: `repr(transparent)` over the head; valid per the caller.
        unsafe { &*ptr.cast() }
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
        // SAFETY: The list is valid (type invariant); the file is valid
        // during the call.
        to_result(unsafe {
            bindings::fasync_helper(fd, file.as_raw(), i32::from(on), self.0.get())
        })?;
        if on {
            // SAFETY: `current` and its pid are valid; the file is valid and
            // has its owner record (allocated above).
            unsafe {
                bindings::__f_setown(
                    file.as_raw(),
                    bindings::task_pid(super::current::task()),
                    bindings::pid_type_PIDTYPE_TGID,
                    0,
                )
            };
        }
        Ok(())
    }

    /// Sends SIGIO with `POLL_IN` to subscribers (`kill_fasync`).
    pub(crate) fn notify_readable(&self) {
        // CAST: POLL_IN is a small int.
        self.kill(bindings::POLL_IN as i32);
    }

    /// Sends SIGIO with `POLL_OUT` to subscribers (`kill_fasync`).
    pub(crate) fn notify_writable(&self) {
        // CAST: POLL_OUT is a small int.
        self.kill(bindings::POLL_OUT as i32);
    }

    fn kill(&self, band: i32) {
        // CAST: SIGIO is a small int.
        // SAFETY: The list is valid (type invariant), possibly empty.
        unsafe { bindings::kill_fasync(self.0.get(), bindings::SIGIO as i32, band) };
    }
}
