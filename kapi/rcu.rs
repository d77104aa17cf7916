// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections (6.12's `kernel` crate has none), and
//! the slots that RTNL holders publish objects in for lock-free readers:
//! [`ArcSlot`] (an `Arc<T>`, tun.c's `tfiles[]`) and [`DevSlot`] (a held
//! device, tun.c's `tfile->tun`). What a writer takes out of a slot is
//! [`Retired`] until readers are gone; [`Unpublished`] waits for many at
//! once, with one grace period.
//!
//! Lock order: writers hold RTNL; readers hold nothing but the section.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h)

use core::{
    marker::PhantomData,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};

use kernel::{bindings, prelude::*, sync::Arc, types::ARef};

use super::{
    net::Rtnl,
    netdev::{DevRef, NetDevice},
};

/// An RCU read-side critical section, ended on drop.
///
/// Not `Send`: the section belongs to the task (or CPU) that entered it.
pub(crate) struct Guard(PhantomData<*mut ()>);

/// Whether `rcu_read_lock`/`rcu_read_unlock` compile to nothing but a
/// compiler barrier in this kernel: tree RCU without preemption, where
/// `__rcu_read_lock` is `preempt_disable()`, which without
/// `CONFIG_PREEMPT_COUNT` is `barrier()`, and neither lockdep
/// (`rcu_lock_acquire`), `RCU_LOCKDEP_WARN` nor the strict grace period
/// hook (`rcu_read_unlock_strict`) adds a call. Then the section costs
/// nothing, as in C, instead of two calls into helpers per packet.
const RCU_READ_IS_BARRIER: bool = cfg!(not(any(
    CONFIG_PREEMPT_RCU,
    CONFIG_PREEMPT_COUNT,
    CONFIG_DEBUG_LOCK_ALLOC,
    CONFIG_PROVE_RCU,
    CONFIG_RCU_STRICT_GRACE_PERIOD
)));

/// C's `barrier()`: an empty `asm` the compiler must assume reads and writes
/// any memory.
#[inline(always)]
fn barrier() {
    // SAFETY: An empty instruction sequence, which touches nothing.
    unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
}

/// Enters an RCU read-side critical section (`rcu_read_lock`).
#[inline(always)]
pub(crate) fn read_lock() -> Guard {
    if RCU_READ_IS_BARRIER {
        // `barrier()`: what the section reads is not hoisted above it.
        barrier();
    } else {
        // SAFETY: Always allowed; paired with the unlock in `drop`.
        unsafe { bindings::rcu_read_lock() };
    }
    Guard(PhantomData)
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if RCU_READ_IS_BARRIER {
            // `barrier()`: what the section read is not sunk below it.
            barrier();
        } else {
            // SAFETY: This guard entered the section it leaves.
            unsafe { bindings::rcu_read_unlock() };
        }
    }
}

/// An RCU-protected pointer to a device, published by its owner and read
/// without locks (tun.c's `tfile->tun`).
///
/// tun.c's slot holds no reference and is sound only because the driver
/// clears it before the device can be freed. This one holds a reference, so
/// its soundness rests on nothing outside it: a slot left set by mistake
/// makes unregistration wait (`netdev_wait_allrefs` names the device), not
/// a use after free. The cost is one `dev_hold` per attach.
///
/// # Invariants
///
/// A non-NULL pointer owns a reference (`dev_hold`) to a device whose
/// private data is a `P` (as a [`DevRef<P>`]). Once cleared, the reference
/// is released only after a grace period, so a pointer loaded inside an RCU
/// read section stays valid for the section.
pub(crate) struct DevSlot<P>(AtomicPtr<bindings::net_device>, PhantomData<DevRef<P>>);

