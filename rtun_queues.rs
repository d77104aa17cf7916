// SPDX-License-Identifier: GPL-2.0

//! A device's queues: the list of attached files that transmit reads
//! under RCU ([`QueueList`], tun.c's `tfiles[]` and `numqueues`), the list
//! of queues detached with `TUNSETQUEUE` (tun.c's `disabled`), and moving
//! files between them: `tun_attach`, `__tun_detach`, `tun_detach_all`.
//!
//! Lock order: as `rtun_netdev.rs`; every change holds RTNL, and waits for
//! transmit's RCU readers before a file leaves for good.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{prelude::*, sync::Arc};

use super::TunStruct;
use crate::{
    kapi::{
        net::Rtnl,
        netdev::NetDevice,
        rcu::{self, ArcSlot, Retired, Unpublished},
    },
    rtun_chr::TunFile,
    rtun_ring::TxRing,
    rtun_uapi::*,
};

/// A list of queues: files in slots `0..len`, each knowing its slot.
///
/// # Invariants
///
/// `slots[..len]` hold files whose `queue_index` is their slot; later slots
/// are empty. Both change only under RTNL.
pub(super) struct QueueList {
    slots: KVec<ArcSlot<TunFile>>,
    len: AtomicU32,
}

impl QueueList {
    pub(super) fn new(capacity: u32) -> Result<Self> {
        let mut slots = KVec::with_capacity(capacity as usize, GFP_KERNEL)?;
        for _ in 0..capacity {
            slots.push(ArcSlot::new(), GFP_KERNEL)?;
        }
        Ok(Self {
            slots,
            len: AtomicU32::new(0),
        })
    }

    fn len(&self) -> u32 {
        self.len.load(Ordering::Relaxed)
    }

    /// Appends `tfile`; `E2BIG` when full.
    fn push(&self, rtnl: &Rtnl, tfile: Arc<TunFile>) -> Result {
        let n = self.len();
        let slot = self.slots.get(n as usize).ok_or(E2BIG)?;
        tfile.set_queue_index(rtnl, n);
        // The slot is empty (type invariant), so nothing is retired.
        drop(slot.replace(rtnl, Some(tfile)));
        // Below the slots' count, a `u32`: cannot saturate.
        self.len.store(n.saturating_add(1), Ordering::Relaxed);
        Ok(())
    }

    /// Removes the file in slot `index`, moving the last one into the hole
    /// (`__tun_detach`); returns it once no RCU reader can see it there.
    fn remove(&self, rtnl: &Rtnl, index: u32) -> Option<Arc<TunFile>> {
        self.take(rtnl, index).map(Retired::wait)
    }

    /// As `remove`, but returns the file while readers may still see it.
    fn take(&self, rtnl: &Rtnl, index: u32) -> Option<Retired<TunFile>> {
        let n = self.len();
        if index >= n {
            return None;
        }
        let last = n - 1;
        // Both within `len`, so within the slots (type invariant); looked up,
        // not indexed, as no ioctl may have a panic path.
        let (Some(at), Some(end)) = (
            self.slots.get(index as usize),
            self.slots.get(last as usize),
        ) else {
            return None;
        };
        let retired = if index == last {
            at.replace(rtnl, None)
        } else {
            if let Some(moved) = end.get_rtnl(rtnl) {
                moved.set_queue_index(rtnl, index);
            }
            at.move_from(rtnl, end)
        };
        self.len.store(last, Ordering::Relaxed);
        retired
    }

    /// The file in slot `index`, during an RCU read section.
    fn get<'a>(&'a self, index: u32, guard: &'a rcu::Guard) -> Option<&'a TunFile> {
        self.slots.get(index as usize)?.get(guard)
    }

    /// Calls `f` on every file.
    pub(super) fn for_each(&self, rtnl: &Rtnl, mut f: impl FnMut(&TunFile)) {
        self.for_each_arc(rtnl, |q| f(&q));
    }

    /// Calls `f` with a reference to every file.
    fn for_each_arc(&self, rtnl: &Rtnl, mut f: impl FnMut(Arc<TunFile>)) {
        let live = self.slots.get(..self.len() as usize).unwrap_or_default();
        for slot in live {
            if let Some(q) = slot.get_rtnl(rtnl) {
                f(q);
            }
        }
    }
}

