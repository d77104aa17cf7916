// SPDX-License-Identifier: GPL-2.0

//! The tun link type: `rtnl_link_ops` of kind `tun` and the netdevice events
//! of tun devices.

use kernel::{c_str, prelude::*};

use crate::kapi::{
    error::eopnotsupp,
    net::{ExtAck, LinkType, NetDevice},
};

/// Link kind `tun`, as `tun_link_ops`.
pub(crate) struct TunLink;

impl LinkType for TunLink {
    const KIND: &'static CStr = c_str!("tun");

    /// tun devices are created with `TUNSETIFF` only; `ip link add type tun`
    /// gets tun.c's error and message.
    fn validate(extack: &mut ExtAck<'_>) -> Result {
        extack.set_msg(c_str!("tun/tap creation via rtnetlink is not supported."));
        Err(eopnotsupp())
    }

    /// `NETDEV_CHANGE_TX_QUEUE_LEN` resizes the queues' rings and `NETDEV_UP`
    /// wakes their writers; both need attached queues, which arrive with the
    /// data path. Until then there is nothing to do.
    fn netdev_event(_dev: &NetDevice, _event: usize) -> Result {
        Ok(())
    }
}