impl<P> DevSlot<P> {
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()), PhantomData)
    }

    /// Publishes `dev`. A device already published is replaced; its
    /// reference is released after its readers are gone.
    pub(crate) fn set(&self, _rtnl: &Rtnl, dev: DevRef<P>) {
        // INVARIANT: The reference moves into the slot, and with it what
        // `DevRef` knows of the device's private data.
        let new = ARef::into_raw(dev.into_aref())
            .as_ptr()
            .cast::<bindings::net_device>();
        let old = self.0.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: Sleeping is allowed under RTNL, a mutex. After the
            // grace period no reader sees `old`, whose reference the slot
            // owned (type invariant) and is released here.
            unsafe {
                bindings::synchronize_net();
                super::netdev::dev_put(old);
            }
        }
    }

    /// Clears the slot; readers may still see the old device until the
    /// batch's grace period, after which the batch releases the slot's
    /// reference.
    pub(crate) fn clear_in<T>(&self, _rtnl: &Rtnl, batch: &mut Unpublished<T>) {
        let old = self.0.swap(ptr::null_mut(), Ordering::AcqRel);
        if let Some(old) = NonNull::new(old) {
            // SAFETY: The slot owned this reference (type invariant); it
            // moves to the batch.
            batch.push_dev(unsafe { ARef::from_raw(old.cast()) });
        }
    }

    /// A counted reference to the device under RTNL, which excludes the
    /// slot's writers.
    pub(crate) fn get_rtnl(&self, _rtnl: &Rtnl) -> Option<DevRef<P>> {
        let dev = self.0.load(Ordering::Acquire);
        // SAFETY: A non-NULL pointer owns a reference (type invariant), so
        // the device is valid; writers need RTNL, so it cannot be cleared
        // while we take our own reference.
        (!dev.is_null()).then(|| unsafe { Self::held(dev) })
    }

    /// A counted reference to the device, if one is published
    /// (`tun_get`).
    pub(crate) fn get(&self) -> Option<DevRef<P>> {
        let _guard = read_lock();
        let dev = self.0.load(Ordering::Acquire);
        // SAFETY: Inside the RCU read section a pointer loaded from the slot
        // keeps its reference: a cleared one is released only after a grace
        // period (type invariant).
        (!dev.is_null()).then(|| unsafe { Self::held(dev) })
    }

    /// The published device, for as long as the RCU read section lasts:
    /// no reference counted, for readers that do not sleep.
    pub(crate) fn get_in<'a>(&'a self, _guard: &'a Guard) -> Option<&'a NetDevice> {
        let dev = self.0.load(Ordering::Acquire);
        // SAFETY: Inside the RCU read section a pointer loaded from the slot
        // keeps its reference until the section ends (type invariant), and
        // the borrow of `_guard` ends with it.
        (!dev.is_null()).then(|| unsafe { NetDevice::from_raw(dev) })
    }

    /// Whether the slot holds `dev`: if so, clearing it and waiting for a
    /// grace period waits for the end of `_guard`'s section too.
    pub(crate) fn holds(&self, dev: &NetDevice, _guard: &Guard) -> bool {
        self.0.load(Ordering::Acquire) == dev.as_raw()
    }

    /// A new reference to a device the slot holds or held.
    ///
    /// # Safety
    ///
    /// `dev` was loaded from the slot, and its reference is not released
    /// before this returns.
    unsafe fn held(dev: *mut bindings::net_device) -> DevRef<P> {
        // SAFETY: Valid while the slot's reference lives (the caller), and
        // the slot held a `DevRef<P>`'s device (type invariant).
        unsafe { DevRef::from_held(NetDevice::from_raw(dev)) }
    }
}

impl<P> Drop for DevSlot<P> {
    fn drop(&mut self) {
        let dev = *self.0.get_mut();
        if let Some(dev) = NonNull::new(dev) {
            // SAFETY: The slot owns this reference (type invariant); being
            // dropped, it has no readers.
            drop(unsafe { ARef::<NetDevice>::from_raw(dev.cast()) });
        }
    }
}

/// An RCU-protected slot holding an `Arc<T>` (tun.c's `tun->tfiles[i]`).
///
/// # Invariants
///
/// A non-NULL pointer came from `Arc::into_raw` and owns that reference.
pub(crate) struct ArcSlot<T>(AtomicPtr<T>, PhantomData<Arc<T>>);

// SAFETY: Moves and shares `Arc<T>`s, which are `Send + Sync` for such `T`.
unsafe impl<T: Send + Sync> Send for ArcSlot<T> {}
// SAFETY: See `Send`.
unsafe impl<T: Send + Sync> Sync for ArcSlot<T> {}

impl<T> ArcSlot<T> {
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()), PhantomData)
    }

    /// The object, for as long as the RCU read section lasts.
    pub(crate) fn get<'a>(&'a self, _guard: &'a Guard) -> Option<&'a T> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: A published `Arc` is released only after `take` waited
        // for RCU readers, so it outlives the section.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// A new reference to the object, under RTNL, which excludes other
    /// writers. (A reference count, not a borrow: the same task may replace
    /// the slot and release the old object while still using it.)
    pub(crate) fn get_rtnl(&self, _rtnl: &Rtnl) -> Option<Arc<T>> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: The slot owns a reference from `Arc::into_raw` (type
        // invariant) that RTNL keeps alive; it is borrowed here without being
        // released (`ManuallyDrop`) and cloned.
        let owned = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
        Some(Arc::clone(&owned))
    }

    /// Moves `src`'s object into this slot, leaving `src` empty; returns
    /// the object this slot held. Readers see the moved object in one of the
    /// two slots throughout.
    pub(crate) fn move_from(&self, _rtnl: &Rtnl, src: &ArcSlot<T>) -> Option<Retired<T>> {
        let p = src.0.load(Ordering::Acquire);
        let old = self.0.swap(p, Ordering::AcqRel);
        src.0.store(ptr::null_mut(), Ordering::Release);
        // INVARIANT: `src`'s reference moved here; `old` owned one.
        NonNull::new(old).map(|p| Retired(p))
    }

    /// Publishes `obj`; returns the one it replaces, which readers may
    /// still see until `synchronize_net`.
    pub(crate) fn replace(&self, _rtnl: &Rtnl, obj: Option<Arc<T>>) -> Option<Retired<T>> {
        let new = obj.map_or(ptr::null_mut(), |a| Arc::into_raw(a).cast_mut());
        let old = self.0.swap(new, Ordering::AcqRel);
        // INVARIANT: The old pointer owns a reference (our invariant).
        NonNull::new(old).map(|p| Retired(p))
    }
}

