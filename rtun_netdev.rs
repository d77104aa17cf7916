// SPDX-License-Identifier: GPL-2.0

//! tun and tap network devices: their private data ([`TunStruct`], tun.c's
//! `tun_struct`) and configuration, the two device kinds ([`Tun`], [`Tap`])
//! and their `net_device_ops`, transmit into the queues' rings
//! (`tun_net_xmit`, `tun_select_queue`), and creating a device for
//! `TUNSETIFF`. The rest of a device is in the child modules:
//!
//! - `rtun_queues.rs`: attaching and detaching queues;
//! - `rtun_sysfs.rs`, `rtun_ethtool.rs`: its sysfs attributes and ethtool
//!   operations;
//! - `rtun_link.rs`: the `tun` link kind and netdevice events;
//! - `rtun_xdp.rs`: XDP programs and frames (tap only).
//!
//! Lock order: RTNL (all configuration and attach/detach), then RCU read
//! sections (transmit), then a ring's producer or consumer lock.

use core::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use kernel::{bindings, c_str, prelude::*, sync::Arc};

use crate::{
    kapi::{
        bpf::BpfProg,
        cred::{self, INVALID_ID},
        ethtool::LinkKsettings,
        net::{Rtnl, RtnlCell},
        netdev::{DevRef, DeviceOps, DeviceSetup, NetDevOps, NetDevice, NewNetDevice, Xmit},
        rcu::{self, ArcSlot},
        skbuff::{skb_max_head, BhOff, SkBuff, NET_SKB_PAD, VNET_HDR_LEN},
        tun_security::TunSecurity,
        tun_socket::{RingEntry, SockFprog},
        xdp::{XdpProg, XdpProgSlot, XmitFrames},
    },
    rtun_chr::TunFile,
    rtun_flows::Flows,
    rtun_ring::TxRing,
    rtun_txfilter::TxFilter,
    rtun_uapi::*,
};

#[path = "rtun_ethtool.rs"]
mod ethtool;
#[path = "rtun_link.rs"]
mod link;
#[path = "rtun_queues.rs"]
mod queues;
#[path = "rtun_sysfs.rs"]
mod sysfs;
#[path = "rtun_xdp.rs"]
pub(crate) mod xdp;

use ethtool::TUN_ETHTOOL;
pub(crate) use link::{TunLink, TUN_LINK};
use queues::QueueList;
use sysfs::TUN_ATTR_GROUP;

/// `MIN_MTU` and `MAX_MTU` of tun.c: `max_mtu` is `MAX_MTU` less the link
/// header.
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;
/// `TUN_READQ_SIZE`: the default `tx_queue_len`, hence ring size.
const TUN_READQ_SIZE: u32 = 500;

/// What wakes a reader: `sock_def_readable`'s mask.
pub(crate) const EPOLL_READABLE: u32 =
    bindings::EPOLLIN | EPOLLPRI | bindings::EPOLLRDNORM | EPOLLRDBAND;

/// `EPOLLPRI` and `EPOLLRDBAND` (`include/uapi/linux/eventpoll.h`). The
/// bindings have only the `EPOLL*` constants that
/// `rust/bindings/bindings_helper.h` exports, and 6.12's list lacks these;
/// adding them to our bindings patch would rebuild both kernels for two
/// numbers.
const EPOLLPRI: u32 = 0x02;
const EPOLLRDBAND: u32 = 0x80;

/// A held tun or tap device, with its [`TunStruct`].
pub(crate) type TunDev = DevRef<TunStruct>;