impl TunStruct {
    pub(crate) fn numqueues(&self) -> u32 {
        self.queues.len()
    }

    pub(crate) fn numdisabled(&self) -> u32 {
        self.disabled.len()
    }

    /// Attaches `tfile` as the next queue, or re-enables it if it was
    /// detached with `TUNSETQUEUE` (`tun_attach`).
    ///
    /// A queue attaching to a device with a socket filter gets it too,
    /// unless `skip_filter` (`IFF_NOFILTER` on `TUNSETIFF`). tun.c 6.12
    /// returns 0 right after re-attaching the filter, before attaching the
    /// queue at all ("Re-attach the filter to persist device" ... `goto
    /// out`), so a reopened persistent or additional queue of a filtered
    /// TAP device is left unattached; rtun does what the comment says:
    /// re-attaches the filter, then the queue. A filter that fails to
    /// re-attach is handled as tun.c does (below).
    ///
    /// `napi` is the attaching request's `IFF_NAPI` and `IFF_NAPI_FRAGS`:
    /// a new queue gets a NAPI context with `IFF_NAPI`, fed by frags writes
    /// with both (tun.c's `tun_napi_init`); a re-enabled one keeps what it
    /// first attached with, its context enabled again.
    pub(crate) fn attach(
        &self,
        rtnl: &Rtnl,
        dev: &NetDevice,
        tfile: Arc<TunFile>,
        skip_filter: bool,
        napi: u32,
    ) -> Result {
        self.security.may_attach(rtnl, tfile.socket())?;
        let detached = tfile.is_detached(rtnl);
        let n = self.numqueues();
        if self.flags() & IFF_MULTI_QUEUE == 0 && n == 1 {
            return Err(EBUSY);
        }
        // Both at most MAX_TAP_QUEUES: saturating, so that no ioctl has a
        // panic path.
        if !detached && n.saturating_add(self.numdisabled()) == MAX_TAP_QUEUES {
            return Err(E2BIG);
        }
        // A filter that cannot be attached (the program is a user pointer,
        // read again for each queue) leaves the queue unfiltered: tun.c's
        // `err` from `sk_attach_filter` is overwritten on the way for a new
        // queue, and returned for a re-enabled one, which is attached all
        // the same. rtun does the same.
        let config = self.config.get(rtnl);
        let filter_err = if !skip_filter && config.filter_attached {
            tfile.socket().attach_filter(&config.fprog).err()
        } else {
            None
        };
        if detached {
            self.disabled.remove(rtnl, tfile.queue_index(rtnl));
            tfile.set_detached(rtnl, false);
            tfile.socket().napi().enable(rtnl);
        } else {
            TxRing::resize_all(&[tfile.tx_ring()], dev.tx_queue_len()).map_err(|_| ENOMEM)?;
        }
        // vhost leaves XDP headroom in the buffers it builds (`tun_attach`).
        if self.has_xdp(rtnl) {
            tfile.socket().set_xdp(true);
        }
        // A file whose device went away was shut down; attaching again
        // opens it (tun.c clears `RCV_SHUTDOWN`).
        tfile.reopen(rtnl);
        tfile.consume_ifindex(rtnl);
        self.queues.push(rtnl, tfile.clone())?;
        // Last, so that no failure leaves a context registered.
        if !detached {
            let napi_on = napi & IFF_NAPI != 0;
            tfile.set_napi_frags(rtnl, napi_on && napi & IFF_NAPI_FRAGS != 0);
            if napi_on {
                tfile.socket().napi().add(rtnl, dev);
            }
        }
        // Only fails for 0 queues or more than allocated, excluded above.
        let _ = dev.set_real_num_queues(rtnl, n.saturating_add(1));
        self.restart_queue(dev, n);
        match filter_err {
            Some(e) if detached => Err(e),
            _ => Ok(()),
        }
    }

    /// TX queue `txq` now belongs to another ring: a stop that lossless
    /// mode left on it for the old ring must not hold back the new one.
    /// (Transmit stops it again if the new ring is full too.) A device that
    /// is down keeps its queues stopped.
    fn restart_queue(&self, dev: &NetDevice, txq: u32) {
        if dev.is_running() {
            dev.wake_queue(txq);
        }
    }

