// SPDX-License-Identifier: GPL-2.0

//! The ethtool operations of tun and tap devices (`tun_ethtool_ops`):
//! driver info, message level, channels, `rx-frames` coalescing and the
//! link settings user space may set.

use core::sync::atomic::Ordering;

use kernel::{c_str, prelude::*};

use super::TunStruct;
use crate::{
    kapi::{
        ethtool::{EthtoolDriver, EthtoolOps, LinkKsettings},
        net::Rtnl,
        netdev::NetDevice,
    },
    rtun_uapi::*,
};

/// tun.c's `tun_ethtool_ops`.
pub(super) struct TunEthtool;

pub(super) static TUN_ETHTOOL: EthtoolOps<TunEthtool> = EthtoolOps::new();

/// `NAPI_POLL_WEIGHT`: the most frames tun batches.
const NAPI_POLL_WEIGHT: u32 = 64;

impl EthtoolDriver for TunEthtool {
    type Priv = TunStruct;

    fn priv_of(dev: &NetDevice) -> Option<&TunStruct> {
        TunStruct::of(dev)
    }

    fn drvinfo(tun: &TunStruct) -> (&'static CStr, &'static CStr, &'static CStr) {
        let bus = if tun.flags() & TUN_TYPE_MASK == IFF_TAP {
            c_str!("tap")
        } else {
            c_str!("tun")
        };
        (c_str!("tun"), c_str!("1.6"), bus)
    }

    fn msglevel(tun: &TunStruct, rtnl: &Rtnl) -> u32 {
        tun.config.get(rtnl).msg_enable
    }

    fn set_msglevel(tun: &TunStruct, rtnl: &Rtnl, v: u32) {
        tun.set_msg_enable(rtnl, v);
    }

    fn channels(tun: &TunStruct) -> (u32, u32) {
        let max = if tun.flags() & IFF_MULTI_QUEUE != 0 {
            MAX_TAP_QUEUES
        } else {
            1
        };
        (tun.numqueues(), max)
    }

    fn rx_max_frames(tun: &TunStruct, _rtnl: &Rtnl) -> u32 {
        tun.rx_batched.load(Ordering::Relaxed)
    }

    fn set_rx_max_frames(tun: &TunStruct, _rtnl: &Rtnl, v: u32) {
        tun.rx_batched
            .store(v.min(NAPI_POLL_WEIGHT), Ordering::Relaxed);
    }

    fn ksettings(tun: &TunStruct, rtnl: &Rtnl) -> LinkKsettings {
        tun.config.get(rtnl).ksettings
    }

    fn set_ksettings(tun: &TunStruct, rtnl: &Rtnl, k: LinkKsettings) {
        tun.config.update(rtnl, |c| c.ksettings = k);
    }
}
