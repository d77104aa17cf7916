// SPDX-License-Identifier: GPL-2.0

//! `struct ptr_ring`: the fixed-size, lock-per-end FIFO of pointers that tun
//! queues packets on and vhost-net consumes from.
//!
//! Lock order: the ring's `producer_lock` and `consumer_lock` are leaves,
//! never held together. Produce, consume and the emptiness checks are done
//! here, as C inlines them; resizing and cleanup call the C helpers.
//!
//! C header: [`include/linux/ptr_ring.h`](srctree/include/linux/ptr_ring.h)

use core::{
    ffi::c_void,
    marker::PhantomData,
    mem::ManuallyDrop,
    ptr::{addr_of, addr_of_mut},
    sync::atomic::{fence, Ordering},
};

use super::error::to_result;
use kernel::{bindings, init::pin_init_from_closure, prelude::*, types::Opaque};

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
        // SAFETY: `ptr` comes from `into_ptr`.
        if unsafe { self.produce_raw(ptr) } {
            Ok(())
        } else {
            // SAFETY: The ring did not take `ptr`; it is still ours.
            Err(unsafe { T::from_ptr(ptr) })
        }
    }

    /// `ptr_ring_produce`, in place (`__ptr_ring_produce` under the
    /// producer lock): whether the ring took `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a pointer [`RingItem::into_ptr`] of `T` returned;
    /// when this returns `true` the ring owns it.
    pub(crate) unsafe fn produce_raw(&self, ptr: *mut c_void) -> bool {
        let r = self.ring.get();
        // Under the producer lock `producer`, `size` and `queue` are stable
        // and belong together (`__ptr_ring_swap_queue` also holds it), and
        // `producer < size` whenever `size` is non-zero. Slots are shared
        // with the consumer, which clears them under its own lock: they are
        // read and written as `READ_ONCE`/`WRITE_ONCE`.
        // SAFETY: The ring is initialised (type invariant); under its lock,
        // as above, the slot is in bounds; the caller's `ptr` keeps the
        // type invariant.
        unsafe {
            super::spinlock::lock(addr_of_mut!((*r).producer_lock));
            let size = (*r).size;
            let producer = (*r).producer;
            // CAST: `producer` is below `size`, a non-negative int.
            let slot = (*r).queue.wrapping_add(producer as usize);
            let took = size != 0 && slot.read_volatile().is_null();
            if took {
                // `smp_wmb()`: what `ptr` points to is written before the
                // consumer can see `ptr`.
                fence(Ordering::Release);
                slot.write_volatile(ptr);
                let next = producer.wrapping_add(1);
                (*r).producer = if next >= size { 0 } else { next };
            }
            super::spinlock::unlock(addr_of_mut!((*r).producer_lock));
            took
        }
    }

    /// Dequeues the oldest item (`ptr_ring_consume`, in place:
    /// `__ptr_ring_consume` under the consumer lock).
    pub(crate) fn consume(&self) -> Option<T> {
        let r = self.ring.get();
        // Under the consumer lock the consumer indices, `size`, `batch` and
        // `queue` are stable and belong together, with `consumer_tail <=
        // consumer_head < size` whenever `size` is non-zero. Slots are
        // shared with the producer: read and written as `READ_ONCE`/
        // `WRITE_ONCE`; so is `consumer_head`, which `__ptr_ring_empty`
        // reads without the lock.
        // SAFETY: The ring is initialised (type invariant); under its lock,
        // as above, every slot touched is in bounds.
        let ptr = unsafe {
            super::spinlock::lock(addr_of_mut!((*r).consumer_lock));
            let size = (*r).size;
            let head = (*r).consumer_head;
            let mut ptr = core::ptr::null_mut();
            if size != 0 {
                // CAST: `head` is below `size`, a non-negative int.
                ptr = (*r).queue.wrapping_add(head as usize).read_volatile();
            }
            if !ptr.is_null() {
                // `__ptr_ring_discard_one`: slots are cleared (for the
                // producer) a batch at a time, newest first.
                let mut next = head.wrapping_add(1);
                let tail = (*r).consumer_tail;
                if next.wrapping_sub(tail) >= (*r).batch || next >= size {
                    let mut i = head;
                    while i >= tail {
                        // CAST: `tail <= i <= head`, all below `size`.
                        (*r).queue
                            .wrapping_add(i as usize)
                            .write_volatile(core::ptr::null_mut());
                        i = i.wrapping_sub(1);
                    }
                    (*r).consumer_tail = next;
                }
                if next >= size {
                    next = 0;
                    (*r).consumer_tail = 0;
                }
                addr_of_mut!((*r).consumer_head).write_volatile(next);
            }
            super::spinlock::unlock(addr_of_mut!((*r).consumer_lock));
            ptr
        };
        if ptr.is_null() {
            None
        } else {
            // SAFETY: Every non-NULL slot holds a pointer from `into_ptr`
            // (type invariant), and consuming removed it from the ring.
            Some(unsafe { T::from_ptr(ptr) })
        }
    }

    /// Resizes every ring in `rings` to `size` slots, keeping queued items
    /// that fit and freeing the rest, all or none: `ENOMEM` leaves every
    /// ring as it was (`ptr_ring_resize_multiple_bh`, as tun.c's
    /// `tun_queue_resize`). Items are freed with bottom halves, not hard
    /// interrupts, disabled.
    pub(crate) fn resize_all(rings: &[&Self], size: u32) -> Result {
        if rings.is_empty() {
            return Ok(());
        }
        let mut raw = KVec::with_capacity(rings.len(), GFP_KERNEL)?;
        for r in rings {
            raw.push(r.ring.get(), GFP_KERNEL)?;
        }
        // CAST: At most `MAX_TAP_QUEUES` rings per device.
        let n = raw.len() as u32;
        // CAST: `tx_queue_len` is passed on as the C `int`, as tun.c does; a
        // value above `INT_MAX` becomes an allocation the ring refuses
        // (`ENOMEM`).
        // SAFETY: Every pointer is an initialised ring (type invariant of
        // each `PtrRing`), kept alive by the borrows in `rings`; `destroy`
        // frees the items that no longer fit, which the helper hands it.
        to_result(unsafe {
            bindings::ptr_ring_resize_multiple_bh(
                raw.as_mut_ptr(),
                n,
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

    /// Whether the ring has no free slot. A ring of no slots (a device
    /// whose `tx_queue_len` is 0) is full: `ptr_ring_full` itself would
    /// read the slot array, which then is `ZERO_SIZE_PTR`.
    pub(crate) fn is_full(&self) -> bool {
        let ring = self.ring.get();
        // SAFETY: The ring is initialised (type invariant). Under the
        // producer lock, which `__ptr_ring_swap_queue` also holds, `size` and
        // `queue` belong together, and `producer < size` whenever `size` is
        // non-zero, so the slot read is in bounds.
        unsafe {
            super::spinlock::lock(addr_of_mut!((*ring).producer_lock));
            // CAST: `producer` is below `size`, a non-negative int.
            let full = (*ring).size == 0
                || !(*ring)
                    .queue
                    .add((*ring).producer as usize)
                    .read_volatile()
                    .is_null();
            super::spinlock::unlock(addr_of_mut!((*ring).producer_lock));
            full
        }
    }

    /// Whether the ring has any slots at all (`size`, read racily as
    /// `READ_ONCE`): a ring of none can never take an item.
    pub(crate) fn has_slots(&self) -> bool {
        // SAFETY: The ring is initialised (type invariant); a racy read of
        // an int.
        unsafe { addr_of!((*self.ring.get()).size).read_volatile() != 0 }
    }

    /// Applies `f` to the oldest item without dequeuing it
    /// (`PTR_RING_PEEK_CALL`).
    pub(crate) fn peek_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let ring = self.ring.get();
        // SAFETY: The ring is initialised; its consumer lock keeps the head
        // slot from being consumed while `f` looks at the item, and
        // `ManuallyDrop` leaves the ring its owner.
        unsafe {
            super::spinlock::lock(addr_of_mut!((*ring).consumer_lock));
            let ptr = bindings::__ptr_ring_peek(ring);
            let ret = (!ptr.is_null()).then(|| f(&ManuallyDrop::new(T::from_ptr(ptr))));
            super::spinlock::unlock(addr_of_mut!((*ring).consumer_lock));
            ret
        }
    }

    /// The C ring, for vhost-net (`tun_get_tx_ring`). vhost consumes items
    /// and may put back (`ptr_ring_unconsume`) only items it consumed, so the
    /// type invariant holds.
    pub(crate) fn as_raw(&self) -> *mut bindings::ptr_ring {
        self.ring.get()
    }

    /// Whether the ring holds no item (`ptr_ring_empty`, in place).
    pub(crate) fn is_empty(&self) -> bool {
        let r = self.ring.get();
        // SAFETY: The ring is initialised (type invariant); under the
        // consumer lock `consumer_head < size` whenever `size` is non-zero,
        // and the slot, shared with the producer, is read as `READ_ONCE`.
        unsafe {
            super::spinlock::lock(addr_of_mut!((*r).consumer_lock));
            // CAST: `consumer_head` is below `size`, a non-negative int.
            let empty = (*r).size == 0
                || (*r)
                    .queue
                    .add((*r).consumer_head as usize)
                    .read_volatile()
                    .is_null();
            super::spinlock::unlock(addr_of_mut!((*r).consumer_lock));
            empty
        }
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