    /// Takes `tfile` off the device (`__tun_detach`): for good when
    /// `clean` (the file is closing), else onto the disabled list
    /// (`TUNSETQUEUE` with `IFF_DETACH_QUEUE`). Returns with no RCU reader
    /// left that could reach it through the queue array.
    pub(crate) fn detach(&self, rtnl: &Rtnl, dev: &NetDevice, tfile: &TunFile) {
        Unpublished::batch(|b| self.detach_in(rtnl, dev, tfile, false, b));
        tfile.tx_ring().purge();
        tfile.socket().napi().purge(rtnl);
        tfile.socket().purge_rx_batch();
    }

    /// `detach`'s part before the grace period, which `batch` ends: the
    /// caller purges the ring after it, once no transmit can still fill it.
    pub(crate) fn detach_in(
        &self,
        rtnl: &Rtnl,
        dev: &NetDevice,
        tfile: &TunFile,
        clean: bool,
        batch: &mut Unpublished<TunFile>,
    ) {
        if clean {
            // A closing queue's NAPI context goes first, its packets with
            // it (`tun_napi_disable`, `tun_napi_del`).
            tfile.socket().napi().del(rtnl);
        }
        if !tfile.is_detached(rtnl) {
            let index = tfile.queue_index(rtnl);
            let Some(retired) = self.queues.take(rtnl, index) else {
                return;
            };
            let n = self.numqueues();
            // The queue that was last moved into the hole.
            self.flows.forget_from(n);
            // Fails for 0 queues, leaving the count as it was, as in tun.c.
            let _ = dev.set_real_num_queues(rtnl, n);
            if index < n {
                // The last queue's file moved into TX queue `index`.
                self.restart_queue(dev, index);
            }
            if !clean {
                tfile.set_detached(rtnl, true);
                tfile.socket().napi().disable(rtnl);
                // Room for every queue was allocated, so this cannot fail.
                let _ = self.disabled.push(rtnl, retired.arc());
            }
            batch.push(retired);
        } else if clean {
            if let Some(retired) = self.disabled.take(rtnl, tfile.queue_index(rtnl)) {
                batch.push(retired);
            }
        }
    }

    /// Detaches every queue, enabled or not: the device is going away
    /// (`tun_detach_all`). One grace period covers them all.
    pub(crate) fn detach_all(&self, rtnl: &Rtnl) {
        let ((), files) = Unpublished::batch(|b| {
            for list in [&self.queues, &self.disabled] {
                while let Some(tfile) = list.take(rtnl, 0) {
                    tfile.set_detached(rtnl, false);
                    tfile.socket().napi().disable(rtnl);
                    tfile.unpublish_device(rtnl, b);
                    b.push(tfile);
                }
            }
        });
        for tfile in &files {
            tfile.socket().napi().del(rtnl);
            tfile.shut_down();
            tfile.socket().purge_rx_batch();
        }
    }

    /// Calls `f` on every attached queue.
    pub(crate) fn for_each_queue(&self, rtnl: &Rtnl, f: impl FnMut(&TunFile)) {
        self.queues.for_each(rtnl, f);
    }

    /// The file of queue `txq`, during an RCU read section.
    pub(super) fn queue<'a>(&'a self, txq: u32, guard: &'a rcu::Guard) -> Option<&'a TunFile> {
        self.queues.get(txq, guard)
    }

    /// `tun_queue_resize`: every queue's ring, attached or disabled, to
    /// `len` slots, all or none (a failure vetoes the new `tx_queue_len`).
    pub(crate) fn resize_rings(&self, rtnl: &Rtnl, len: u32) -> Result {
        // Keeps the queues alive while their rings are borrowed.
        let mut files = KVec::new();
        let mut ret = Ok(());
        for list in [&self.queues, &self.disabled] {
            list.for_each_arc(rtnl, |q| {
                if ret.is_ok() {
                    ret = files.push(q, GFP_KERNEL).map_err(|_| ENOMEM);
                }
            });
        }
        ret?;
        let mut rings = KVec::with_capacity(files.len(), GFP_KERNEL)?;
        for q in &files {
            rings.push(q.tx_ring(), GFP_KERNEL)?;
        }
        TxRing::resize_all(&rings, len)
    }
}
