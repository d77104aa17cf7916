// SPDX-License-Identifier: GPL-2.0

//! `/dev/net/tun`: the misc character device through which user space
//! creates, attaches to and drives tun devices.
//!
//! Each open file is a [`TunFile`], tun.c's `struct tun_file`: the queue a
//! file becomes once attached to a device. Here are its state, its reads
//! (`tun_do_read`, `tun_put_user`) and writes (`tun_get_user`) and their
//! delivery into the stack, close (`tun_detach`), poll, and [`TunChr`], the
//! file operations. Its ioctls are in the child `rtun_ioctl.rs`; the
//! virtio-net header in `rtun_vnet.rs`, the socket vhost-net uses in
//! `rtun_sock.rs`.
//!
//! Lock order: RTNL, then RCU read sections, then a queue's ring and wait
//! queue locks (taken inside the C calls).

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
};

use crate::{
    kapi::{
        error::ebadfd,
        file::File,
        iov::{IovIter, Kiocb},
        miscdevice::{FopsId, MiscDevice, SeqFile},
        net::{NetRef, Rtnl, RtnlCell},
        rcu::{self, DevSlot, Unpublished},
        skbuff::{skb_max_head, BhDisabled, BhOff, RxSkb, SkBuff, NET_SKB_PAD, VNET_HDR_LEN},
        tun_socket::{FragsLock, RingEntry, Socket, Ubuf, NAPI_POLL_WEIGHT},
        wait::PollTable,
        xdp::{self, XdpFrame, XdpPacket, XdpRxq, XDP_PACKET_HEADROOM},
    },
    rtun_netdev::{
        self,
        xdp::{act, Acted},
        TunDev, TunStruct,
    },
    rtun_ring::{self, TxRing},
    rtun_uapi::*,
    rtun_vnet,
};

#[path = "rtun_ioctl.rs"]
mod ioctl;

/// Where a VLAN tag goes in an Ethernet frame: after both MAC addresses
/// (`offsetof(struct vlan_ethhdr, h_vlan_proto)`).
const VLAN_OFFSET: u32 = 12;
/// `GOODCOPY_LEN`: what a zero-copy send copies when its virtio-net header
/// names no header length.
const GOODCOPY_LEN: usize = 128;
/// `NET_IP_ALIGN`: extra headroom that aligns a tap frame's IP header.
const NET_IP_ALIGN: u32 = bindings::NET_IP_ALIGN;
/// `PAGE_SIZE`.
const PAGE_SIZE: usize = bindings::PAGE_SIZE;
/// `MAX_SKB_FRAGS`, `PAGE_ALLOC_COSTLY_ORDER`: what fragments can carry.
const MAX_SKB_FRAGS: u32 = bindings::MAX_SKB_FRAGS;
const PAGE_ALLOC_COSTLY_ORDER: u32 = bindings::PAGE_ALLOC_COSTLY_ORDER;
/// `TUN_RX_PAD`: the headroom of a packet written into a page fragment
/// (`tun_build_skb`), before XDP's.
const TUN_RX_PAD: u32 = NET_IP_ALIGN + NET_SKB_PAD;

/// The state of one open `/dev/net/tun` file.
///
/// # Invariants
///
/// `dev` is published while the file is attached to a device and holds
/// queue `queue_index` of it; both change under RTNL.
#[pin_data]
pub(crate) struct TunFile {
    /// The network namespace of the opener: new devices are created there
    /// and `SIOCGSKNS` reports it (tun.c's `sock_net(&tfile->sk)`).
    net: NetRef,
    /// The ifindex `TUNSETIFINDEX` asks the next created device to take; 0
    /// lets the kernel choose.
    ifindex: RtnlCell<i32>,
    /// Packets waiting for this queue's reader.
    #[pin]
    tx_ring: TxRing,
    /// The device this file is attached to (tun.c's `tfile->tun`).
    dev: DevSlot<TunStruct>,
    queue_index: AtomicU32,
    /// Set when the device went away under the file (`RCV_SHUTDOWN`).
    shutdown: AtomicBool,
    /// The socket vhost-net drives the queue through; it also keeps the
    /// queue's send buffer size (`sk_sndbuf`).
    sock: Socket,
    /// Detached from its multi-queue device with `TUNSETQUEUE`, but still
    /// bound to it (tun.c's `tfile->detached`). RTNL.
    detached: AtomicBool,
    /// Writes build `napi_gro_frags` skbs (tun.c's `napi_frags_enabled`):
    /// attached with `IFF_NAPI | IFF_NAPI_FRAGS`. RTNL.
    napi_frags: AtomicBool,
    /// `O_ASYNC` is on (`TUN_FASYNC`): a queued packet sends SIGIO. The
    /// subscribers and the wait queue are the socket's, which outlive the
    /// file while sent packets are charged to it.
    fasync_on: AtomicBool,
}

