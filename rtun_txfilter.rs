// SPDX-License-Identifier: GPL-2.0

//! The TAP transmit filter (`TUNSETTXFILTER`): up to eight exact
//! destination addresses, then a hash of multicast addresses.
//!
//! Updated under RTNL, read without locks on transmit, as tun.c's
//! `tap_filter`: the filter is disabled while it changes, so a racing
//! transmit at worst accepts a few packets it would have dropped.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel::{bindings, prelude::*};

use crate::kapi::{net::Rtnl, user};

/// `FLT_EXACT_COUNT`.
const EXACT: usize = 8;
/// `TUN_FLT_ALLMULTI`.
const ALLMULTI: u16 = 0x0001;
/// `ETH_ALEN`.
// CAST: 6 fits any integer type.
const ALEN: usize = bindings::ETH_ALEN as usize;

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

fn pack(a: &[u8]) -> u64 {
    a.iter()
        .take(ALEN)
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fn is_multicast(a: &[u8]) -> bool {
    a.first().is_some_and(|b| b & 1 != 0)
}

/// `ether_crc(ETH_ALEN, addr) >> 26`: the bit of the multicast hash.
fn hash_bit(a: &[u8]) -> u32 {
    // crc32_le(~0, addr, 6), bit-reversed, as `ether_crc` computes it.
    let mut crc: u32 = !0;
    for &b in a.iter().take(ALEN) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc.reverse_bits() >> 26
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
        let addrs = user::read_vec(arg + hdr.len(), ALEN * count)?;
        self.count.store(0, Ordering::Release);
        let mut n = 0;
        for a in addrs.chunks(ALEN).take(EXACT) {
            self.addrs[n].store(pack(a), Ordering::Relaxed);
            n += 1;
        }
        let mut mask = 0u64;
        for a in addrs.chunks(ALEN).skip(EXACT) {
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
    pub(crate) fn accepts(&self, dest: Option<[u8; 6]>) -> bool {
        let n = self.count.load(Ordering::Acquire) as usize;
        if n == 0 {
            return true;
        }
        let Some(dest) = dest else {
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
