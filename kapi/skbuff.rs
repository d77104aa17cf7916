// SPDX-License-Identifier: GPL-2.0

//! Socket buffers (`struct sk_buff`).

use core::{ffi::c_void, ptr::NonNull};

use kernel::bindings;

use super::ptr_ring::RingItem;

/// An owned reference to a socket buffer.
///
/// # Invariants
///
/// `self.0` points to a valid `sk_buff` of which this object owns one
/// reference (`skb->users`).
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: An skb reference may be passed to and dropped on any thread.
unsafe impl Send for SkBuff {}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference.
        unsafe { bindings::kfree_skb(self.0.as_ptr()) };
    }
}

// SAFETY: `into_ptr` hands out the non-NULL skb pointer together with our
// reference, and `from_ptr` takes both back.
unsafe impl RingItem for SkBuff {
    fn into_ptr(self) -> *mut c_void {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        ptr.cast()
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: The caller passes a non-NULL pointer from `into_ptr`.
        // INVARIANT: Ownership of the reference comes with it.
        Self(unsafe { NonNull::new_unchecked(ptr.cast()) })
    }
}