impl TunFile {
    fn new(file: &File) -> impl PinInit<Self, Error> + '_ {
        let net = NetRef::current();
        try_pin_init!(Self {
            sock: Socket::new::<TunChr>(&net, file)?,
            net,
            ifindex: RtnlCell::new(0),
            tx_ring <- rtun_ring::new_unattached(),
            dev: DevSlot::new(),
            queue_index: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            napi_frags: AtomicBool::new(false),
            fasync_on: AtomicBool::new(false),
        })
    }

    pub(crate) fn net(&self) -> &NetRef {
        &self.net
    }

    pub(crate) fn ifindex(&self, rtnl: &Rtnl) -> i32 {
        self.ifindex.get(rtnl)
    }

    /// Attaching uses up a `TUNSETIFINDEX` request. tun.c keeps the
    /// request in a union with `queue_index`, so attaching as queue N
    /// leaves N (and the request's upper 16 bits) as the index the file's
    /// next device asks for: after a failed registration or a deleted
    /// device, a file that was queue 1 would ask for lo's index and get
    /// `EBUSY`. That aliasing is a bug; for queue 0 and a request below
    /// 65536 it amounts to this, the evident intent.
    pub(crate) fn consume_ifindex(&self, rtnl: &Rtnl) {
        self.ifindex.set(rtnl, 0);
    }

    pub(crate) fn tx_ring(&self) -> &TxRing {
        &self.tx_ring
    }

    pub(crate) fn queue_index(&self, _rtnl: &Rtnl) -> u32 {
        self.queue_index.load(Ordering::Relaxed)
    }

    /// The queue's index as a writer sees it: it may change under RTNL
    /// meanwhile (queues move when one detaches), as tun.c reads it.
    pub(crate) fn rx_queue(&self) -> u32 {
        self.queue_index.load(Ordering::Relaxed)
    }

    pub(crate) fn set_queue_index(&self, _rtnl: &Rtnl, index: u32) {
        self.queue_index.store(index, Ordering::Relaxed);
    }

    pub(crate) fn is_detached(&self, _rtnl: &Rtnl) -> bool {
        self.detached.load(Ordering::Relaxed)
    }

    pub(crate) fn set_detached(&self, _rtnl: &Rtnl, detached: bool) {
        self.detached.store(detached, Ordering::Relaxed);
    }

    pub(crate) fn set_napi_frags(&self, _rtnl: &Rtnl, frags: bool) {
        self.napi_frags.store(frags, Ordering::Relaxed);
    }

    /// Wakes readers and pollers waiting for `mask` (`sk_data_ready`).
    pub(crate) fn wake_readers(&self, mask: u32) {
        self.sock.wait_queue().wake_poll(mask);
    }

    /// A packet arrived: SIGIO to `O_ASYNC` subscribers, then wake readers
    /// (`tun_net_xmit`'s order).
    pub(crate) fn packet_ready(&self) {
        if self.fasync_on.load(Ordering::Relaxed) {
            self.sock.fasync().notify_readable();
        }
        self.sock
            .wait_queue()
            .wake_poll(rtun_netdev::EPOLL_READABLE);
    }

    /// Attached again after its device went away: reads wait again instead
    /// of failing (tun.c clears `RCV_SHUTDOWN` in `tun_attach`).
    pub(crate) fn reopen(&self, _rtnl: &Rtnl) {
        self.shutdown.store(false, Ordering::Relaxed);
    }

    /// The queue may have become writable (`tun_sock_write_space`, which
    /// `NETDEV_UP` calls): if a poll found it not writable, wake writers
    /// and send SIGIO `POLL_OUT`.
    pub(crate) fn write_space(&self) {
        self.sock.write_space();
    }

    /// The device is going away: mark the queue shut down and unpublish
    /// the device (tun_detach_all's per-file part before its grace period).
    pub(crate) fn unpublish_device(&self, rtnl: &Rtnl, batch: &mut Unpublished<TunFile>) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.dev.clear_in(rtnl, batch);
    }

    /// After the grace period that followed `unpublish_device`: drop
    /// queued packets and wake everyone so they see the device gone.
    pub(crate) fn shut_down(&self) {
        self.tx_ring.purge();
        self.wake_readers(EPOLL_ALL);
    }

    /// `tun_detach(tfile, true)` on close: give up the queue; a device left
    /// without queues loses its carrier and, unless persistent, goes away.
    fn release(&self) {
        let rtnl = Rtnl::lock();
        let Some(dev) = self.dev.get_rtnl(&rtnl) else {
            return;
        };
        let tun = dev.priv_();
        // One grace period for both the queue slot and the device slot.
        Unpublished::batch(|b| {
            tun.detach_in(&rtnl, &dev, self, true, b);
            self.dev.clear_in(&rtnl, b);
        });
        self.tx_ring.purge();
        self.sock.purge_rx_batch();
        if tun.numqueues() == 0 && tun.numdisabled() == 0 {
            dev.set_carrier(false);
            if tun.flags() & IFF_PERSIST == 0 {
                dev.unregister(&rtnl);
            }
        }
        // `tun_detach`: user space hears of the lost queue (a no-op for a
        // device just unregistered, which is down).
        dev.state_change(&rtnl);
    }

    /// Waits for a packet (`tun_ring_recv`).
    fn recv(&self, nonblock: bool) -> Result<RingEntry> {
        if let Some(entry) = self.tx_ring.consume() {
            return Ok(entry);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        let mut skb = None;
        self.sock.wait_queue().wait_interruptible(|| {
            skb = self.tx_ring.consume();
            skb.is_some() || self.shutdown.load(Ordering::Relaxed)
        })?;
        // tun.c returns EFAULT to a reader whose device went away.
        skb.ok_or(EFAULT)
    }

    /// `tun_do_read`: one packet or XDP frame, `pending` if vhost-net
    /// already took it from the ring.
    pub(crate) fn read_packet(
        &self,
        to: &mut IovIter,
        nonblock: bool,
        pending: Option<RingEntry>,
    ) -> Result<usize> {
        let dev = self.dev.get().ok_or_else(ebadfd)?;
        let tun = dev.priv_();
        if to.count() == 0 {
            return Ok(0);
        }
        let entry = match pending {
            Some(entry) => entry,
            None => self.recv(nonblock)?,
        };
        tun.ring_drained(&dev, self.rx_queue());
        match entry {
            RingEntry::Skb(skb) => put_skb(&dev, tun, to, skb),
            RingEntry::Frame(frame) => put_frame(&dev, tun, to, frame),
        }
    }

    /// `tun_get_user`: one packet from user space into the stack, waiting
    /// for send-buffer room (`TUNSETSNDBUF`) unless `noblock`; `more` if
    /// the writer has more packets to send at once (`MSG_MORE`); `ubuf`
    /// for vhost-net's zero-copy sends.
    pub(crate) fn write_packet(
        &self,
        from: &mut IovIter,
        noblock: bool,
        more: bool,
        ubuf: Option<Ubuf>,
    ) -> Result<usize> {
        let dev = self.dev.get().ok_or_else(ebadfd)?;
        let tun = dev.priv_();
        let total = from.count();
        let mut len = total;
        let flags = tun.flags();
        let le = tun.little_endian();
        // tun.c's default PI: an IPv4 packet.
        // CAST: ETH_P_IP is a 16-bit protocol number.
        let mut proto: u16 = (bindings::ETH_P_IP as u16).to_be();
        if flags & IFF_NO_PI == 0 {
            if len < TUN_PI_LEN {
                return Err(EINVAL);
            }
            len -= TUN_PI_LEN;
            let mut pi = [0u8; TUN_PI_LEN];
            from.read_all(&mut pi)?;
            proto = u16::from_ne_bytes([pi[2], pi[3]]);
        }
        let (gso, hdr_len) = if flags & IFF_VNET_HDR != 0 {
            rtun_vnet::hdr_get(from, tun.vnet_hdr_sz(), le, &mut len)?
        } else {
            ([0; VNET_HDR_LEN], 0)
        };
        let is_tap = flags & TUN_TYPE_MASK == IFF_TAP;
        // CAST: The headroom is below a page.
        let mut align = tun.align();
        if is_tap {
            align += NET_IP_ALIGN;
            if len < ETH_HLEN || (hdr_len != 0 && hdr_len < ETH_HLEN) {
                return Err(EINVAL);
            }
        }
        // `tun_alloc_skb`'s layout: the head takes the headers the vnet
        // header names, else as much as fits a page; small packets are
        // linear; what the fragments cannot take goes to the head.
        let good_linear = skb_max_head(align);
        let mut linear = if hdr_len > good_linear as usize {
            good_linear as usize
        } else {
            hdr_len
        };
        if linear == 0 {
            linear = len.min(good_linear as usize);
        }
        // Saturating, so that a write has no panic path (`linear` is at most
        // `len`, and the headroom below a page).
        if len < PAGE_SIZE.saturating_sub(align as usize) {
            linear = len;
        }
        let max_frags = MAX_SKB_FRAGS as usize * (PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER);
        if len.saturating_sub(linear) > max_frags {
            linear = len.saturating_sub(max_frags);
        }
        let napi_frags = self.napi_frags.load(Ordering::Relaxed);
        // Zero-copy when the sender offers it, the frags path does not
        // build the skb, and what follows the copied headers fits the
        // fragments: the headers the vnet header names (else 128 bytes)
        // are copied, the rest pinned. tun.c does not cut the copy to the
        // packet: a packet under 128 bytes (vhost never sends one so)
        // would carry stale bytes.
        let zerocopy = ubuf.as_ref().and_then(|_| {
            let copy = if hdr_len != 0 { hdr_len } else { GOODCOPY_LEN }
                .min(good_linear as usize)
                .min(len);
            (!napi_frags && from.npages_after(copy) <= MAX_SKB_FRAGS as usize).then_some(copy)
        });
        // `tun_can_build_skb`: a small packet written without blocking to
        // a tap queue whose send buffer never fills goes into a page
        // fragment, where an XDP program runs on it in place.
        let build = is_tap
            && !napi_frags
            && zerocopy.is_none()
            && noblock
            && self.sock.sndbuf() == i32::MAX
            && XdpPacket::fits_page(TUN_RX_PAD + XDP_PACKET_HEADROOM, len);
        let built = if build {
            match self.build_skb(&dev, from, gso[VNET_GSO_TYPE] != 0, len) {
                Ok(Some(built)) => Some(built),
                Ok(None) => return Ok(total),
                Err(e) => {
                    dev.rx_dropped();
                    return Err(e);
                }
            }
        } else {
            None
        };
        // `IFF_NAPI_FRAGS`: the NAPI context's own skb, its layout the
        // writer's segments, not charged to the send buffer; the lock is
        // held until GRO has it.
        let frags = napi_frags.then(|| self.sock.napi().lock_frags());
        // Whether the XDP program (if any) is still to run, on the skb.
        let mut generic_xdp = true;
        let allocated = match (built, &frags) {
            (Some((skb, generic)), _) => {
                generic_xdp = generic;
                Ok(skb)
            }
            (None, Some(lock)) => lock.alloc_from_iter(len, from),
            (None, None) => self.sock.alloc_skb_from_iter(
                align,
                len,
                zerocopy.unwrap_or(linear),
                noblock,
                zerocopy.is_some(),
                from,
            ),
        };
        let mut skb = match allocated {
            Ok(skb) => skb,
            Err(e) => {
                if e != EAGAIN {
                    dev.rx_dropped();
                }
                return Err(e);
            }
        };
        if skb.apply_vnet_hdr(&gso, le).is_err() {
            tun.frame_error();
            return Err(EINVAL);
        }
        let mut skb = if is_tap {
            match skb.eth_type_trans(&dev) {
                Ok(skb) => skb,
                Err(e) => {
                    dev.rx_dropped();
                    return Err(e);
                }
            }
        } else {
            if flags & IFF_NO_PI != 0 {
                proto = match skb.first_byte().map(|b| b >> 4) {
                    // CAST: ETH_P_* are 16-bit protocol numbers.
                    Some(4) => (bindings::ETH_P_IP as u16).to_be(),
                    Some(6) => (bindings::ETH_P_IPV6 as u16).to_be(),
                    _ => {
                        dev.rx_dropped();
                        return Err(EINVAL);
                    }
                };
            }
            skb.reset_headers();
            skb.set_protocol_be(proto);
            skb.into_rx(&dev)
        };
        // The completion goes with the pinned pages, or now if copied.
        match (ubuf, zerocopy) {
            (Some(u), Some(_)) => skb.zcopy_init(u),
            (Some(u), None) => u.complete_copied(),
            (None, _) => {}
        }
        let bh = BhDisabled::new();
        let Some(skb) = self.prepare_rx(tun, skb, generic_xdp, &bh) else {
            return Ok(total);
        };
        if dev.flags() & bindings::net_device_flags_IFF_UP == 0 {
            dev.rx_dropped();
            return Err(EIO);
        }
        // CAST: `alloc_skb_from_iter` took `len` as an int.
        if let Some(waiting) =
            self.deliver(tun, skb, len as u32, Some(more), frags.as_ref(), &bh)?
        {
            // The poll round runs when BH is enabled again, unless the
            // writer says more follow and a round's worth is not there yet.
            if !more || waiting > NAPI_POLL_WEIGHT {
                self.sock.napi().schedule(&bh);
            }
        }
        Ok(total)
    }

    /// `tun_build_skb`: the packet copied into a page fragment after
    /// `TUN_RX_PAD` bytes (and XDP's headroom if the device has a program),
    /// and the program run on it there, except on a GSO packet, which meets
    /// it in the generic hook once an skb. The skb and whether that hook is
    /// still to run, or `None` if the program kept or dropped the packet.
    fn build_skb(
        &self,
        dev: &TunDev,
        from: &mut IovIter,
        gso: bool,
        len: usize,
    ) -> Result<Option<(SkBuff, bool)>> {
        let tun = dev.priv_();
        let has_prog = tun.xdp_prog(&rcu::read_lock()).is_some();
        let pad = TUN_RX_PAD + if has_prog { XDP_PACKET_HEADROOM } else { 0 };
        let mut pkt = XdpPacket::from_iter(pad, len, from)?;
        let generic = gso || !has_prog;
        let rxq;
        if !generic {
            rxq = XdpRxq::new(dev, self.rx_queue());
            let bh = BhDisabled::new();
            let guard = rcu::read_lock();
            // A program removed since the first look lets the packet pass.
            let acted = xdp::with_net_ctx(&bh, |ctx| match tun.xdp_prog(&guard) {
                None => Acted::Pass(pkt),
                Some(prog) => {
                    let verdict = pkt.run(prog, &rxq, ctx);
                    let acted = act(dev, prog, pkt, verdict, ctx, &guard, &bh);
                    if let Acted::Redirected = acted {
                        ctx.flush();
                    }
                    acted
                }
            });
            match acted {
                Acted::Pass(passed) => pkt = passed,
                Acted::Redirected | Acted::Done => return Ok(None),
            }
        }
        let mut skb = pkt.into_skb()?;
        self.sock.set_owner_w(&mut skb);
        Ok(Some((skb, generic)))
    }

    /// The stack's view of a packet written to this queue (network header
    /// at `data`, transport header probed, the queue recorded), then, if
    /// `generic_xdp`, the device's XDP program on it (`do_xdp_generic`):
    /// the packet if it passes. Inlined: it runs once per packet, on the
    /// write and the vhost path.
    #[inline]
    pub(crate) fn prepare_rx<'d>(
        &self,
        tun: &TunStruct,
        mut skb: RxSkb<'d>,
        generic_xdp: bool,
        bh: &BhOff,
    ) -> Option<RxSkb<'d>> {
        skb.prepare_rx(self.rx_queue());
        if !generic_xdp {
            return Some(skb);
        }
        let guard = rcu::read_lock();
        match tun.xdp_prog(&guard) {
            Some(prog) => xdp::run_generic(skb, prog, bh),
            None => Some(skb),
        }
    }

    /// Hands a packet written to this queue to the stack: through GRO at
    /// once if it is the NAPI context's (`frags`), or with `IFF_NAPI`
    /// queued for the NAPI poll, returning how many wait (the caller
    /// schedules the poll), else at once or, for a write (`more` is
    /// whether the writer says more follow; `None` for vhost's batches)
    /// with `ethtool -C rx-frames`, as `tun_rx_batched` decides;
    /// counts its `len` bytes; with a choice of
    /// queues, learns the flow's queue for replies (`tun_flow_update`). A
    /// queue detached with `TUNSETQUEUE` has its NAPI context disabled:
    /// `EBUSY`, not counted as a drop, as tun.c.
    // Inlined into its two callers, as `tun_xdp_one`'s and `tun_get_user`'s
    // tails are in tun.c: as a call of its own, once a packet, its
    // prologue, epilogue and argument moves cost vhost's path ~55
    // instructions a packet (`--profile vhost-tx`: 190 to 134).
    #[inline(always)]
    pub(crate) fn deliver(
        &self,
        tun: &TunStruct,
        skb: RxSkb<'_>,
        len: u32,
        more: Option<bool>,
        frags: Option<&FragsLock<'_>>,
        bh: &BhOff,
    ) -> Result<Option<u32>> {
        let queue = self.rx_queue();
        let detached = self.detached.load(Ordering::Relaxed);
        let rxhash = if tun.numqueues() > 1 && !detached && !tun.steering() {
            Some(skb.symmetric_hash())
        } else {
            None
        };
        let napi = self.sock.napi();
        let waiting = if let Some(lock) = frags {
            lock.receive(skb, len, bh)?;
            None
        } else if napi.is_added() {
            if detached {
                return Err(EBUSY);
            }
            Some(napi.queue(skb, len, bh)?)
        } else if let Some(more) = more {
            // Packets wait only while the file holds their device: one
            // queued after the purge that follows the file's letting go of
            // it would hold the device forever.
            let guard = rcu::read_lock();
            let batch = if self.dev.holds(skb.dev(), &guard) {
                tun.rx_batched()
            } else {
                0
            };
            self.sock.receive_batched(skb, len, more, batch, bh);
            None
        } else {
            skb.receive(bh, len);
            None
        };
        if let Some(hash) = rxhash {
            tun.flows.update(hash, queue);
        }
        Ok(waiting)
    }

    /// The attached device, held (`tun_get`).
    pub(crate) fn device(&self) -> Option<TunDev> {
        self.dev.get()
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.sock
    }

    /// `tun_chr_poll`.
    ///
    /// tun.c holds the device across the call (`tun_get`). Only `poll_wait`
    /// may sleep, and it needs no device, so the rest reads the device
    /// inside an RCU read section instead: no reference taken and dropped
    /// per poll. A device detached between the two looks is an error, as
    /// it would be a moment later in tun.c.
    #[inline]
    fn poll(&self, file: &File, table: &PollTable) -> u32 {
        if self.dev.get_in(&rcu::read_lock()).is_none() {
            return bindings::EPOLLERR;
        }
        let wq = self.sock.wait_queue();
        wq.poll_wait(file, table);
        let guard = rcu::read_lock();
        let Some(dev) = self.dev.get_in(&guard) else {
            return bindings::EPOLLERR;
        };
        let mut mask = 0;
        if !self.tx_ring.is_empty() {
            mask |= bindings::EPOLLIN | bindings::EPOLLRDNORM;
        }
        // `tun_sock_writeable`; not writable, the poller asks to be told
        // (`SOCKWQ_ASYNC_NOSPACE`) and looks again, so that a device coming
        // up in between is not missed.
        let writable =
            || dev.flags() & bindings::net_device_flags_IFF_UP != 0 && self.sock.writeable();
        if writable() || (!self.sock.set_nospace() && writable()) {
            mask |= bindings::EPOLLOUT | bindings::EPOLLWRNORM;
        }
        // A device being unregistered is an error alone.
        if !dev.is_registered_racy() {
            mask = bindings::EPOLLERR;
        }
        mask
    }
}

