// SPDX-License-Identifier: GPL-2.0

//! tun and tap network devices: the private data (tun.c's `tun_struct`),
//! transmit into the queues' rings, and the `tun` link kind.
//!
//! Lock order: RTNL (all configuration and attach/detach), then RCU read
//! sections (transmit), then a ring's producer or consumer lock.

use core::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use core::fmt::Write;

use kernel::{bindings, c_str, prelude::*, sync::Arc};

use crate::{
    kapi::{
        bpf::BpfProg,
        cred::{self, INVALID_ID},
        error::eopnotsupp,
        ethtool::{EthtoolDriver, EthtoolOps, LinkKsettings},
        net::{nla_total_size, ExtAck, LinkOps, LinkType, NetdevEvent, NlAttrs, Rtnl, RtnlCell},
        netdev::{
            ArcSlot, DevRef, DeviceOps, DeviceSetup, NetDevOps, NetDevice, NewNetDevice, Retired,
            Unpublished, Xmit,
        },
        rcu,
        security::TunSecurity,
        skbuff::{skb_max_head, BhOff, SkBuff, VNET_HDR_LEN},
        sysfs::{AttrGroup, AttrList, RoAttr},
    },
    rtun_chr::TunFile,
    rtun_flows::Flows,
    rtun_ring::TxRing,
    rtun_txfilter::TxFilter,
    rtun_uapi::*,
};

/// `MIN_MTU` and `MAX_MTU` of tun.c: `max_mtu` is `MAX_MTU` less the link
/// header.
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;
/// `TUN_READQ_SIZE`: the default `tx_queue_len`, hence ring size.
const TUN_READQ_SIZE: u32 = 500;

/// What wakes a reader: `sock_def_readable`'s mask.
pub(crate) const EPOLL_READABLE: u32 = bindings::EPOLLIN | bindings::EPOLLRDNORM | EPOLLRDBAND;

/// `EPOLLRDBAND`, which bindgen does not export.
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
    /// Which queue each recent flow was written on.
    pub(crate) flows: Flows,
    /// Lossless mode (rtun only, off by default): a full ring stops its TX
    /// queue instead of dropping, and the reader restarts it.
    lossless: AtomicBool,
    /// The headroom written packets get (`tun->align`): `NET_SKB_PAD`
    /// unless an upper device asks for more (`ndo_set_rx_headroom`).
    align: AtomicU32,
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
    /// `ethtool -C rx-frames` (`rx_batched`); stored, rtun does not batch.
    rx_batched: u32,
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

/// A list of queues: files in slots `0..len`, each knowing its slot.
///
/// # Invariants
///
/// `slots[..len]` hold files whose `queue_index` is their slot; later slots
/// are empty. Both change only under RTNL.
struct QueueList {
    slots: KVec<ArcSlot<TunFile>>,
    len: AtomicU32,
}

impl QueueList {
    fn new(capacity: u32) -> Result<Self> {
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
        self.len.store(n + 1, Ordering::Relaxed);
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
        let retired = if index == last {
            self.slots[index as usize].replace(rtnl, None)
        } else {
            if let Some(moved) = self.slots[last as usize].get_rtnl(rtnl) {
                moved.set_queue_index(rtnl, index);
            }
            self.slots[index as usize].move_from(rtnl, &self.slots[last as usize])
        };
        self.len.store(last, Ordering::Relaxed);
        retired
    }

    /// The file in slot `index`, during an RCU read section.
    fn get<'a>(&'a self, index: u32, guard: &'a rcu::Guard) -> Option<&'a TunFile> {
        self.slots.get(index as usize)?.get(guard)
    }

    /// Calls `f` on every file.
    fn for_each(&self, rtnl: &Rtnl, mut f: impl FnMut(&TunFile)) {
        self.for_each_arc(rtnl, |q| f(&q));
    }

