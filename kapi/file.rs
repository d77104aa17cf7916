// SPDX-License-Identifier: GPL-2.0

//! Files, as the VFS hands them to file operations.
//!
//! Modelled on `rust/kernel/fs/file.rs` of later kernels, reduced to what a
//! character device's callbacks need.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use kernel::{bindings, types::Opaque};

/// A `struct file` seen from inside one of its file operations.
///
/// # Invariants
///
/// The wrapped `struct file` is valid for the lifetime of any `&File`: the
/// VFS holds a reference on it for the duration of the callback.
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

impl File {
    /// Creates a reference to a [`File`] from a valid pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct file` that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a File {
        // SAFETY: `File` is `repr(transparent)` over `Opaque<bindings::file>`,
        // which has the layout of `bindings::file`, and the caller guarantees
        // the pointee is valid for `'a`.
        unsafe { &*ptr.cast() }
    }
}

impl File {
    /// The raw `struct file`.
    pub(crate) fn as_raw(&self) -> *mut bindings::file {
        self.0.get()
    }

    /// `f_flags` (`O_NONBLOCK` and friends).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: The file is valid (type invariant). `f_flags` changes
        // under `f_lock` (fcntl(F_SETFL)); like C readers we take a racy
        // snapshot, read once.
        unsafe { core::ptr::addr_of!((*self.as_raw()).f_flags).read_volatile() }
    }
}
