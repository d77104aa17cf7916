// SPDX-License-Identifier: GPL-2.0

//! The NAPI context of a tun queue (tun.c's `tfile->napi`, `IFF_NAPI`):
//! packets written to the queue wait on its socket's write queue until the
//! poll function, in softirq context or in the device's NAPI threads
//! (`/sys/class/net/*/threaded`), hands them to GRO, `NAPI_POLL_WEIGHT` a
//! round.
//!
//! The `napi_struct` lives in the socket's allocation beside the write
//! queue, as in tun.c's `struct tun_file`, so the poll function finds the
//! queue from its own address. [`Napi`] keeps the C helpers' preconditions
//! that tun.c keeps by the order of its calls: `napi_enable` BUGs on an
//! enabled context and `napi_disable` never returns on a disabled one, so
//! both follow [`Napi::is_enabled`]; a context that was never added has no
//! poll function, so nothing schedules one before [`Napi::add`]; and a
//! registered context holds a reference on its device, whose packets it
//! queues, until [`Napi::del`] has dropped every one of them.
//!
//! With `IFF_NAPI_FRAGS` a write instead builds the context's own skb
//! (`napi_get_frags`) from the writer's segments and hands it to
//! `napi_gro_frags` at once, under the context's frags lock ([`FragsLock`],
//! tun.c's `napi_mutex`), which `del` takes too: tun.c's `tun_detach_all`
//! frees `napi->skb` without it, under a writer still building it.
//!
//! Lock order: RTNL, then the frags lock, then the write queue's spinlock
//! and the NAPI core's inside the C calls.
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::{
    ffi::c_int,
    mem::MaybeUninit,
    ptr::{addr_of_mut, null_mut},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering},
};

use kernel::{bindings, prelude::*, types::Opaque};

use super::{
    super::{
        iov::IovIter,
        net::Rtnl,
        netdev::NetDevice,
        rcu,
        skbuff::{BhDisabled, BhOff, LockedQueue, RxSkb, SkBuff, NET_SKB_PAD},
        wait::StaticKey,
    },
    SockAlloc,
};

/// `NAPI_POLL_WEIGHT`: the most packets one poll round hands to GRO.
pub(crate) const NAPI_POLL_WEIGHT: u32 = bindings::NAPI_POLL_WEIGHT;

/// The NAPI context in a queue socket's allocation; all-zero (as `sk_alloc`
/// leaves it) is a context never added.
///
/// # Invariants
///
/// `dev` is null, or the device `napi` is registered with
/// (`netif_napi_add_weight`, poll function [`poll`]), of which we own a
/// reference; it changes only under RTNL. `enabled` is false while `dev` is
/// null, and otherwise tells whether `napi_enable` followed the last
/// `napi_disable` (or the registration). The write queue holds skbs only
/// while `dev` is non-null or until the [`Napi::del`] that nulled it
/// returns, and every one of them has `skb->dev == dev`. This `Napi` lives
/// in a [`SockAlloc`] whose sock is alive while `dev` is non-null.
#[repr(C)]
pub(crate) struct Napi {
    /// First, so that the poll function's pointer is the `Napi`'s.
    napi: Opaque<bindings::napi_struct>,
    dev: AtomicPtr<bindings::net_device>,
    enabled: AtomicBool,
    /// tun.c's `napi_mutex`, initialised by [`Napi::init`].
    frags: Opaque<bindings::mutex>,
}

/// One lockdep class for every queue's frags lock.
static KEY: StaticKey = StaticKey::new();

impl Napi {
    /// Initialises the frags lock of a zeroed context.
    ///
    /// # Safety
    ///
    /// `this` must be valid for writes, zeroed, not shared yet, and never
    /// move afterwards.
    pub(super) unsafe fn init(this: *mut Self) {
        // SAFETY: From the caller; the name and key are static.
        unsafe {
            bindings::__mutex_init(
                Opaque::raw_get(addr_of_mut!((*this).frags)),
                kernel::c_str!("tun_napi_mutex").as_char_ptr(),
                KEY.as_ptr(),
            )
        };
    }

    fn raw(&self) -> *mut bindings::napi_struct {
        self.napi.get()
    }

    /// The socket whose write queue feeds this context.
    fn sk(&self) -> *mut bindings::sock {
        sk_of(self.raw())
    }

