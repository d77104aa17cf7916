// SPDX-License-Identifier: GPL-2.0

//! The `tun` link kind (`tun_link_ops`): refusing `ip link add type tun`,
//! what `ip -d link show` prints (`tun_fill_info`), and the netdevice
//! events tun reacts to (`tun_device_event`).

use kernel::{bindings, c_str, prelude::*};

use super::TunStruct;
use crate::{
    kapi::{
        cred::{self, INVALID_ID},
        error::eopnotsupp,
        net::{nla_total_size, ExtAck, LinkOps, LinkType, NetdevEvent, NlAttrs, Rtnl},
        netdev::NetDevice,
    },
    rtun_uapi::*,
};

/// Link kind `tun`, as `tun_link_ops`.
pub(crate) struct TunLink;

/// The link ops every tun and tap device points at.
pub(crate) static TUN_LINK: LinkOps<TunLink> = LinkOps::new();

impl LinkType for TunLink {
    const KIND: &'static CStr = c_str!("tun");

    /// tun devices are created with `TUNSETIFF` only; `ip link add type tun`
    /// gets tun.c's error and message.
    fn validate(extack: &mut ExtAck<'_>) -> Result {
        extack.set_msg(c_str!("tun/tap creation via rtnetlink is not supported."));
        Err(eopnotsupp())
    }

    /// `tun_get_size`.
    fn info_size(_dev: &NetDevice) -> usize {
        2 * nla_total_size(4) + 5 * nla_total_size(1) + 2 * nla_total_size(4)
    }

    /// `tun_fill_info`: what `ip -d link show` prints after `tun`.
    fn fill_info(dev: &NetDevice, msg: &mut NlAttrs<'_>) -> Result {
        let Some(tun) = TunStruct::of(dev) else {
            return Ok(());
        };
        let flags = tun.flags();
        let bit = |f: u32| u8::from(flags & f != 0);
        // CAST: The type bits are IFF_TUN (1) or IFF_TAP (2).
        msg.put_u8(bindings::IFLA_TUN_TYPE, (flags & TUN_TYPE_MASK) as u8)?;
        let owner = tun.owner();
        if owner != INVALID_ID {
            msg.put_u32(bindings::IFLA_TUN_OWNER, cred::uid_for_caller(owner))?;
        }
        let group = tun.group();
        if group != INVALID_ID {
            msg.put_u32(bindings::IFLA_TUN_GROUP, cred::gid_for_caller(group))?;
        }
        msg.put_u8(bindings::IFLA_TUN_PI, 1 - bit(IFF_NO_PI))?;
        msg.put_u8(bindings::IFLA_TUN_VNET_HDR, bit(IFF_VNET_HDR))?;
        msg.put_u8(bindings::IFLA_TUN_PERSIST, bit(IFF_PERSIST))?;
        msg.put_u8(bindings::IFLA_TUN_MULTI_QUEUE, bit(IFF_MULTI_QUEUE))?;
        if flags & IFF_MULTI_QUEUE != 0 {
            msg.put_u32(bindings::IFLA_TUN_NUM_QUEUES, tun.numqueues())?;
            msg.put_u32(bindings::IFLA_TUN_NUM_DISABLED_QUEUES, tun.numdisabled())?;
        }
        Ok(())
    }

    /// `tun_device_event`: a new `tx_queue_len` resizes every queue's ring
    /// (`tun_queue_resize`; failure vetoes the change), and a device coming
    /// up wakes writers waiting for it.
    fn netdev_event(dev: &NetDevice, event: NetdevEvent, rtnl: &Rtnl) -> Result {
        let Some(tun) = TunStruct::of(dev) else {
            return Ok(());
        };
        match event {
            NetdevEvent::ChangeTxQueueLen => tun.resize_rings(rtnl, dev.tx_queue_len()),
            NetdevEvent::Up => {
                tun.for_each_queue(rtnl, |q| q.write_space());
                Ok(())
            }
            NetdevEvent::Other => Ok(()),
        }
    }
}
