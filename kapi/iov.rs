// SPDX-License-Identifier: GPL-2.0

//! I/O vectors (`struct iov_iter`) and the `kiocb` of `read_iter` and
//! `write_iter`. Modelled on `rust/kernel/iov.rs` of later kernels.
//!
//! C header: [`include/linux/uio.h`](srctree/include/linux/uio.h)

use core::ptr::addr_of;

use kernel::{bindings, types::Opaque};

use super::file::File;

/// `IOCB_NOWAIT` (`RWF_NOWAIT` in `include/uapi/linux/fs.h`).
const IOCB_NOWAIT: i32 = 8;

/// An iterator over a user (or kernel) buffer list.
///
/// # Invariants
///
/// Wraps a valid `struct iov_iter`, exclusively ours for the borrow.
#[repr(transparent)]
pub(crate) struct IovIter(Opaque<bindings::iov_iter>);

impl IovIter {
    /// # Safety
    ///
    /// `ptr` must be a valid `iov_iter`, used by nothing else for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::iov_iter) -> &'a mut Self {
        // SAFETY: `repr(transparent)`, validity and exclusivity from the
        // caller.
        unsafe { &mut *ptr.cast() }
    }

    pub(crate) fn as_raw(&mut self) -> *mut bindings::iov_iter {
        self.0.get()
    }

    /// Bytes left (`iov_iter_count`).
    pub(crate) fn count(&self) -> usize {
        // `count` sits in the anonymous struct that every iterator type but
        // `ITER_UBUF`'s own iovec shares, at the same offset in both, so
        // reading it there is `iov_iter_count`'s `i->count`.
        // SAFETY: `self` wraps a valid iterator (`from_raw`); the field's
        // offset is C's (checked by `kernel/check-layout.py`).
        unsafe {
            (*self.0.get())
                .__bindgen_anon_1
                .__bindgen_anon_1
                .as_ref()
                .count
        }
    }

    /// Copies all of `data` out, or fails with `EFAULT`
    /// (`copy_to_iter`).
    pub(crate) fn write_all(&mut self, data: &[u8]) -> kernel::error::Result {
        if self.write_some(data) == data.len() {
            Ok(())
        } else {
            Err(kernel::error::code::EFAULT)
        }
    }

    /// Copies as much of `data` out as fits or does not fault; returns how
    /// much (`copy_to_iter`).
    pub(crate) fn write_some(&mut self, data: &[u8]) -> usize {
        if !copy_size_ok(data.len()) {
            return 0;
        }
        // SAFETY: `data` is valid for reads of its length; the iterator is
        // valid and ours.
        unsafe { copy_to_iter(data.as_ptr().cast(), data.len(), self.as_raw()) }
    }

    /// Fills all of `buf`, or fails with `EFAULT` (`copy_from_iter_full`).
    pub(crate) fn read_all(&mut self, buf: &mut [u8]) -> kernel::error::Result {
        if !copy_size_ok(buf.len()) {
            return Err(kernel::error::code::EFAULT);
        }
        // SAFETY: `buf` is valid for writes of its length; the iterator is
        // valid and ours.
        let n = unsafe { copy_from_iter(buf.as_mut_ptr().cast(), buf.len(), self.as_raw()) };
        if n == buf.len() {
            return Ok(());
        }
        // SAFETY: The iterator is valid and ours, and advanced by `n`.
        unsafe { bindings::iov_iter_revert(self.as_raw(), n) };
        Err(kernel::error::code::EFAULT)
    }
}

// `copy_to_iter` and `copy_from_iter` are C inlines: `check_copy_size`, then
// the exported `_copy_to_iter`/`_copy_from_iter`. Without
// `CONFIG_HARDENED_USERCOPY` all that check does at run time is refuse a
// size beyond `INT_MAX` (with a warning; its object-size checks are the
// compiler's, and a slice's length is its object's), which
// [`copy_size_ok`] does here instead of a call into the helper per copy;
// with it, the helpers.
#[cfg(not(CONFIG_HARDENED_USERCOPY))]
use bindings::{_copy_from_iter as copy_from_iter, _copy_to_iter as copy_to_iter};
#[cfg(CONFIG_HARDENED_USERCOPY)]
use bindings::{copy_from_iter, copy_to_iter};

/// `check_copy_size`'s refusal of sizes beyond `INT_MAX`.
#[inline]
fn copy_size_ok(len: usize) -> bool {
    // CAST: INT_MAX is positive.
    len <= i32::MAX as usize
}