/// A tun or tap device's private data (tun.c's `struct tun_struct`).
///
pub(crate) struct TunStruct {
    /// `IFF_TUN`/`IFF_TAP`, the `TUN_FEATURES` set by the last attaching
    /// file, and `IFF_PERSIST`. Written under RTNL.
    flags: AtomicU32,
    /// The attached queues (tun.c's `tfiles[]`/`numqueues`), which transmit
    /// reads under RCU.
    queues: QueueList,
    /// Queues detached with `TUNSETQUEUE` (tun.c's `disabled` list).
    disabled: QueueList,
    /// `TUNSETOWNER` / `TUNSETGROUP`: kernel ids, `INVALID_ID` if unset.
    /// Written under RTNL; atomic because sysfs reads them without it, as
    /// tun.c's `owner_show` does.
    owner: AtomicU32,
    group: AtomicU32,
    /// `TUNSETVNETHDRSZ`, which reads and writes use. Written under RTNL.
    vnet_hdr_sz: AtomicI32,
    /// Everything else user space configures, which only RTNL holders use.
    config: RtnlCell<TunConfig>,
    /// `TUNSETTXFILTER` (TAP only).
    pub(crate) txflt: TxFilter,
    /// `TUNSETSTEERINGEBPF`: picks the transmit queue instead of the flow
    /// table.
    steering_prog: ArcSlot<BpfProg>,
    /// `TUNSETFILTEREBPF`: drops or trims what the device transmits.
    filter_prog: ArcSlot<BpfProg>,
    /// The XDP program (`ndo_bpf`, tap only), run on what queues write.
    xdp_prog: XdpProgSlot,
    /// Which queue each recent flow was written on.
    pub(crate) flows: Flows,
    /// Lossless mode (rtun only, off by default): a full ring stops its TX
    /// queue instead of dropping, and the reader restarts it.
    lossless: AtomicBool,
    /// The headroom written packets get (`tun->align`): `NET_SKB_PAD`
    /// unless an upper device asks for more (`ndo_set_rx_headroom`).
    align: AtomicU32,
    /// `ethtool -C rx-frames` (`rx_batched`): how many written packets may
    /// wait for more (`tun_rx_batched`). Written under RTNL.
    rx_batched: AtomicU32,
    /// Written packets whose virtio-net header the stack refused
    /// (`rx_frame_errors`).
    rx_frame_errors: AtomicU64,
    /// The device's LSM blob.
    security: TunSecurity,
}

/// The part of a device's configuration that neither transmit nor reads
/// and writes look at: kept behind RTNL, which every reader and writer
/// holds.
#[derive(Clone, Copy)]
struct TunConfig {
    /// `TUNSETDEBUG` and `ethtool -s msglvl`.
    msg_enable: u32,
    /// The offloads `TUNSETOFFLOAD` allows (`NETIF_F_*`).
    features: u64,
    /// What `ethtool` reports and `ethtool -s` sets (`link_ksettings`).
    ksettings: LinkKsettings,
    /// The classic BPF program of `TUNATTACHFILTER` (a `struct sock_fprog`
    /// as user space passed it), kept for queues that attach later and for
    /// `TUNGETFILTER`.
    fprog: SockFprog,
    /// Whether `fprog` is attached to the queues (`TUNDETACHFILTER` clears).
    filter_attached: bool,
}

/// `TUN_VNET_LE`: the vnet header is little-endian (`TUNSETVNETLE`).
pub(crate) const TUN_VNET_LE: u32 = 0x8000_0000;

/// `NETIF_F_*` bits of the features tun lets user space choose.
const fn nf(bit: u32) -> u64 {
    1 << bit
}
const F_HW_CSUM: u64 = nf(bindings::NETIF_F_HW_CSUM_BIT);
const F_TSO: u64 = nf(bindings::NETIF_F_TSO_BIT);
const F_TSO6: u64 = nf(bindings::NETIF_F_TSO6_BIT);
const F_TSO_ECN: u64 = nf(bindings::NETIF_F_TSO_ECN_BIT);
const F_GSO_UDP_L4: u64 = nf(bindings::NETIF_F_GSO_UDP_L4_BIT);
const F_VLAN_TX: u64 =
    nf(bindings::NETIF_F_HW_VLAN_CTAG_TX_BIT) | nf(bindings::NETIF_F_HW_VLAN_STAG_TX_BIT);