impl<T> Drop for ArcSlot<T> {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if !p.is_null() {
            // SAFETY: The slot owns this reference (type invariant), and
            // being dropped, no reader can reach it.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

/// An `Arc<T>` taken out of an [`ArcSlot`] that RCU readers may still use.
///
/// # Invariants
///
/// Owns one reference, from `Arc::into_raw`.
pub(crate) struct Retired<T>(NonNull<T>);

impl<T> core::ops::Deref for Retired<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: We own a reference (type invariant), so the object lives;
        // readers that still see it only share it.
        unsafe { self.0.as_ref() }
    }
}

/// Objects unpublished together, whose RCU readers one grace period waits
/// out (tun.c's single `synchronize_net` in `tun_detach_all`, where waiting
/// per queue would hold RTNL for hundreds of grace periods).
///
/// Only [`Unpublished::batch`] makes one, and it waits after the closure
/// that fills it returns, so nothing put into a batch is released, and no
/// slot cleared with it is trusted empty, before its readers are gone.
pub(crate) struct Unpublished<T> {
    arcs: KVec<Arc<T>>,
    devs: KVec<ARef<NetDevice>>,
}

impl<T> Unpublished<T> {
    /// Runs `f`, which unpublishes objects into the batch, then waits for
    /// one grace period (`synchronize_net`); returns `f`'s result and the
    /// objects, now out of every reader's reach.
    pub(crate) fn batch<R>(f: impl FnOnce(&mut Self) -> R) -> (R, KVec<Arc<T>>) {
        let mut batch = Self {
            arcs: KVec::new(),
            devs: KVec::new(),
        };
        let r = f(&mut batch);
        // SAFETY: Sleeping is allowed: unpublishing runs under RTNL, a
        // mutex, in process context.
        unsafe { bindings::synchronize_net() };
        (r, batch.arcs)
    }

    /// Adds `r` to the batch. Without memory for it, waits for its readers
    /// now instead.
    pub(crate) fn push(&mut self, r: Retired<T>) {
        if self.arcs.reserve(1, GFP_KERNEL).is_err() {
            drop(r.wait());
            return;
        }
        let p = r.0.as_ptr();
        core::mem::forget(r);
        // SAFETY: `r` owned this reference (its type invariant); it moves
        // into the batch, released only after the batch's grace period.
        let arc = unsafe { Arc::from_raw(p) };
        // Room was reserved above, so this cannot fail (and drop `arc`).
        let _ = self.arcs.push(arc, GFP_KERNEL);
    }

    /// Adds a device reference that RCU readers may still rely on (a
    /// cleared [`DevSlot`]'s); released after the batch's grace period, or
    /// now after one of its own without memory for it.
    fn push_dev(&mut self, dev: ARef<NetDevice>) {
        if self.devs.reserve(1, GFP_KERNEL).is_err() {
            // SAFETY: Sleeping is allowed: as in `batch`.
            unsafe { bindings::synchronize_net() };
            drop(dev);
            return;
        }
        // Room was reserved above, so this cannot fail (and drop `dev`).
        let _ = self.devs.push(dev, GFP_KERNEL);
    }
}

impl<T> Retired<T> {
    /// Another reference to the object, e.g. to publish it elsewhere; ours
    /// is still released only after readers are gone.
    pub(crate) fn arc(&self) -> Arc<T> {
        // SAFETY: We own a reference (type invariant); it is borrowed here
        // without being released (`ManuallyDrop`) and cloned.
        let owned = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(self.0.as_ptr()) });
        Arc::clone(&owned)
    }

    /// Waits for readers (`synchronize_net`), then hands the `Arc` back.
    pub(crate) fn wait(self) -> Arc<T> {
        // SAFETY: Sleeping is allowed: callers hold only RTNL.
        unsafe { bindings::synchronize_net() };
        let p = self.0.as_ptr();
        core::mem::forget(self);
        // SAFETY: We own the reference (type invariant).
        unsafe { Arc::from_raw(p) }
    }
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        // SAFETY: Readers may still use the object: wait, then release our
        // reference (type invariant).
        unsafe {
            bindings::synchronize_net();
            drop(Arc::from_raw(self.0.as_ptr()));
        }
    }
}
