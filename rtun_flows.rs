// SPDX-License-Identifier: GPL-2.0

//! Automatic queue steering (tun.c's flow table, `tun_automq_*`): a flow
//! written into the device on queue N is sent back out on queue N, so that
//! request and response stay with the same reader.
//!
//! tun.c chains up to 4096 entries in 1024 RCU hash buckets and ages them
//! out with a timer. rtun keeps one entry per bucket, written and read with
//! single atomic operations (no lock, no RCU), and ages lazily: an entry
//! idle for longer than tun.c's 3 s expiry is ignored. A colliding flow
//! replaces the older one; the intent, steering replies to the queue of the
//! last writer of the flow, is the same.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;

use crate::kapi::{
    time::{jiffies32, HZ},
    zeroed::zeroed_array,
};

/// `TUN_NUM_FLOW_ENTRIES`.
const ENTRIES: usize = 1024;
/// `TUN_FLOW_EXPIRE`: 3 seconds.
const EXPIRE: u32 = (3 * HZ) as u32;

/// A bucket's `flow`: the flow hash in the high half, the queue in bits
/// 0..16, bit 16 set when valid.
const VALID: u64 = 1 << 16;

/// The flow table of one device: bucket `i` is `flow[i]`, last written at
/// `updated[i]` (jiffies). Both start zeroed (no valid flow), allocated so
/// rather than filled in: a device is created for every `TUNSETIFF`.
pub(crate) struct Flows {
    flow: KVBox<[AtomicU64; ENTRIES]>,
    updated: KVBox<[AtomicU32; ENTRIES]>,
    /// Whether any flow was ever recorded: a device with one queue records
    /// none, and its detach need not look through the table.
    used: AtomicBool,
}

/// One bucket of [`Flows`].
struct Entry<'a> {
    flow: &'a AtomicU64,
    updated: &'a AtomicU32,
}

impl Flows {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            flow: zeroed_array(GFP_KERNEL)?,
            updated: zeroed_array(GFP_KERNEL)?,
            used: AtomicBool::new(false),
        })
    }

    fn bucket(&self, hash: u32) -> Entry<'_> {
        // In bounds: masked below the arrays' length.
        let i = hash as usize & (ENTRIES - 1);
        Entry {
            flow: &self.flow[i],
            updated: &self.updated[i],
        }
    }

    /// `tun_flow_update`: flow `hash` was written on queue `queue`.
    pub(crate) fn update(&self, hash: u32, queue: u32) {
        let e = self.bucket(hash);
        let v = (u64::from(hash) << 32) | VALID | u64::from(queue & 0xffff);
        if e.flow.load(Ordering::Relaxed) != v {
            // Set first: a `forget_from` that misses it misses the flow
            // too, as one that had passed its bucket already would.
            if !self.used.load(Ordering::Relaxed) {
                self.used.store(true, Ordering::Relaxed);
            }
            e.flow.store(v, Ordering::Relaxed);
        }
        let now = jiffies32();
        if e.updated.load(Ordering::Relaxed) != now {
            e.updated.store(now, Ordering::Relaxed);
        }
    }

    /// The queue flow `hash` was last written on, if recently.
    pub(crate) fn find(&self, hash: u32) -> Option<u32> {
        let e = self.bucket(hash);
        let v = e.flow.load(Ordering::Relaxed);
        if v & VALID == 0 || (v >> 32) as u32 != hash {
            return None;
        }
        if jiffies32().wrapping_sub(e.updated.load(Ordering::Relaxed)) > EXPIRE {
            return None;
        }
        // CAST: The low 16 bits hold the queue.
        Some((v & 0xffff) as u32)
    }

    /// `tun_flow_delete_by_queue`: forget flows steered to queues at or
    /// beyond `first` (they left, or moved to another slot).
    pub(crate) fn forget_from(&self, first: u32) {
        if !self.used.load(Ordering::Relaxed) {
            return;
        }
        for flow in self.flow.iter() {
            let v = flow.load(Ordering::Relaxed);
            // CAST: The low 16 bits hold the queue.
            if v & VALID != 0 && (v & 0xffff) as u32 >= first {
                flow.store(0, Ordering::Relaxed);
            }
        }
    }
}