/// `TUN_USER_FEATURES`.
const TUN_USER_FEATURES: u64 = F_HW_CSUM | F_TSO_ECN | F_TSO | F_TSO6 | F_GSO_UDP_L4;
/// `tun_net_init`'s `hw_features`.
const TUN_HW_FEATURES: u64 = nf(bindings::NETIF_F_SG_BIT)
    | nf(bindings::NETIF_F_FRAGLIST_BIT)
    | TUN_USER_FEATURES
    | F_VLAN_TX;

impl TunStruct {
    fn new(flags: u32, queues: u32) -> Result<Self> {
        Ok(Self {
            flags: AtomicU32::new(flags),
            queues: QueueList::new(queues)?,
            // Only multi-queue devices detach queues.
            disabled: QueueList::new(if queues > 1 { queues } else { 0 })?,
            owner: AtomicU32::new(INVALID_ID),
            group: AtomicU32::new(INVALID_ID),
            // CAST: The header is 10 bytes.
            vnet_hdr_sz: AtomicI32::new(VNET_HDR_LEN as i32),
            config: RtnlCell::new(TunConfig {
                msg_enable: 0,
                features: 0,
                ksettings: LinkKsettings::fixed(bindings::SPEED_10000, true),
                fprog: SockFprog::zeroed(),
                filter_attached: false,
            }),
            txflt: TxFilter::new(),
            steering_prog: ArcSlot::new(),
            filter_prog: ArcSlot::new(),
            xdp_prog: XdpProgSlot::new(),
            flows: Flows::new()?,
            lossless: AtomicBool::new(false),
            align: AtomicU32::new(NET_SKB_PAD),
            rx_batched: AtomicU32::new(0),
            rx_frame_errors: AtomicU64::new(0),
            security: TunSecurity::new()?,
        })
    }

    /// `tun_permitted`: the caller matches the owner and group that are
    /// set (both, if both are), or has `CAP_NET_ADMIN` over the device's
    /// namespace.
    pub(crate) fn permitted(&self, dev: &NetDevice) -> bool {
        let (owner, group) = (self.owner(), self.group());
        let (has_owner, has_group) = (owner != INVALID_ID, group != INVALID_ID);
        if (has_owner || has_group)
            && (!has_owner || cred::euid() == owner)
            && (!has_group || cred::in_egroup(group))
        {
            return true;
        }
        dev.net_capable(bindings::CAP_NET_ADMIN)
    }

    /// `set_offload`: accepts exactly tun.c's combinations of `TUN_F_*`.
    pub(crate) fn set_offload(&self, rtnl: &Rtnl, dev: &NetDevice, arg: usize) -> Result {
        // CAST: Only the low bits carry flags; the rest must be zero.
        let mut arg = arg as u64;
        let mut features = 0;
        let f = |b: u32| u64::from(b);
        if arg & f(bindings::TUN_F_CSUM) != 0 {
            features |= F_HW_CSUM;
            arg &= !f(bindings::TUN_F_CSUM);
            if arg & f(bindings::TUN_F_TSO4 | bindings::TUN_F_TSO6) != 0 {
                if arg & f(bindings::TUN_F_TSO_ECN) != 0 {
                    features |= F_TSO_ECN;
                    arg &= !f(bindings::TUN_F_TSO_ECN);
                }
                if arg & f(bindings::TUN_F_TSO4) != 0 {
                    features |= F_TSO;
                }
                if arg & f(bindings::TUN_F_TSO6) != 0 {
                    features |= F_TSO6;
                }
                arg &= !f(bindings::TUN_F_TSO4 | bindings::TUN_F_TSO6);
            }
            arg &= !f(bindings::TUN_F_UFO);
            // tun.c: "for now USO4 and USO6 should work simultaneously".
            let uso = f(bindings::TUN_F_USO4 | bindings::TUN_F_USO6);
            if arg & uso == uso {
                features |= F_GSO_UDP_L4;
                arg &= !uso;
            }
        }
        // Unknown bits let user space probe for features: refuse them.
        if arg != 0 {
            return Err(EINVAL);
        }
        self.config.update(rtnl, |c| c.features = features);
        dev.update_wanted_features(rtnl, TUN_USER_FEATURES, features);
        Ok(())
    }

