// SPDX-License-Identifier: GPL-2.0

//! The virtio-net header in front of every packet of an `IFF_VNET_HDR`
//! device, as upstream's later `drivers/net/tun_vnet.h` gathers it: the
//! ioctls that set its size and byte order ([`ioctl`]), taking one off a
//! written packet ([`hdr_get`]) and putting one before a read packet
//! ([`hdr_put`]). Applying a header to an skb and building one from it are
//! the kernel's (`virtio_net_hdr_to_skb`/`_from_skb`, in `kapi/skbuff.rs`).

use kernel::prelude::*;

use crate::{
    kapi::{
        iov::IovIter,
        net::Rtnl,
        skbuff::{SkBuff, VnetHdr, VNET_HDR_LEN},
        user,
    },
    rtun_netdev::{TunStruct, TUN_VNET_LE},
    rtun_uapi::*,
};

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
// CAST: A flag bit of the header's `u8` flags.
const NEEDS_CSUM: u8 = kernel::bindings::VIRTIO_NET_HDR_F_NEEDS_CSUM as u8;

/// `tun_vnet_ioctl`: the header's size and byte order, under RTNL.
pub(crate) fn ioctl(tun: &TunStruct, rtnl: &Rtnl, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        TUNGETVNETHDRSZ => user::write(arg, &tun.vnet_hdr_sz())?,
        TUNSETVNETHDRSZ => tun.set_vnet_hdr_sz(rtnl, user::read(arg)?)?,
        TUNGETVNETLE => user::write(arg, &i32::from(tun.flags() & TUN_VNET_LE != 0))?,
        TUNSETVNETLE => {
            let le: i32 = user::read(arg)?;
            let flags = tun.flags();
            tun.set_flags(
                rtnl,
                if le != 0 {
                    flags | TUN_VNET_LE
                } else {
                    flags & !TUN_VNET_LE
                },
            );
        }
        // Without CONFIG_TUN_VNET_CROSS_LE (not in our kernels) tun.c
        // refuses both, as it does any other command.
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// `tun_vnet_hdr_get`: takes the `sz`-byte header off the front of a
/// written packet of `len` bytes (less the header on return). Returns the
/// header and its `hdr_len`, raised to cover the checksum as tun.c does;
/// `EINVAL` if the packet is shorter than either.
pub(crate) fn hdr_get(
    from: &mut IovIter,
    sz: i32,
    le: bool,
    len: &mut usize,
) -> Result<(VnetHdr, usize)> {
    // CAST: At least 10 (TUNSETVNETHDRSZ checks), so non-negative.
    let sz = sz as usize;
    if *len < sz {
        return Err(EINVAL);
    }
    *len -= sz;
    let mut gso: VnetHdr = [0; VNET_HDR_LEN];
    from.read_all(&mut gso)?;
    let field = |at: usize| {
        let b = [gso[at], gso[at + 1]];
        usize::from(if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let mut hdr_len = field(2);
    let csum_end = field(6) + field(8) + 2;
    if gso[0] & NEEDS_CSUM != 0 && csum_end > hdr_len {
        // CAST: tun.c's `cpu_to_tun16` truncates the same way.
        let v = csum_end as u16;
        gso[2..4].copy_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
        hdr_len = usize::from(v);
    }
    if hdr_len > *len {
        return Err(EINVAL);
    }
    // `sz` is at least the header (TUNSETVNETHDRSZ checks); saturating,
    // so that no write has a panic path.
    from.advance(sz.saturating_sub(VNET_HDR_LEN));
    Ok((gso, hdr_len))
}

/// `tun_vnet_hdr_put`: the header describing `skb`, padded to `sz` bytes,
/// before the packet a reader gets; `vlan_hlen` is the tag put back into
/// the packet. `EINVAL` for a buffer too short or a state the header
/// cannot express.
pub(crate) fn hdr_put(
    to: &mut IovIter,
    skb: &SkBuff,
    sz: usize,
    le: bool,
    vlan_hlen: usize,
) -> Result {
    if to.count() < sz {
        return Err(EINVAL);
    }
    // CAST: VLAN_HLEN is 4.
    let mut hdr = [0; VNET_HDR_LEN];
    skb.vnet_hdr(le, vlan_hlen as u16, &mut hdr)?;
    to.write_all(&hdr)?;
    // As in `hdr_get`: no read has a panic path.
    to.advance(sz.saturating_sub(hdr.len()));
    Ok(())
}
