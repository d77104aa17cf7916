// SPDX-License-Identifier: GPL-2.0

//! Ethernet address helpers.
//!
//! C header: [`include/linux/crc32.h`](srctree/include/linux/crc32.h)

use kernel::bindings;

/// `ETH_ALEN`: the bytes of an Ethernet address.
pub(crate) const ETH_ALEN: usize = bindings::ETH_ALEN as usize;

/// `ether_crc(ETH_ALEN, addr)`: the CRC multicast hash filters index by
/// (`bitrev32(crc32_le(~0, addr, ETH_ALEN))`).
pub(crate) fn ether_crc(addr: &[u8; ETH_ALEN]) -> u32 {
    // SAFETY: `crc32_le` reads `ETH_ALEN` bytes from `addr`, which has them;
    // it is a pure function callable from any context.
    unsafe { bindings::crc32_le(!0, addr.as_ptr(), ETH_ALEN) }.reverse_bits()
}