    /// Calls `f` with a reference to every file.
    fn for_each_arc(&self, rtnl: &Rtnl, mut f: impl FnMut(Arc<TunFile>)) {
        for slot in &self.slots[..self.len() as usize] {
            if let Some(q) = slot.get_rtnl(rtnl) {
                f(q);
            }
        }
    }
}

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
                rx_batched: 0,
                fprog: [0; 2],
                filter_attached: false,
            }),
            txflt: TxFilter::new(),
            steering_prog: ArcSlot::new(),
            filter_prog: ArcSlot::new(),
            flows: Flows::new()?,
            lossless: AtomicBool::new(false),
            align: AtomicU32::new(NET_SKB_PAD),
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

    pub(crate) fn numqueues(&self) -> u32 {
        self.queues.len()
    }

    pub(crate) fn numdisabled(&self) -> u32 {
        self.disabled.len()
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
        let mut attached = 0;
        let mut ret = Ok(());
        self.for_each_queue(rtnl, |q| {
            if ret.is_ok() {
                ret = q.socket().attach_filter(fprog);
                if ret.is_ok() {
                    attached += 1;
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
        let mut i = 0;
        self.for_each_queue(rtnl, |q| {
            if i < n {
                q.socket().detach_filter();
            }
            i += 1;
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

    /// `TUNSETVNETHDRSZ`: checked by the caller against tun.c's minimum.
    pub(crate) fn set_vnet_hdr_sz(&self, _rtnl: &Rtnl, sz: i32) {
        self.vnet_hdr_sz.store(sz, Ordering::Relaxed);
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
    /// `napi` is the attaching request's `IFF_NAPI`; a queue keeps what it
    /// first attached with through detach and re-attach (tun.c's
    /// `tun_napi_init`).
    pub(crate) fn attach(
        &self,
        rtnl: &Rtnl,
        dev: &NetDevice,
        tfile: Arc<TunFile>,
        skip_filter: bool,
        napi: bool,
    ) -> Result {
        self.security.may_attach(rtnl, tfile.socket())?;
        let detached = tfile.is_detached(rtnl);
        let n = self.numqueues();
        if self.flags() & IFF_MULTI_QUEUE == 0 && n == 1 {
            return Err(EBUSY);
        }
        if !detached && n + self.numdisabled() == MAX_TAP_QUEUES {
            return Err(E2BIG);
        }
        // A filter that cannot be attached (the program is a user pointer,
        // read again for each queue) leaves the queue unfiltered: tun.c's
        // `err` from `sk_attach_filter` is overwritten on the way for a new
        // queue, and returned for a re-enabled one, which is attached all
        // the same. rtun does the same.
        let config = self.config.get(rtnl);
        let filter_err = if !skip_filter && config.filter_attached {
            tfile.socket().attach_filter(config.fprog).err()
        } else {
            None
        };
        if detached {
            self.disabled.remove(rtnl, tfile.queue_index(rtnl));
            tfile.set_detached(rtnl, false);
        } else {
            TxRing::resize_all(&[tfile.tx_ring()], dev.tx_queue_len()).map_err(|_| ENOMEM)?;
            tfile.set_napi(rtnl, napi);
        }
        // A file whose device went away was shut down; attaching again
        // opens it (tun.c clears `RCV_SHUTDOWN`).
        tfile.reopen(rtnl);
        tfile.consume_ifindex(rtnl);
        self.queues.push(rtnl, tfile)?;
        // Only fails for 0 queues or more than allocated, excluded above.
        let _ = dev.set_real_num_queues(rtnl, n + 1);
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
    pub(crate) fn align(&self) -> u32 {
        self.align.load(Ordering::Relaxed)
    }

    /// Counts a written packet whose virtio-net header was refused.
    pub(crate) fn frame_error(&self) {
        self.rx_frame_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes `tfile` off the device (`__tun_detach`): for good when
    /// `clean` (the file is closing), else onto the disabled list
    /// (`TUNSETQUEUE` with `IFF_DETACH_QUEUE`). Returns with no RCU reader
    /// left that could reach it through the queue array.
    pub(crate) fn detach(&self, rtnl: &Rtnl, dev: &NetDevice, tfile: &TunFile) {
        Unpublished::batch(|b| self.detach_in(rtnl, dev, tfile, false, b));
        tfile.tx_ring().purge();
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
                    tfile.unpublish_device(rtnl, b);
                    b.push(tfile);
                }
            }
        });
        for tfile in &files {
            tfile.shut_down();
        }
    }

    /// Calls `f` on every attached queue.
    pub(crate) fn for_each_queue(&self, rtnl: &Rtnl, f: impl FnMut(&TunFile)) {
        self.queues.for_each(rtnl, f);
    }

    /// The file of queue `txq`, during an RCU read section.
    fn queue<'a>(&'a self, txq: u32, guard: &'a rcu::Guard) -> Option<&'a TunFile> {
        self.queues.get(txq, guard)
    }
}

/// `tun_select_queue`: the steering program's choice modulo the attached
/// queues if there is one (`tun_ebpf_select_queue`); else
/// `tun_automq_select_queue`: the queue the flow was last written on, or
/// its symmetric hash scaled onto the attached queues.
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
    if !tun.txflt.accepts(skb.dest_mac()) {
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
    match ring.produce(skb) {
        Ok(()) => {
            if tun.lossless() && ring.is_full() {
                stop_while_full(dev, tun, ring, txq);
            }
            tfile.packet_ready();
            Xmit::Ok
        }
        // A ring of no slots (`tx_queue_len` 0) never drains: holding its
        // packets back would hold them for ever, so drop as tun.c does.
        Err(skb) if tun.lossless() && ring.has_slots() => {
            stop_while_full(dev, tun, ring, txq);
            Xmit::Busy(skb)
        }
        Err(skb) => {
            dev.tx_dropped();
            drop(skb);
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

/// `NET_SKB_PAD`: the default headroom of received packets, a cache line
/// of at least 32 bytes.
const NET_SKB_PAD: u32 = if bindings::L1_CACHE_BYTES > 32 {
    bindings::L1_CACHE_BYTES
} else {
    32
};

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
    ($(#[$doc:meta])* $name:ident, $ops:ident, ether: $ether:expr) => {
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
    ether: false
);
tun_kind!(
    /// A tap device: Ethernet frames.
    Tap,
    TAP_OPS,
    ether: true
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
    let napi = new.priv_().flags() & IFF_NAPI != 0;
    new.priv_().attach(rtnl, new.dev(), tfile, false, napi)?;
    new.register(rtnl)
}

/// `/sys/class/net/<dev>/tun_flags`: what `TUNGETIFF` reports, and what
/// `ip tuntap show` reads.
static TUN_FLAGS_ATTR: RoAttr = RoAttr::new(c_str!("tun_flags"), |dev, out| {
    let flags = TunStruct::of(dev).map_or(0, TunStruct::iff_flags);
    writeln!(out, "0x{flags:x}")
});

/// `owner`: the uid set with `TUNSETOWNER` as the reader sees it, or -1.
static OWNER_ATTR: RoAttr = RoAttr::new(c_str!("owner"), |dev, out| {
    match TunStruct::of(dev).map(TunStruct::owner) {
        Some(id) if id != INVALID_ID => writeln!(out, "{}", cred::uid_for_caller(id)),
        _ => writeln!(out, "-1"),
    }
});

/// `group`: as `owner`, for `TUNSETGROUP`.
static GROUP_ATTR: RoAttr = RoAttr::new(c_str!("group"), |dev, out| {
    match TunStruct::of(dev).map(TunStruct::group) {
        Some(id) if id != INVALID_ID => writeln!(out, "{}", cred::gid_for_caller(id)),
        _ => writeln!(out, "-1"),
    }
});

/// `rtun_lossless` (rtun only): 1 turns on lossless mode, 0 (the default)
/// keeps tun.c's drop-when-full behaviour.
static LOSSLESS_ATTR: RoAttr = RoAttr::read_write(
    c_str!("rtun_lossless"),
    |dev, out| {
        let on = TunStruct::of(dev).is_some_and(TunStruct::lossless);
        writeln!(out, "{}", u8::from(on))
    },
    |dev, data| {
        let tun = TunStruct::of(dev).ok_or(EINVAL)?;
        let on = match data.strip_suffix(b"\n").unwrap_or(data) {
            b"1" => true,
            b"0" => false,
            _ => return Err(EINVAL),
        };
        tun.set_lossless(dev, on);
        Ok(())
    },
);

static TUN_ATTRS: AttrList<4> =
    AttrList::new([&TUN_FLAGS_ATTR, &OWNER_ATTR, &GROUP_ATTR, &LOSSLESS_ATTR]);

/// tun.c's `tun_attr_group`.
static TUN_ATTR_GROUP: AttrGroup = AttrGroup::new(&TUN_ATTRS);

/// tun.c's `tun_ethtool_ops`.
struct TunEthtool;

static TUN_ETHTOOL: EthtoolOps<TunEthtool> = EthtoolOps::new();

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

    fn rx_max_frames(tun: &TunStruct, rtnl: &Rtnl) -> u32 {
        tun.config.get(rtnl).rx_batched
    }

    fn set_rx_max_frames(tun: &TunStruct, rtnl: &Rtnl, v: u32) {
        tun.config
            .update(rtnl, |c| c.rx_batched = v.min(NAPI_POLL_WEIGHT));
    }

    fn ksettings(tun: &TunStruct, rtnl: &Rtnl) -> LinkKsettings {
        tun.config.get(rtnl).ksettings
    }

    fn set_ksettings(tun: &TunStruct, rtnl: &Rtnl, k: LinkKsettings) {
        tun.config.update(rtnl, |c| c.ksettings = k);
    }
}

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
            NetdevEvent::ChangeTxQueueLen => {
                // Keeps the queues alive while their rings are borrowed.
                let mut files = KVec::new();
                let mut ret = Ok(());
                for list in [&tun.queues, &tun.disabled] {
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
                // All rings or none, as `tun_queue_resize`.
                TxRing::resize_all(&rings, dev.tx_queue_len())
            }
            NetdevEvent::Up => {
                tun.for_each_queue(rtnl, |q| q.write_space());
                Ok(())
            }
            NetdevEvent::Other => Ok(()),
        }
    }
}