    /// Whether the context is registered with a device (tun.c's
    /// `tfile->napi_enabled` for a queue bound to a device).
    pub(crate) fn is_added(&self) -> bool {
        !self.dev.load(Ordering::Acquire).is_null()
    }

    /// Registered and enabled: scheduling it polls.
    fn is_enabled(&self, _rtnl: &Rtnl) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Registers the context with `dev` and enables it (`tun_napi_init`:
    /// `netif_napi_add_tx`, which leaves it out of busy polling, then
    /// `napi_enable`). A context registered already stays as it is.
    pub(crate) fn add(&self, _rtnl: &Rtnl, dev: &NetDevice) {
        if self.is_added() {
            return;
        }
        let napi = self.raw();
        // SAFETY: `state` is a word the NAPI core only changes with atomic
        // bit operations, as here; the context is not registered, so no one
        // else does now.
        let state = unsafe { AtomicUsize::from_ptr(addr_of_mut!((*napi).state).cast()) };
        state.fetch_or(1 << bindings::NAPI_STATE_NO_BUSY_POLL, Ordering::Relaxed);
        // SAFETY: A valid, unregistered context (`dev` is null: type
        // invariant) that lives until `del` unregisters it; `dev` is a
        // valid device and RTNL serialises its NAPI list. A fresh
        // registration leaves the context disabled, as `napi_enable` needs.
        unsafe {
            bindings::netif_napi_add_weight(
                dev.as_raw(),
                napi,
                Some(poll),
                // CAST: 64.
                NAPI_POLL_WEIGHT as c_int,
            );
            bindings::napi_enable(napi);
        }
        // SAFETY: Our reference, dropped by `del`.
        unsafe { crate::kapi::netdev::dev_hold(dev.as_raw()) };
        self.enabled.store(true, Ordering::Relaxed);
        // INVARIANT: Registered, referenced and enabled.
        self.dev.store(dev.as_raw(), Ordering::Release);
    }

    /// Enables a registered, disabled context (`tun_napi_enable`, for a
    /// queue attached again after `TUNSETQUEUE` detached it).
    pub(crate) fn enable(&self, rtnl: &Rtnl) {
        if !self.is_added() || self.is_enabled(rtnl) {
            return;
        }
        // SAFETY: Registered and disabled (type invariant), as
        // `napi_enable` requires.
        unsafe { bindings::napi_enable(self.raw()) };
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Disables an enabled context, waiting for a running poll to finish
    /// (`tun_napi_disable`); packets stay queued until [`Napi::purge`] or
    /// [`Napi::del`].
    pub(crate) fn disable(&self, rtnl: &Rtnl) {
        if !self.is_enabled(rtnl) {
            return;
        }
        self.enabled.store(false, Ordering::Relaxed);
        // SAFETY: Registered and enabled (type invariant), as
        // `napi_disable` requires; process context (RTNL is held).
        unsafe { bindings::napi_disable(self.raw()) };
    }

    /// Unregisters the context, disabling it first (`tun_napi_del`), and
    /// drops what still waits in its queue once no writer can add to it.
    pub(crate) fn del(&self, rtnl: &Rtnl) {
        self.disable(rtnl);
        let dev = self.dev.swap(null_mut(), Ordering::Relaxed);
        if dev.is_null() {
            return;
        }
        // `synchronize_net` waits out every writer that saw `dev` before it
        // was nulled ([`Napi::queue`] checks it in an RCU read section), so
        // the purge leaves the queue empty for good.
        // SAFETY: Registered with `dev` and disabled, so no poll runs or
        // will; then the reference `add` took can go.
        unsafe {
            let frags = self.lock_frags();
            bindings::__netif_napi_del(self.raw());
            drop(frags);
            bindings::synchronize_net();
            purge_queue(self.sk());
            crate::kapi::netdev::dev_put(dev);
        }
    }

    /// Drops the packets waiting in the queue (tun.c's `tun_queue_purge`
    /// after detaching a queue).
    pub(crate) fn purge(&self, _rtnl: &Rtnl) {
        // SAFETY: The write queue is initialised and ours.
        unsafe { purge_queue(self.sk()) };
    }

    /// Queues `skb` for the poll function, counts `len` bytes received on
    /// its device, and returns how many packets wait now; `EBUSY` (the
    /// packet freed) if the context is not registered with that device.
    // This and `schedule` run once a packet, each from one caller: inlined,
    // as tun.c's `tun_get_user` has both.
    #[inline(always)]
    pub(crate) fn queue(&self, skb: RxSkb<'_>, len: u32, bh: &BhOff) -> Result<u32> {
        let _guard = rcu::read_lock();
        let (skb, dev) = skb.into_parts();
        if self.dev.load(Ordering::Acquire) != dev.as_raw() {
            return Err(EBUSY);
        }
        // The context is registered with `skb->dev`, and `del` cannot empty
        // the queue for good before this RCU read section ends, so the
        // invariant holds for the new skb.
        // SAFETY: The write queue of our live sock, initialised by
        // `sock_init_data_uid`, which process context takes only with BH off
        // (as here) or irqsave.
        let mut q = unsafe { LockedQueue::lock(addr_of_mut!((*self.sk()).sk_write_queue), bh) };
        // SAFETY: A fresh written packet, on no list and ours alone.
        unsafe { q.push_tail(skb) };
        let waiting = q.len();
        drop(q);
        dev.rx_add(len, bh);
        Ok(waiting)
    }

    /// Schedules a poll round (`napi_schedule`); nothing happens for a
    /// context disabled, never registered, or scheduled already.
    #[inline(always)]
    pub(crate) fn schedule(&self, _bh: &BhOff) {
        let _guard = rcu::read_lock();
        if !self.is_added() {
            return;
        }
        let napi = self.raw();
        // SAFETY: A registered context, which `del` cannot unregister
        // before this RCU read section ends; one being disabled refuses
        // (`NAPI_STATE_DISABLE`), and a disabled one is marked scheduled
        // already. BH is off, so the softirq runs when it is turned on.
        unsafe {
            if bindings::napi_schedule_prep(napi) {
                bindings::__napi_schedule(napi);
            }
        }
    }
}

/// A queue's frags lock, held: the `IFF_NAPI_FRAGS` write path.
pub(crate) struct FragsLock<'a>(&'a Napi);

impl Drop for FragsLock<'_> {
    fn drop(&mut self) {
        // SAFETY: We hold it (`lock_frags`).
        unsafe { bindings::mutex_unlock(self.0.frags.get()) };
    }
}