impl IovIter {
    /// Skips `n` bytes (`iov_iter_advance`).
    pub(crate) fn advance(&mut self, n: usize) {
        // SAFETY: The iterator is valid and ours.
        unsafe { bindings::iov_iter_advance(self.as_raw(), n) }
    }

    /// How many pages the bytes after the next `skip` span
    /// (`iov_iter_npages` of an advanced copy, as tun.c's zero-copy check).
    pub(crate) fn npages_after(&self, skip: usize) -> usize {
        // SAFETY: An iterator is plain data: a copy walks the same segments
        // without touching the original.
        let mut copy = unsafe { self.0.get().read() };
        // SAFETY: Our copy, valid as the original is.
        let n = unsafe {
            bindings::iov_iter_advance(&mut copy, skip);
            bindings::iov_iter_npages(&copy, i32::MAX)
        };
        // CAST: Non-negative.
        n as usize
    }

    /// Bytes left in the current segment (`iov_iter_single_seg_count`).
    pub(crate) fn single_seg_count(&self) -> usize {
        // SAFETY: A valid iterator; the call only reads it.
        unsafe { bindings::iov_iter_single_seg_count(self.0.get()) }
    }

    /// How many segments are left, the current one included (`nr_segs`;
    /// one for a single buffer).
    pub(crate) fn nr_segs(&self) -> usize {
        let it = self.0.get();
        // `nr_segs` begins the second anonymous union (`kernel/layout-structs`
        // checks it), and is what that union holds for user and page-vector
        // iterators, the kinds a write has: a folio queue's or xarray's
        // iterator is never a write's.
        // SAFETY: A valid iterator; see above.
        let n = unsafe {
            addr_of!((*it).__bindgen_anon_2)
                .cast::<core::ffi::c_ulong>()
                .read()
        };
        // CAST: A segment count.
        n as usize
    }

    /// The full length of segment `i` after the current one (`i` from 1
    /// to `nr_segs() - 1`), as tun.c's `iter_iov(it)[i].iov_len` reads it:
    /// `None` past the end or for a kind of iterator without segments in
    /// memory. tun.c reads every kind as an array of `struct iovec`; a
    /// page vector (io_uring's registered buffers) is read as what it is.
    pub(crate) fn segment_len(&self, i: usize) -> Option<usize> {
        if i == 0 || i >= self.nr_segs() {
            return None;
        }
        let it = self.0.get();
        // SAFETY: A valid iterator: its type is a plain field, and the
        // segment array (`__iov`, `bvec`: one pointer beginning the first
        // anonymous union, checked by `kernel/layout-structs`) holds
        // `nr_segs` entries from the current one, of which `i` is one.
        unsafe {
            let array = addr_of!((*it).__bindgen_anon_1).cast::<*const u8>().read();
            match u32::from((*it).iter_type) {
                bindings::iter_type_ITER_IOVEC | bindings::iter_type_ITER_KVEC => {
                    Some((*array.cast::<bindings::iovec>().add(i)).iov_len)
                }
                bindings::iter_type_ITER_BVEC => {
                    // CAST: A u32 length.
                    Some((*array.cast::<bindings::bio_vec>().add(i)).bv_len as usize)
                }
                _ => None,
            }
        }
    }
}

/// The I/O control block of a `read_iter`/`write_iter` call.
///
/// # Invariants
///
/// Wraps a valid `struct kiocb` for the call's duration.
#[repr(transparent)]
pub(crate) struct Kiocb(Opaque<bindings::kiocb>);

impl Kiocb {
    /// # Safety
    ///
    /// `ptr` must be valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::kiocb) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity from the caller.
        unsafe { &*ptr.cast() }
    }

    /// The file the I/O is on.
    pub(crate) fn file(&self) -> &File {
        // SAFETY: A kiocb of a file operation points to its valid file.
        unsafe { File::from_raw((*self.0.get()).ki_filp) }
    }

    /// Sets the file position the call reports (`ki_pos`).
    pub(crate) fn set_pos(&self, pos: i64) {
        // SAFETY: The kiocb is valid (type invariant) and belongs to the
        // running read or write call, which alone touches it; `Opaque`
        // allows the write through a shared reference.
        unsafe { (*self.0.get()).ki_pos = pos };
    }

    /// Whether the call must not block: `O_NONBLOCK` on the file or
    /// `IOCB_NOWAIT` on the request (tun.c's `noblock`).
    pub(crate) fn nonblock(&self) -> bool {
        // SAFETY: The kiocb is valid (type invariant).
        let ki_flags = unsafe { (*self.0.get()).ki_flags };
        ki_flags & IOCB_NOWAIT != 0 || self.file().flags() & bindings::O_NONBLOCK != 0
    }
}