/// `tun_put_user`: a packet, after its PI header unless `IFF_NO_PI` and
/// its virtio-net header with `IFF_VNET_HDR`, with an out-of-band VLAN tag
/// put back in; truncated silently to the buffer. Returns the packet's full
/// length.
fn put_skb(dev: &TunDev, tun: &TunStruct, to: &mut IovIter, skb: SkBuff) -> Result<usize> {
    let flags = tun.flags();
    let vlan = skb.vlan_tag();
    let vlan_hlen = if vlan.is_some() { VLAN_HLEN } else { 0 };
    let vnet_hdr_sz = if flags & IFF_VNET_HDR != 0 {
        // CAST: At least 10 (TUNSETVNETHDRSZ checks), so non-negative.
        tun.vnet_hdr_sz() as usize
    } else {
        0
    };
    // Wrapping, so that a read has no panic path: these sums of a packet's
    // length (below 4 GiB) and header sizes (an `int` at most) cannot wrap
    // a `usize`, nor can the `u32` byte count at the end, an skb's length
    // and a tag.
    let mut total = (skb.len() as usize)
        .wrapping_add(vlan_hlen)
        .wrapping_add(vnet_hdr_sz);
    if flags & IFF_NO_PI == 0 {
        if to.count() < TUN_PI_LEN {
            return Err(EINVAL);
        }
        total = total.wrapping_add(TUN_PI_LEN);
        let pi_flags = if to.count() < total { TUN_PKT_STRIP } else { 0 };
        let mut pi = [0u8; TUN_PI_LEN];
        pi[..2].copy_from_slice(&pi_flags.to_ne_bytes());
        pi[2..].copy_from_slice(&skb.protocol_be().to_ne_bytes());
        to.write_all(&pi)?;
    }
    if vnet_hdr_sz != 0 {
        rtun_vnet::hdr_put(to, &skb, vnet_hdr_sz, tun.little_endian(), vlan_hlen)?;
    }
    let mut offset = 0;
    let mut done = false;
    if let Some(tag) = vlan {
        // The tag goes between the MAC addresses and the EtherType;
        // tun.c stops quietly wherever the buffer ends.
        offset = VLAN_OFFSET;
        done = skb.copy_to_iter(0, to, offset).is_err()
            || to.count() == 0
            || to.write_all(&tag).is_err()
            || to.count() == 0;
    }
    if !done {
        // tun.c returns the length even if this copy faults.
        // The copy of the first `offset` bytes succeeded, so the packet
        // holds them; saturating all the same, as no read may panic.
        let _ = skb.copy_to_iter(offset, to, skb.len().saturating_sub(offset));
    }
    // CAST: VLAN_HLEN is 4.
    dev.tx_add(skb.len().wrapping_add(vlan_hlen as u32));
    skb.consume();
    Ok(total)
}