/// `ETH_MAX_MTU - NET_SKB_PAD - NET_IP_ALIGN`: the most a frags write can
/// carry, as the GRO head it becomes must fit a 64 KiB skb.
// CAST: Small constants.
const FRAGS_MAX_LEN: usize =
    (bindings::ETH_MAX_MTU - NET_SKB_PAD - bindings::NET_IP_ALIGN) as usize;

/// `ETH_HLEN`.
const ETH_HLEN: u32 = bindings::ETH_HLEN;

impl Napi {
    /// Takes the frags lock (`mutex_lock(&tfile->napi_mutex)`).
    pub(crate) fn lock_frags(&self) -> FragsLock<'_> {
        // SAFETY: Initialised by `init`; process context (writers, RTNL).
        unsafe { bindings::mutex_lock(self.frags.get()) };
        FragsLock(self)
    }
}

impl FragsLock<'_> {
    /// `tun_napi_alloc_frags` and the copy: the context's skb with `len`
    /// bytes from `from`, the rest of its current segment in the head and
    /// each further segment, 1 to `PAGE_SIZE` bytes, in a page fragment of
    /// its own. `EMSGSIZE` for more than `MAX_SKB_FRAGS` further segments
    /// or `len` over [`FRAGS_MAX_LEN`], `EINVAL` for an empty or too long
    /// segment, `ENOMEM`, `EFAULT`; `EBUSY` if the context is not
    /// registered (its device is going away).
    pub(crate) fn alloc_from_iter(&self, len: usize, from: &mut IovIter) -> Result<SkBuff> {
        // CAST: 17.
        if from.nr_segs() > bindings::MAX_SKB_FRAGS as usize + 1 || len > FRAGS_MAX_LEN {
            return Err(super::super::error::emsgsize());
        }
        let napi = self.0;
        if !napi.is_added() {
            return Err(EBUSY);
        }
        let raw = napi.raw();
        let skb = {
            let _bh = BhDisabled::new();
            // SAFETY: A registered context (its device held), BH off; the
            // frags lock makes `napi->skb` ours.
            unsafe { bindings::napi_get_frags(raw) }
        };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `napi_get_frags` left its skb in `napi->skb`, which we
        // take over (the lock is held), so it is freed if we fail.
        let skb = unsafe {
            (*raw).skb = core::ptr::null_mut();
            SkBuff::from_raw(skb)
        };
        let linear = from.single_seg_count();
        let linear32 = u32::try_from(linear).map_err(|_| ENOMEM)?;
        let s = skb.as_raw();
        // SAFETY: Our skb; an empty one (`napi_get_frags` hands out a fresh
        // or reset skb; checked) grows its head to `linear` bytes
        // (`__skb_grow`), `skb_put` only within the tailroom just checked.
        unsafe {
            if (*s).len != 0 {
                return Err(ENOMEM);
            }
            // Wrapping, so that a write has no panic path: the tailroom is
            // not negative and `linear` at most FRAGS_MAX_LEN (checked).
            let room = bindings::skb_tailroom(s);
            if room < linear32 as i32
                && bindings::pskb_expand_head(
                    s,
                    0,
                    (linear32 as i32).wrapping_sub(room),
                    bindings::GFP_ATOMIC,
                ) != 0
            {
                return Err(ENOMEM);
            }
            if bindings::skb_tailroom(s) < linear32 as i32 {
                return Err(ENOMEM);
            }
            bindings::skb_put(s, linear32);
        }
        let mut total = linear;
        for i in 1..from.nr_segs() {
            let size = from.segment_len(i).ok_or(EINVAL)?;
            if size == 0 || size > bindings::PAGE_SIZE {
                return Err(EINVAL);
            }
            // SAFETY: Atomic context is fine for an order-0 page.
            let page = unsafe { bindings::alloc_pages(bindings::GFP_ATOMIC, 0) };
            if page.is_null() {
                return Err(ENOMEM);
            }
            // Fragment `i - 1` is the next free one (at most MAX_SKB_FRAGS,
            // checked); `size` is at most a page.
            // CAST: A page pointer is a page `netmem_ref`; `size` fits.
            // SAFETY: The page reference passes to the skb, which counts
            // `size` bytes of it.
            unsafe {
                bindings::skb_add_rx_frag_netmem(
                    s,
                    (i - 1) as i32,
                    page as bindings::netmem_ref,
                    0,
                    size as i32,
                    size as u32,
                )
            };
            // Saturating: a sum past `len` fails the check below anyway.
            total = total.saturating_add(size);
        }
        // tun.c sizes the skb as `len` and its fragments as the segments;
        // for a write's iterator the two agree.
        if total != len {
            return Err(EINVAL);
        }
        // CAST: At most FRAGS_MAX_LEN.
        // SAFETY: `len` bytes counted in head and fragments; a valid
        // iterator.
        let ret = unsafe { bindings::skb_copy_datagram_from_iter(s, 0, from.as_raw(), len as i32) };
        if ret != 0 {
            return Err(EFAULT);
        }
        Ok(skb)
    }

    /// The end of `tun_get_user`'s frags path: `skb`, its MAC header
    /// pulled (`eth_type_trans`), back into the context and through GRO
    /// (`napi_gro_frags`), counting `len` bytes. `ENOMEM`, counted as a
    /// drop, if its headers are not all in the head (tun.c also WARNs,
    /// which user space can trigger: rtun does not); `EBUSY` if the
    /// context is disabled or not the device's.
    pub(crate) fn receive(&self, skb: RxSkb<'_>, len: u32, _bh: &BhOff) -> Result {
        let (skb, dev) = skb.into_parts();
        let napi = self.0;
        if napi.dev.load(Ordering::Relaxed) != dev.as_raw() {
            return Err(EBUSY);
        }
        let s = skb.as_raw();
        // SAFETY: Our skb; the push only moves back over headroom, checked.
        let headlen = unsafe {
            if bindings::skb_headroom(s) < ETH_HLEN {
                return Err(EINVAL);
            }
            bindings::skb_push(s, ETH_HLEN);
            bindings::eth_get_headlen(dev.as_raw(), (*s).data.cast(), bindings::skb_headlen(s))
        };
        // SAFETY: As above.
        if headlen > unsafe { bindings::skb_headlen(s) } {
            dev.rx_dropped();
            return Err(ENOMEM);
        }
        let raw = napi.raw();
        // SAFETY: A registered context; scheduling it for ourselves keeps
        // its poll away while we feed it (tun.c's order).
        if !unsafe { bindings::napi_schedule_prep(raw) } {
            return Err(EBUSY);
        }
        // SAFETY: We scheduled the context, hold the frags lock and have BH
        // off: `napi->skb` is ours to set and `napi_gro_frags` consumes it
        // (its device is the context's); then we complete the round. The
        // per-CPU stats need preemption off, which BH off implies.
        unsafe {
            (*raw).skb = skb.into_raw();
            bindings::napi_gro_frags(raw);
            bindings::napi_complete_done(raw, 0);
            bindings::dev_sw_netstats_rx_add(dev.as_raw(), len);
        }
        Ok(())
    }
}

