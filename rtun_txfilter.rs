// SPDX-License-Identifier: GPL-2.0

//! The TAP transmit filter (`TUNSETTXFILTER`): up to eight exact
//! destination addresses, then a hash of multicast addresses.
//!
//! Updated under RTNL, read without locks on transmit, as tun.c's
//! `tap_filter`: the filter is disabled while it changes, so a racing
//! transmit at worst accepts a few packets it would have dropped.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;

use crate::kapi::{
    ether::{ether_crc, ETH_ALEN},
    net::Rtnl,
    user,
};

/// `FLT_EXACT_COUNT`.
const EXACT: usize = 8;
/// `TUN_FLT_ALLMULTI`.
const ALLMULTI: u16 = 0x0001;

/// tun.c's `struct tap_filter`.
pub(crate) struct TxFilter {
    /// Exact addresses in use; 0 disables the filter.
    count: AtomicU32,
    /// The multicast hash: 64 bits indexed by the top 6 bits of the
    /// address's Ethernet CRC.
    mask: AtomicU64,
    /// The exact addresses, each in the low 48 bits.
    addrs: [AtomicU64; EXACT],
}

type Addr = [u8; ETH_ALEN];

fn pack(a: &Addr) -> u64 {
    a.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fn is_multicast(a: &Addr) -> bool {
    a[0] & 1 != 0
}

/// The bit of the multicast hash: the top 6 bits of the address's CRC.
fn hash_bit(a: &Addr) -> u32 {
    ether_crc(a) >> 26
}

/// The addresses of a `struct tun_filter`, `ETH_ALEN` bytes each.
fn addrs(bytes: &[u8]) -> impl Iterator<Item = &Addr> {
    bytes
        .chunks_exact(ETH_ALEN)
        .filter_map(|c| <&Addr>::try_from(c).ok())
}

impl TxFilter {
    pub(crate) const fn new() -> Self {
        Self {
            count: AtomicU32::new(0),
            mask: AtomicU64::new(0),
            addrs: [const { AtomicU64::new(0) }; EXACT],
        }
    }

    /// `update_filter`: reads `struct tun_filter` and its addresses from
    /// `arg`; returns how many exact addresses are in use. A unicast address
    /// past the eighth leaves the filter disabled and returns 0.
    pub(crate) fn update(&self, _rtnl: &Rtnl, arg: usize) -> Result<isize> {
        let hdr: [u8; 4] = user::read(arg)?;
        let flags = u16::from_ne_bytes([hdr[0], hdr[1]]);
        let count = usize::from(u16::from_ne_bytes([hdr[2], hdr[3]]));
        if count == 0 {
            self.count.store(0, Ordering::Release);
            return Ok(0);
        }
        // `arg` is user space's: an address whose header was readable
        // cannot wrap, but the sum is checked, not trusted.
        let at = arg.checked_add(hdr.len()).ok_or(EFAULT)?;
        let bytes = user::read_vec(at, ETH_ALEN * count)?;
        self.count.store(0, Ordering::Release);
        let mut n = 0;
        for a in addrs(&bytes).take(EXACT) {
            self.addrs[n].store(pack(a), Ordering::Relaxed);
            n += 1;
        }
        let mut mask = 0u64;
        for a in addrs(&bytes).skip(EXACT) {
            if !is_multicast(a) {
                // tun.c leaves the filter off and reports no filter.
                self.mask.store(mask, Ordering::Relaxed);
                return Ok(0);
            }
            mask |= 1 << hash_bit(a);
        }
        if flags & ALLMULTI != 0 {
            mask = !0;
        }
        self.mask.store(mask, Ordering::Relaxed);
        // CAST: At most EXACT (8).
        self.count.store(n as u32, Ordering::Release);
        // CAST: As above.
        Ok(n as isize)
    }

    /// `check_filter`: whether a frame to `dest` may be queued.
    pub(crate) fn accepts(&self, dest: impl FnOnce() -> Option<Addr>) -> bool {
        let n = self.count.load(Ordering::Acquire) as usize;
        if n == 0 {
            return true;
        }
        let Some(dest) = dest() else {
            return false;
        };
        let d = pack(&dest);
        if self.addrs[..n.min(EXACT)]
            .iter()
            .any(|a| a.load(Ordering::Relaxed) == d)
        {
            return true;
        }
        is_multicast(&dest) && self.mask.load(Ordering::Relaxed) & (1 << hash_bit(&dest)) != 0
    }
}