/// `tun_put_user_xdp`: a frame, after a zeroed virtio-net header with
/// `IFF_VNET_HDR` and never a PI header (tun.c writes none, whatever the
/// flags); truncated silently to the buffer. Returns what was copied.
fn put_frame(dev: &TunDev, tun: &TunStruct, to: &mut IovIter, frame: XdpFrame) -> Result<usize> {
    let mut vnet_hdr_sz = 0;
    if tun.flags() & IFF_VNET_HDR != 0 {
        // CAST: At least 10 (TUNSETVNETHDRSZ checks), so non-negative.
        vnet_hdr_sz = tun.vnet_hdr_sz() as usize;
        if to.count() < vnet_hdr_sz {
            return Err(EINVAL);
        }
        to.write_all(&[0; VNET_HDR_LEN])?;
        to.advance(vnet_hdr_sz.saturating_sub(VNET_HDR_LEN));
    }
    // Wrapping, so that a read has no panic path: a page's bytes and an
    // `int` cannot wrap a `usize`.
    let n = to.write_some(frame.data()).wrapping_add(vnet_hdr_sz);
    // CAST: A frame fits a page.
    dev.tx_add(n as u32);
    Ok(n)
}

/// Everything a reader or poller can wait for.
const EPOLL_ALL: u32 = rtun_netdev::EPOLL_READABLE | bindings::EPOLLERR | bindings::EPOLLOUT;