/// The sock whose allocation holds the context `napi`.
fn sk_of(napi: *mut bindings::napi_struct) -> *mut bindings::sock {
    let at = core::mem::offset_of!(SockAlloc, napi);
    // CAST: `napi` is the first field of the `Napi` at `at` in a
    // `SockAlloc`, whose first field is the sock; plain address arithmetic
    // that is dereferenced only by callers who know the context is one.
    napi.cast::<u8>().wrapping_sub(at).cast()
}

/// Drops every skb of `sk`'s write queue.
///
/// # Safety
///
/// `sk` must be a valid sock.
pub(super) unsafe fn purge_queue(sk: *mut bindings::sock) {
    // SAFETY: The caller's; the queue's own lock serialises the purge with
    // writers and the poll function.
    unsafe {
        bindings::skb_queue_purge_reason(
            addr_of_mut!((*sk).sk_write_queue),
            bindings::skb_drop_reason_SKB_DROP_REASON_QUEUE_PURGE,
        )
    };
}

/// `tun_napi_poll`: up to `budget` queued packets into GRO; done when fewer
/// were waiting.
///
/// # Safety
///
/// Called by the NAPI core for a context [`Napi::add`] registered, so it is
/// the first field of a [`Napi`] in a live [`SockAlloc`] (type invariant:
/// the registration outlives neither), and the skbs in the queue belong to
/// the context's device.
unsafe extern "C" fn poll(napi: *mut bindings::napi_struct, budget: c_int) -> c_int {
    let sk = sk_of(napi);
    // SAFETY: Poll functions run with BH off.
    let bh = unsafe { BhOff::assume() };
    // CAST: A negative budget is none.
    let budget_n = budget.max(0) as usize;
    // As `tun_napi_receive` splices the queue out under its lock once a
    // round, the round's packets are taken under the lock at once, not one
    // lock and unlock each, and handed to GRO without it. A round is at
    // most the weight, which is the budget the core gives.
    // Uninitialised, not `None`s: nothing to set up or drop per round.
    let mut round =
        [const { MaybeUninit::<*mut bindings::sk_buff>::uninit() }; NAPI_POLL_WEIGHT as usize];
    let mut taken = 0;
    {
        // SAFETY: The write queue of a live sock (see above), which process
        // context takes only with BH off.
        let mut q = unsafe { LockedQueue::lock(addr_of_mut!((*sk).sk_write_queue), &bh) };
        for slot in round.iter_mut().take(budget_n) {
            let Some(skb) = q.pop() else { break };
            slot.write(skb.into_raw());
            taken += 1;
        }
    }
    for slot in round.iter().take(taken) {
        // SAFETY: The first `taken` slots were written above, each with the
        // queue's reference, which passes to GRO; the skb's device is the
        // context's, which the registration holds; BH is off.
        unsafe { bindings::napi_gro_receive(napi, slot.assume_init_read()) };
    }
    // A full round under a larger budget may leave packets queued: it
    // reports the budget spent, so the core polls again instead of the
    // context completing with packets waiting.
    // CAST: At most `budget`.
    let received = if taken == round.len() {
        budget
    } else {
        taken as c_int
    };
    if received < budget {
        // SAFETY: The context is ours to complete: the core called us.
        unsafe { bindings::napi_complete_done(napi, received) };
    }
    received
}
