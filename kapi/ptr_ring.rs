// SPDX-License-Identifier: GPL-2.0

//! `struct ptr_ring`: the fixed-size, lock-per-end FIFO of pointers that tun
//! queues packets on and vhost-net consumes from.
//!
//! Lock order: the ring's `producer_lock` and `consumer_lock` are leaves;
//! the C helpers take them internally and never hold both.

use core::{
    ffi::c_void,
    marker::PhantomData,
    mem::ManuallyDrop,
    ptr::{addr_of, addr_of_mut},
};

use kernel::{bindings, error::to_result, init::pin_init_from_closure, prelude::*, types::Opaque};

/// An owned object that can travel through a [`PtrRing`] as a raw pointer.
///
/// # Safety
///
/// `into_ptr` must return a non-NULL pointer that `from_ptr` turns back
/// into the same object, and `destroy` must free such a pointer.
pub(crate) unsafe trait RingItem: Sized + Send {
    /// Gives up ownership, as a non-NULL pointer.
    fn into_ptr(self) -> *mut c_void;

    /// Takes back ownership of what `into_ptr` returned.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `into_ptr` and be reclaimed only once.
    unsafe fn from_ptr(ptr: *mut c_void) -> Self;

    /// Frees an item left in the ring, as `ptr_ring_cleanup` asks.
    ///
    /// # Safety
    ///
    /// As for [`RingItem::from_ptr`].
    unsafe extern "C" fn destroy(ptr: *mut c_void) {
        // SAFETY: The caller passes a pointer from `into_ptr`, once.
        drop(unsafe { Self::from_ptr(ptr) });
    }
}

/// A `struct ptr_ring` owning items of type `T`.
///
/// # Invariants
///
/// `ring` was initialised by `ptr_ring_init` and is cleaned up on drop;
/// every non-NULL slot holds a pointer from `T::into_ptr`.
#[pin_data(PinnedDrop)]
pub(crate) struct PtrRing<T: RingItem> {
    #[pin]
    ring: Opaque<bindings::ptr_ring>,
    _t: PhantomData<T>,
}

// SAFETY: The ring synchronises its producers and consumers with its own
// spinlocks, and `T: Send` lets items cross threads.
unsafe impl<T: RingItem> Send for PtrRing<T> {}

// SAFETY: As for `Send`: every method takes the ring's internal locks.
unsafe impl<T: RingItem> Sync for PtrRing<T> {}

impl<T: RingItem> PtrRing<T> {
    /// Creates a ring of `size` slots (tun starts at 0 and resizes on
    /// attach), allocated with `GFP_KERNEL`.
    pub(crate) fn new(size: u32) -> impl PinInit<Self, Error> {
        let closure = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes; the field is `Opaque`.
            let ring = unsafe { Opaque::raw_get(addr_of!((*slot).ring)) };
            // CAST: Ring sizes are bounded by `tx_queue_len`, an int.
            // SAFETY: `ring` is valid for writes and pinned.
            to_result(unsafe { bindings::ptr_ring_init(ring, size as i32, bindings::GFP_KERNEL) })
        };
        // SAFETY: On success `ptr_ring_init` initialised the ring; on failure
        // it freed what it allocated.
        unsafe { pin_init_from_closure(closure) }
    }

    /// Queues `item`, or gives it back when the ring is full.
    pub(crate) fn produce(&self, item: T) -> core::result::Result<(), T> {
        let ptr = item.into_ptr();
        // SAFETY: The ring is initialised (type invariant); `ptr` is non-NULL.
        if unsafe { bindings::ptr_ring_produce(self.ring.get(), ptr) } == 0 {
            Ok(())
        } else {
            // SAFETY: The ring did not take `ptr`; it is still ours.
            Err(unsafe { T::from_ptr(ptr) })
        }
    }

    /// Dequeues the oldest item.
    pub(crate) fn consume(&self) -> Option<T> {
        // SAFETY: The ring is initialised (type invariant).
        let ptr = unsafe { bindings::ptr_ring_consume(self.ring.get()) };
        if ptr.is_null() {
            None
        } else {
            // SAFETY: Every non-NULL slot holds a pointer from `into_ptr`
            // (type invariant), and consuming removed it from the ring.
            Some(unsafe { T::from_ptr(ptr) })
        }
    }

    /// Resizes the ring to `size` slots, keeping queued items
    /// (`ptr_ring_resize`); `ENOMEM` leaves it as it was.
    pub(crate) fn resize(&self, size: u32) -> Result {
        // CAST: Ring sizes are bounded by `tx_queue_len`, an int.
        // SAFETY: The ring is initialised; `destroy` frees items that no
        // longer fit, which `ptr_ring_resize` hands it.
        to_result(unsafe {
            bindings::ptr_ring_resize(
                self.ring.get(),
                size as i32,
                bindings::GFP_KERNEL,
                Some(T::destroy),
            )
        })
    }

    /// Drops every queued item.
    pub(crate) fn purge(&self) {
        while self.consume().is_some() {}
    }

    /// Whether the ring has no free slot (`ptr_ring_full`).
    pub(crate) fn is_full(&self) -> bool {
        // SAFETY: The ring is initialised (type invariant).
        unsafe { bindings::ptr_ring_full(self.ring.get()) }
    }

    /// Applies `f` to the oldest item without dequeuing it
    /// (`PTR_RING_PEEK_CALL`).
    pub(crate) fn peek_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let ring = self.ring.get();
        // SAFETY: The ring is initialised; its consumer lock keeps the head
        // slot from being consumed while `f` looks at the item, and
        // `ManuallyDrop` leaves the ring its owner.
        unsafe {
            bindings::spin_lock(addr_of_mut!((*ring).consumer_lock));
            let ptr = bindings::__ptr_ring_peek(ring);
            let ret = (!ptr.is_null()).then(|| f(&ManuallyDrop::new(T::from_ptr(ptr))));
            bindings::spin_unlock(addr_of_mut!((*ring).consumer_lock));
            ret
        }
    }

    /// The C ring, for vhost-net (`tun_get_tx_ring`). vhost consumes items
    /// and may put back (`ptr_ring_unconsume`) only items it consumed, so the
    /// type invariant holds.
    pub(crate) fn as_raw(&self) -> *mut bindings::ptr_ring {
        self.ring.get()
    }

    /// Whether the ring holds no item.
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: The ring is initialised (type invariant).
        unsafe { bindings::ptr_ring_empty(self.ring.get()) }
    }
}

#[pinned_drop]
impl<T: RingItem> PinnedDrop for PtrRing<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The ring is initialised and no longer shared (we are its
        // last owner); `destroy` frees each item left in it.
        unsafe { bindings::ptr_ring_cleanup(self.ring.get(), Some(T::destroy)) };
    }
}