    /// The device's private data, whether it is a tun or a tap device.
    pub(crate) fn of(dev: &NetDevice) -> Option<&TunStruct> {
        dev.priv_of::<Tun>().or_else(|| dev.priv_of::<Tap>())
    }

    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub(crate) fn set_flags(&self, _rtnl: &Rtnl, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    pub(crate) fn lossless(&self) -> bool {
        self.lossless.load(Ordering::Relaxed)
    }

    /// A reader made room in queue `txq`'s ring: in lossless mode, restart
    /// the queue if the transmit side stopped it.
    pub(crate) fn ring_drained(&self, dev: &NetDevice, txq: u32) {
        if !self.lossless() {
            return;
        }
        // Pairs with the fence in `stop_while_full`: either the transmit
        // side sees the free slot, or we see its stop.
        fence(Ordering::SeqCst);
        dev.wake_queue(txq);
    }

    /// `TUNATTACHFILTER`: attaches `fprog` to every queue, all or none
    /// (`tun_attach_filter`); `fprog` is kept even when that fails.
    pub(crate) fn attach_filter(&self, rtnl: &Rtnl, fprog: SockFprog) -> Result {
        self.config.update(rtnl, |c| c.fprog = fprog);
        let mut attached: u32 = 0;
        let mut ret = Ok(());
        self.for_each_queue(rtnl, |q| {
            if ret.is_ok() {
                ret = q.socket().attach_filter(&fprog);
                if ret.is_ok() {
                    // At most MAX_TAP_QUEUES; saturating, as no ioctl may
                    // have a panic path.
                    attached = attached.saturating_add(1);
                }
            }
        });
        if ret.is_err() {
            self.detach_filter(rtnl, attached);
            return ret;
        }
        self.config.update(rtnl, |c| c.filter_attached = true);
        Ok(())
    }

    /// `TUNDETACHFILTER`: detaches the filter from the first `n` queues
    /// (`tun_detach_filter`).
    pub(crate) fn detach_filter(&self, rtnl: &Rtnl, n: u32) {
        let mut i: u32 = 0;
        self.for_each_queue(rtnl, |q| {
            if i < n {
                q.socket().detach_filter();
            }
            i = i.saturating_add(1);
        });
        self.config.update(rtnl, |c| c.filter_attached = false);
    }

    /// `TUNSETSTEERINGEBPF`/`TUNSETFILTEREBPF`: installs the socket filter
    /// behind `fd` in `slot`, or removes it for -1 (`tun_set_ebpf`); the old
    /// program is released once no transmit can still be running it.
    pub(crate) fn set_ebpf(&self, rtnl: &Rtnl, steering: bool, fd: i32) -> Result {
        let prog = match fd {
            -1 => None,
            fd => Some(Arc::new(BpfProg::socket_filter(fd)?, GFP_KERNEL)?),
        };
        let slot = if steering {
            &self.steering_prog
        } else {
            &self.filter_prog
        };
        if let Some(old) = slot.replace(rtnl, prog) {
            drop(old.wait());
        }
        Ok(())
    }

    /// Whether a steering program chooses queues: then writes teach the
    /// flow table nothing.
    pub(crate) fn steering(&self) -> bool {
        self.steering_prog.get(&rcu::read_lock()).is_some()
    }

    /// `TUNGETFILTER`: the program last given to `TUNATTACHFILTER`.
    pub(crate) fn fprog(&self, rtnl: &Rtnl) -> SockFprog {
        self.config.get(rtnl).fprog
    }

    /// `TUNSETOWNER` / `TUNSETGROUP`: a kernel id, or `INVALID_ID`.
    pub(crate) fn set_owner(&self, _rtnl: &Rtnl, kuid: u32) {
        self.owner.store(kuid, Ordering::Relaxed);
    }

    pub(crate) fn set_group(&self, _rtnl: &Rtnl, kgid: u32) {
        self.group.store(kgid, Ordering::Relaxed);
    }

    /// The owner and group, racily without RTNL (as sysfs reads them).
    pub(crate) fn owner(&self) -> u32 {
        self.owner.load(Ordering::Relaxed)
    }

    pub(crate) fn group(&self) -> u32 {
        self.group.load(Ordering::Relaxed)
    }

    /// `TUNSETVNETHDRSZ`: at least a `struct virtio_net_hdr`, else
    /// `EINVAL`. Reads and writes rely on that minimum.
    pub(crate) fn set_vnet_hdr_sz(&self, _rtnl: &Rtnl, sz: i32) -> Result {
        // CAST: The header is 10 bytes.
        if sz < VNET_HDR_LEN as i32 {
            return Err(EINVAL);
        }
        self.vnet_hdr_sz.store(sz, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn vnet_hdr_sz(&self) -> i32 {
        self.vnet_hdr_sz.load(Ordering::Relaxed)
    }

    /// `TUNSETDEBUG`.
    pub(crate) fn set_msg_enable(&self, rtnl: &Rtnl, v: u32) {
        self.config.update(rtnl, |c| c.msg_enable = v);
    }

    /// `tun_is_little_endian`: `TUNSETVNETLE`, or the legacy virtio byte
    /// order, which is little-endian on every architecture rtun builds for.
    pub(crate) fn little_endian(&self) -> bool {
        self.flags() & TUN_VNET_LE != 0 || cfg!(target_endian = "little")
    }

    /// What `TUNGETIFF` reports (`tun_flags`).
    pub(crate) fn iff_flags(&self) -> u32 {
        self.flags() & (TUN_FEATURES | IFF_PERSIST | IFF_TUN | IFF_TAP)
    }

    /// Turns lossless mode on or off (sysfs `rtun_lossless`).
    fn set_lossless(&self, dev: &NetDevice, on: bool) {
        self.lossless.store(on, Ordering::Relaxed);
        if !on && dev.is_running() {
            // Pairs with the fence in `stop_while_full`: a transmit that
            // decided to stop before it could see the mode off is woken
            // here, and nothing else would.
            fence(Ordering::SeqCst);
            dev.wake_all_queues();
        }
    }

    /// `tun_net_change_carrier`: carrier on needs a queue.
    pub(crate) fn change_carrier(&self, dev: &NetDevice, on: bool) -> Result {
        if on && self.numqueues() == 0 {
            return Err(EPERM);
        }
        dev.set_carrier(on);
        Ok(())
    }

    /// The device's LSM blob.
    pub(crate) fn security(&self) -> &TunSecurity {
        &self.security
    }

    /// The headroom written packets get (`tun->align`).
    /// `ethtool -C rx-frames`: how many written packets may wait.
    pub(crate) fn rx_batched(&self) -> u32 {
        self.rx_batched.load(Ordering::Relaxed)
    }

    pub(crate) fn align(&self) -> u32 {
        self.align.load(Ordering::Relaxed)
    }

    /// Counts a written packet whose virtio-net header was refused.
    pub(crate) fn frame_error(&self) {
        self.rx_frame_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// `tun_select_queue`: the steering program's choice modulo the attached
/// queues if there is one (`tun_ebpf_select_queue`); else
/// `tun_automq_select_queue`: the queue the flow was last written on, or
/// its symmetric hash scaled onto the attached queues.
// Inlined into `ndo_select_queue`'s callback: a call of its own cost
// another ~10 instructions a packet on multi-queue devices.
#[inline(always)]
fn select_queue(tun: &TunStruct, skb: &SkBuff, bh: &BhOff) -> u16 {
    let guard = rcu::read_lock();
    let n = tun.numqueues();
    if let Some(prog) = tun.steering_prog.get(&guard) {
        // CAST: tun.c keeps the program's result as a `u16` before taking
        // it modulo the queues.
        let ret = prog.run(skb, &guard, bh) as u16;
        // CAST: `n` is at most MAX_TAP_QUEUES (256).
        return ret.checked_rem(n as u16).unwrap_or(0);
    }
    let hash = skb.symmetric_hash();
    let q = match tun.flows.find(hash) {
        Some(q) if q < n => q,
        // `reciprocal_scale`.
        _ => ((u64::from(hash) * u64::from(n)) >> 32) as u32,
    };
    // CAST: Below `n` <= 256.
    q as u16
}

/// Lossless mode: hold further packets of queue `txq` in the qdisc until
/// the reader makes room in `ring`. The recheck after the stop catches a
/// reader that drained the ring before it could see the stop (pairs with
/// the fence in `TunStruct::ring_drained`).
///
/// Turning lossless mode off races this the same way: either we see the
/// mode off and restart the queue ourselves, or the sysfs writer sees the
/// stop and wakes it (`set_lossless`).
fn stop_while_full(dev: &NetDevice, tun: &TunStruct, ring: &TxRing, txq: u32) {
    dev.stop_queue(txq);
    fence(Ordering::SeqCst);
    if !tun.lossless() || !ring.is_full() {
        dev.wake_queue(txq);
    }
}

/// `tun_net_xmit`: queue the packet on its queue's ring and wake the
/// reader, or drop it.
fn xmit(mut skb: SkBuff, dev: &NetDevice, tun: &TunStruct, guard: &rcu::Guard, bh: &BhOff) -> Xmit {
    let txq = u32::from(skb.queue_mapping());
    let Some(tfile) = tun.queue(txq, guard) else {
        dev.tx_dropped();
        return Xmit::Drop;
    };
    // Filters can be set on TAP devices only, so this is a no-op for TUN.
    if !tun.txflt.accepts(|| skb.dest_mac()) {
        dev.tx_dropped();
        return Xmit::Drop;
    }
    if tfile.socket().has_filter() && !tfile.socket().filter_passes(&mut skb) {
        dev.tx_dropped();
        return Xmit::Drop;
    }
    // `run_ebpf_filter`: the length to keep, 0 to drop.
    if let Some(prog) = tun.filter_prog.get(guard) {
        let keep = prog.run(&skb, guard, bh);
        if keep == 0 || (keep < skb.len() && skb.trim(keep).is_err()) {
            dev.tx_dropped();
            return Xmit::Drop;
        }
    }
    if skb.orphan().is_err() {
        dev.tx_dropped();
        return Xmit::Drop;
    }
    let ring = tfile.tx_ring();
    match ring.produce(RingEntry::Skb(skb)) {
        Ok(()) => {
            if tun.lossless() && ring.is_full() {
                stop_while_full(dev, tun, ring, txq);
            }
            tfile.packet_ready();
            Xmit::Ok
        }
        // A ring of no slots (`tx_queue_len` 0) never drains: holding its
        // packets back would hold them for ever, so drop as tun.c does.
        Err(RingEntry::Skb(skb)) if tun.lossless() && ring.has_slots() => {
            stop_while_full(dev, tun, ring, txq);
            Xmit::Busy(skb)
        }
        Err(entry) => {
            dev.tx_dropped();
            drop(entry);
            Xmit::Drop
        }
    }
}

/// `tun_net_uninit`: the device is being unregistered, by its last file
/// closing, `ip link del`, its namespace going away or module unload.
fn uninit(tun: &TunStruct, rtnl: &Rtnl) {
    tun.detach_all(rtnl);
    if tun.flags() & IFF_PERSIST != 0 {
        crate::kapi::module::put(&crate::THIS_MODULE);
    }
}

/// `tun_set_headroom`: what an upper device asks for, clamped between
/// `NET_SKB_PAD` and what still leaves room for the link header in a
/// head of `SKB_MAX_HEAD(0)` (a negative request, a reset, gets the
/// default).
fn set_rx_headroom(tun: &TunStruct, ether: bool, headroom: i32) {
    let link = if ether {
        bindings::ETH_HLEN + bindings::NET_IP_ALIGN
    } else {
        1
    };
    let max = skb_max_head(0).min(u32::from(u16::MAX) - 1) - link;
    let align = u32::try_from(headroom).map_or(NET_SKB_PAD, |h| h.clamp(NET_SKB_PAD, max));
    tun.align.store(align, Ordering::Relaxed);
}

/// `tun_net_fix_features`: user-chosen offloads only as `TUNSETOFFLOAD`
/// allowed.
fn fix_features(tun: &TunStruct, rtnl: &Rtnl, features: u64) -> u64 {
    (features & tun.config.get(rtnl).features) | (features & !TUN_USER_FEATURES)
}

/// Defines a kind of tun device. tun and tap devices share every
/// operation; their separate ops tables are what tell them apart (as
/// `tun_netdev_ops` and `tap_netdev_ops` do), and only tap takes Ethernet
/// addresses from user space.
macro_rules! tun_kind {
    ($(#[$doc:meta])* $name:ident, $ops:ident, ether: $ether:expr, xdp: $xdp:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        static $ops: DeviceOps<$name> = DeviceOps::new();

        impl NetDevOps for $name {
            type Priv = TunStruct;
            const OPS: &'static DeviceOps<Self> = &$ops;
            const ETHER: bool = $ether;
            const TX_QUEUE_LEN: u32 = TUN_READQ_SIZE;

            fn select_queue(_dev: &NetDevice, tun: &TunStruct, skb: &SkBuff, bh: &BhOff) -> u16 {
                select_queue(tun, skb, bh)
            }

            fn uninit(_dev: &NetDevice, tun: &TunStruct, rtnl: &Rtnl) {
                uninit(tun, rtnl);
            }

            fn fix_features(
                _dev: &NetDevice,
                tun: &TunStruct,
                rtnl: &Rtnl,
                features: u64,
            ) -> u64 {
                fix_features(tun, rtnl, features)
            }

            fn change_carrier(dev: &NetDevice, tun: &TunStruct, on: bool) -> Result {
                tun.change_carrier(dev, on)
            }

            fn set_rx_headroom(_dev: &NetDevice, tun: &TunStruct, headroom: i32) {
                set_rx_headroom(tun, $ether, headroom);
            }

            // tun.c reports `rx_frame_errors` from `tun_net_get_stats64`,
            // which only the tun ops table has.
            const FRAME_ERRORS: bool = !$ether;

            fn rx_frame_errors(tun: &TunStruct) -> u64 {
                tun.rx_frame_errors.load(Ordering::Relaxed)
            }

            const IP_TUNNEL_HEADER: bool = !$ether;

            /// `tun_net_open`.
            fn open(dev: &NetDevice, _tun: &TunStruct) -> Result {
                dev.start_all_queues();
                Ok(())
            }

            /// `tun_net_close`.
            fn stop(dev: &NetDevice, _tun: &TunStruct) -> Result {
                dev.stop_all_queues();
                Ok(())
            }

            const XDP: bool = $xdp;

            fn xdp_setup(_dev: &NetDevice, tun: &TunStruct, rtnl: &Rtnl, prog: Option<XdpProg>) {
                tun.xdp_set(rtnl, prog);
            }

            fn xdp_xmit(
                dev: &NetDevice,
                tun: &TunStruct,
                frames: XmitFrames<'_>,
                flush: bool,
                guard: &rcu::Guard,
                bh: &BhOff,
            ) -> Result<u32> {
                xdp::xmit(dev, tun, frames, flush, guard, bh)
            }

            fn start_xmit(
                skb: SkBuff,
                dev: &NetDevice,
                tun: &TunStruct,
                guard: &rcu::Guard,
                bh: &BhOff,
            ) -> Xmit {
                xmit(skb, dev, tun, guard, bh)
            }
        }
    };
}

tun_kind!(
    /// A tun device: IP packets, no link header.
    Tun,
    TUN_OPS,
    ether: false,
    xdp: false
);
tun_kind!(
    /// A tap device: Ethernet frames.
    Tap,
    TAP_OPS,
    ether: true,
    xdp: true
);

/// Creates and registers a device for `TUNSETIFF` with `tfile` attached as
/// its first queue (`tun_set_iff`'s creation branch with `tun_net_init`).
pub(crate) fn create(
    rtnl: &Rtnl,
    tfile: Arc<TunFile>,
    name: &CStr,
    ifr_flags: u32,
) -> Result<TunDev> {
    let queues = if ifr_flags & IFF_MULTI_QUEUE != 0 {
        MAX_TAP_QUEUES
    } else {
        1
    };
    let (type_flag, template) = if ifr_flags & IFF_TUN != 0 {
        (IFF_TUN, c_str!("tun%d"))
    } else if ifr_flags & IFF_TAP != 0 {
        (IFF_TAP, c_str!("tap%d"))
    } else {
        return Err(EINVAL);
    };
    let name = if name.is_empty() { template } else { name };
    let ether = type_flag == IFF_TAP;
    let setup = DeviceSetup {
        // CAST: ARPHRD_NONE (0xfffe) fits `dev->type`.
        type_: bindings::ARPHRD_NONE as u16,
        ether,
        flags: bindings::net_device_flags_IFF_POINTOPOINT
            | bindings::net_device_flags_IFF_NOARP
            | bindings::net_device_flags_IFF_MULTICAST,
        min_mtu: MIN_MTU,
        max_frame: MAX_MTU,
        ifindex: tfile.ifindex(rtnl),
    };
    let tun = TunStruct::new(type_flag | (ifr_flags & TUN_FEATURES), queues)?;
    if ether {
        register::<Tap>(rtnl, tfile, name, queues, &setup, tun)
    } else {
        register::<Tun>(rtnl, tfile, name, queues, &setup, tun)
    }
}

/// Allocates a device of kind `K`, attaches `tfile` as its first queue and
/// registers it (`tun_net_init` runs the attach from `ndo_init`; here it
/// precedes `register_netdevice`).
fn register<K: NetDevOps<Priv = TunStruct>>(
    rtnl: &Rtnl,
    tfile: Arc<TunFile>,
    name: &CStr,
    queues: u32,
    setup: &DeviceSetup,
    tun: TunStruct,
) -> Result<TunDev> {
    let new = NewNetDevice::<K>::new(
        tfile.net(),
        &TUN_LINK,
        &TUN_ATTR_GROUP,
        &TUN_ETHTOOL,
        name,
        queues,
        setup,
        tun,
    )?;
    new.init_features(TUN_HW_FEATURES, !F_VLAN_TX);
    let napi = new.priv_().flags() & (IFF_NAPI | IFF_NAPI_FRAGS);
    new.priv_().attach(rtnl, new.dev(), tfile, false, napi)?;
    // A failed registration detaches the queue (tun.c's `err_detach`): its
    // NAPI context must not stay registered with the device freed next.
    new.register(rtnl).map_err(|(e, new)| {
        new.priv_().detach_all(rtnl);
        e
    })
}