/// The file operations of `/dev/net/tun` (tun.c's `tun_fops`).
pub(crate) struct TunChr;

/// Where the registration publishes `/dev/net/tun`'s operations.
static TUN_FOPS: FopsId = FopsId::new();

#[vtable]
impl MiscDevice for TunChr {
    type Ptr = Arc<TunFile>;

    /// tun handles `IOCB_NOWAIT` reads and writes, as tun.c declares.
    const NOWAIT: bool = true;

    /// vhost-net hands rtun files back to `tun_get_socket`.
    fn fops_id() -> Option<&'static FopsId> {
        Some(&TUN_FOPS)
    }

    fn open(file: &File) -> Result<Self::Ptr> {
        Arc::pin_init(TunFile::new(file), GFP_KERNEL)
    }

    fn release(tfile: Self::Ptr, _file: &File) {
        tfile.release();
    }

    fn read_iter(tfile: ArcBorrow<'_, TunFile>, kiocb: &Kiocb, to: &mut IovIter) -> Result<usize> {
        let len = to.count();
        let n = tfile.read_packet(to, kiocb.nonblock(), None)?.min(len);
        if n > 0 {
            // tun.c reports the last read's length as the file position.
            // CAST: A read's length fits a file position.
            kiocb.set_pos(n as i64);
        }
        Ok(n)
    }

    fn write_iter(
        tfile: ArcBorrow<'_, TunFile>,
        kiocb: &Kiocb,
        from: &mut IovIter,
    ) -> Result<usize> {
        tfile.write_packet(from, kiocb.nonblock(), false, None)
    }

    fn fasync(tfile: ArcBorrow<'_, TunFile>, file: &File, fd: i32, on: bool) -> Result {
        tfile.sock.fasync().set(file, fd, on)?;
        tfile.fasync_on.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// `tun_chr_show_fdinfo`: the attached device's name, or nothing.
    fn show_fdinfo(tfile: ArcBorrow<'_, TunFile>, _file: &File, m: &mut SeqFile<'_>) {
        let name = {
            let rtnl = Rtnl::lock();
            tfile.dev.get_rtnl(&rtnl).map(|d| d.name())
        };
        m.write(b"iff:\t");
        if let Some(name) = name {
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            m.write(&name[..len]);
        }
        m.write(b"\n");
    }

    // Into the C entry point: one call less on every poll.
    #[inline]
    fn poll(tfile: ArcBorrow<'_, TunFile>, file: &File, table: &PollTable) -> u32 {
        tfile.poll(file, table)
    }

    fn ioctl(tfile: ArcBorrow<'_, TunFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        TunFile::ioctl(tfile, cmd, arg, IFREQ_LEN)
    }

    /// `tun_chr_compat_ioctl`. tun.c passes pointer arguments through
    /// `compat_ptr()` and the rest through a `compat_ulong_t` cast; on every
    /// architecture Rust-for-Linux supports both are the same zero-extension
    /// of the low 32 bits. Kernels without `CONFIG_COMPAT` never call it.
    fn compat_ioctl(
        tfile: ArcBorrow<'_, TunFile>,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        // CAST: Truncation to 32 bits is the point: see above.
        TunFile::ioctl(tfile, cmd, arg as u32 as usize, COMPAT_IFREQ_LEN)
    }
}
