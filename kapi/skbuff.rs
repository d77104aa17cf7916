// SPDX-License-Identifier: GPL-2.0

//! Socket buffers (`struct sk_buff`): [`SkBuff`], an owned reference;
//! [`RxSkb`], one on its way into the stack through a device; the
//! bottom-half witnesses [`BhDisabled`] and [`BhOff`] that receiving and
//! BPF need; [`LockedQueue`], an `sk_buff_head` under its lock; and the
//! virtio-net header conversions.
//!
//! Lock order: a queue's spinlock is a leaf.
//!
//! C header: [`include/linux/skbuff.h`](srctree/include/linux/skbuff.h)

use core::{
    marker::PhantomData,
    ptr::{addr_of, addr_of_mut, NonNull},
};

use kernel::{bindings, prelude::*};

use super::{iov::IovIter, netdev::NetDevice};

/// `sizeof(struct virtio_net_hdr)`: the header `IFF_VNET_HDR` puts before
/// each packet (more with `TUNSETVNETHDRSZ`, the rest padding).
pub(crate) const VNET_HDR_LEN: usize = core::mem::size_of::<bindings::virtio_net_hdr>();

/// `NET_SKB_PAD`: the default headroom of received packets, a cache line
/// of at least 32 bytes.
pub(crate) const NET_SKB_PAD: u32 = if bindings::L1_CACHE_BYTES > 32 {
    bindings::L1_CACHE_BYTES
} else {
    32
};

/// `SKB_DATA_ALIGN`: rounds up to a cache line.
pub(super) const fn skb_data_align(n: usize) -> usize {
    let a = bindings::SMP_CACHE_BYTES as usize;
    // Saturating, so that no path has a panic: a size near `usize::MAX`
    // stays far above any page.
    n.saturating_add(a - 1) & !(a - 1)
}

/// `SKB_MAX_HEAD(headroom)`: the most packet data a one-page head holds
/// after `headroom` bytes and the shared info (0 if nothing fits).
pub(crate) const fn skb_max_head(headroom: u32) -> u32 {
    let shinfo = skb_data_align(core::mem::size_of::<bindings::skb_shared_info>());
    // CAST: A page and the shared info are a few kilobytes.
    (bindings::PAGE_SIZE as u32)
        .saturating_sub(shinfo as u32)
        .saturating_sub(headroom)
}

/// A `struct virtio_net_hdr` as bytes, in the order user space sees.
pub(crate) type VnetHdr = [u8; VNET_HDR_LEN];

/// A witness that bottom halves are disabled on this CPU (or interrupts,
/// which excludes them too) for as long as it is borrowed: softirqs do not
/// run and the task cannot migrate, as BPF programs and the receive path
/// need.
///
/// Only kapi makes one: a [`BhDisabled`] guard derefs to it, and callbacks
/// the core calls with BH disabled (`ndo_start_xmit`, `ndo_select_queue`)
/// lend one for their duration. Not `Send`: it belongs to its CPU.
pub(crate) struct BhOff(PhantomData<*mut ()>);

impl BhOff {
    /// # Safety
    ///
    /// Bottom halves (or interrupts) must be disabled on this CPU for the
    /// whole life of the returned value.
    pub(super) unsafe fn assume() -> Self {
        Self(PhantomData)
    }

    /// The CPU we run on, which we cannot leave while BH is off
    /// (`smp_processor_id`).
    pub(crate) fn cpu(&self) -> u32 {
        // SAFETY: Reads this CPU's number.
        unsafe { bindings::raw_smp_processor_id() }
    }
}

/// Whether `local_bh_disable` is `preempt_count_add(SOFTIRQ_DISABLE_OFFSET)`
/// alone, one `%gs`-relative add to this CPU's `pcpu_hot.preempt_count`:
/// x86-64 SMP without IRQ-flag tracing, PREEMPT_RT or preemption
/// debugging/tracing, all of which make it a call.
const BH_DISABLE_IS_ADD: bool = cfg!(all(
    target_arch = "x86_64",
    CONFIG_SMP,
    not(any(
        CONFIG_TRACE_IRQFLAGS,
        CONFIG_PREEMPT_RT,
        CONFIG_DEBUG_PREEMPT,
        CONFIG_TRACE_PREEMPT_TOGGLE
    ))
));

/// Bottom halves disabled on this CPU until drop (`local_bh_disable`).
pub(crate) struct BhDisabled(BhOff);

impl BhDisabled {
    pub(crate) fn new() -> Self {
        if BH_DISABLE_IS_ADD {
            let count = super::current::pcpu_hot_field(core::mem::offset_of!(
                bindings::pcpu_hot__bindgen_ty_1__bindgen_ty_1,
                preempt_count
            ));
            // The `asm!` may touch memory: it is `barrier()` too, as C's
            // `__local_bh_disable_ip` ends with one.
            // One read-modify-write instruction cannot be torn by an
            // interrupt or a migration; disabling BH is always allowed in
            // process context, and `drop` enables it again.
            // SAFETY: `count` is this CPU's `preempt_count` once `%gs` is
            // added.
            unsafe {
                core::arch::asm!(
                    "addl ${cnt}, %gs:({count})",
                    cnt = const bindings::SOFTIRQ_DISABLE_OFFSET,
                    count = in(reg) count,
                    options(att_syntax, nostack),
                );
            }
        } else {
            // SAFETY: Always allowed in process context; paired with the
            // enable in `drop`.
            unsafe { bindings::local_bh_disable() };
        }
        // SAFETY: Disabled from here until `drop`, which outlives the field.
        Self(unsafe { BhOff::assume() })
    }
}

impl core::ops::Deref for BhDisabled {
    type Target = BhOff;

    fn deref(&self) -> &BhOff {
        &self.0
    }
}

impl Drop for BhDisabled {
    fn drop(&mut self) {
        // `local_bh_enable` is `__local_bh_enable_ip(_THIS_IP_,
        // SOFTIRQ_DISABLE_OFFSET)`, called here directly rather than
        // through its helper; the address only feeds IRQ-flag tracing.
        // CAST: A function's address, as `_THIS_IP_` is a code address.
        let ip = Self::new as *const () as usize;
        // SAFETY: This guard disabled BH.
        unsafe { bindings::__local_bh_enable_ip(ip, bindings::SOFTIRQ_DISABLE_OFFSET) };
    }
}

/// An owned reference to a socket buffer.
///
/// # Invariants
///
/// `self.0` points to a valid `sk_buff` of which this object owns one
/// reference (`skb->users`).
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: An skb reference may be passed to and dropped on any thread.
unsafe impl Send for SkBuff {}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference.
        unsafe { bindings::kfree_skb(self.as_raw()) };
    }
}

impl SkBuff {
    /// Takes ownership of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid skb whose reference the caller hands over.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::sk_buff) -> Self {
        // SAFETY: The caller passes a valid, hence non-NULL, pointer.
        // INVARIANT: Ownership of the reference comes with it.
        Self(unsafe { NonNull::new_unchecked(ptr) })
    }

    pub(super) fn as_raw(&self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// Gives up ownership: the caller gets our reference.
    pub(super) fn into_raw(self) -> *mut bindings::sk_buff {
        let skb = self.as_raw();
        core::mem::forget(self);
        skb
    }

    /// Makes sure the head holds the first `len` bytes (`pskb_may_pull`),
    /// pulling them from the fragments if needed; false if the packet is
    /// shorter or memory ran out.
    pub(crate) fn may_pull(&mut self, len: u32) -> bool {
        // `pskb_may_pull`'s own fast path, in place.
        if len <= self.headlen() {
            return true;
        }
        // SAFETY: We own a reference to a valid skb (type invariant).
        unsafe { bindings::pskb_may_pull(self.as_raw(), len) }
    }

    /// `skb->len`: bytes of packet data.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: We own a reference to a valid skb (type invariant).
        unsafe { (*self.as_raw()).len }
    }

    /// `skb->protocol`, in network byte order as stored.
    pub(crate) fn protocol_be(&self) -> u16 {
        self.headers().protocol
    }

    /// Sets `skb->protocol` (network byte order).
    pub(crate) fn set_protocol_be(&mut self, proto: u16) {
        self.headers_mut().protocol = proto;
    }

    /// Makes this a packet received on `dev` (`skb->dev = dev`, no
    /// reference taken, as receive paths do). The device outlives the
    /// [`RxSkb`], so the pointer stays valid until the stack takes over.
    pub(crate) fn into_rx(self, dev: &NetDevice) -> RxSkb<'_> {
        // SAFETY: We own the skb exclusively.
        unsafe {
            (*self.as_raw())
                .__bindgen_anon_1
                .__bindgen_anon_1
                .__bindgen_anon_1
                .dev = dev.as_raw()
        };
        // INVARIANT: `skb->dev` is `dev`, borrowed for `'_`.
        RxSkb { skb: self, dev }
    }

    /// Copies `len` bytes from `offset` into `iter` (`skb_copy_datagram_iter`).
    pub(crate) fn copy_to_iter(&self, offset: u32, iter: &mut IovIter, len: u32) -> Result {
        // CAST: Offsets and lengths within an skb fit an int.
        // SAFETY: Valid skb and iterator.
        let ret = unsafe {
            bindings::skb_copy_datagram_iter(
                self.as_raw(),
                offset as i32,
                iter.as_raw(),
                len as i32,
            )
        };
        super::error::to_result(ret)
    }

    /// The first six bytes of packet data (an Ethernet destination), if the
    /// linear area holds them.
    pub(crate) fn dest_mac(&self) -> Option<[u8; 6]> {
        // SAFETY: The skb is valid; `skb_headlen` bytes at `data` are
        // readable, and we read six only if there are six.
        unsafe {
            if self.headlen() < 6 {
                return None;
            }
            Some(core::ptr::read_unaligned(
                (*self.as_raw()).data.cast::<[u8; 6]>(),
            ))
        }
    }

    /// The first byte of packet data, pulled into the head if it is not
    /// there (`pskb_may_pull(skb, 1)`); `None` for an empty packet.
    #[inline(always)]
    pub(crate) fn first_byte(&mut self) -> Option<u8> {
        if !self.may_pull(1) {
            return None;
        }
        // SAFETY: The skb is valid and its head holds at least one byte
        // (just checked).
        Some(unsafe { *(*self.as_raw()).data })
    }

    /// `skb_reset_mac_header` and `skb_reset_network_header`: the packet
    /// starts at `data`, which is where an L3 packet's header is too.
    pub(crate) fn reset_headers(&mut self) {
        let at = self.data_offset();
        let hdr = self.headers_mut();
        hdr.mac_header = at;
        hdr.network_header = at;
    }

    /// `eth_type_trans`: parses the Ethernet header, sets `protocol` and
    /// `dev`, and pulls the header. `ENOMEM` if the packet's head cannot
    /// be made to hold a whole header (tun.c's `pskb_may_pull` before it).
    pub(crate) fn eth_type_trans(mut self, dev: &NetDevice) -> Result<RxSkb<'_>> {
        if !self.may_pull(bindings::ETH_HLEN) {
            return Err(ENOMEM);
        }
        // SAFETY: We own the valid skb, whose head holds ETH_HLEN bytes
        // (just checked); `dev` is valid.
        let proto = unsafe { bindings::eth_type_trans(self.as_raw(), dev.as_raw()) };
        self.set_protocol_be(proto);
        // INVARIANT: `eth_type_trans` set `skb->dev` to `dev`.
        Ok(RxSkb { skb: self, dev })
    }

    /// Detaches the skb from its sending socket and conntrack, so that it
    /// can wait in a ring indefinitely (`skb_orphan`, `nf_reset_ct`).
    ///
    /// The four inline C functions are done here, on every transmitted
    /// packet, with calls only where C calls out of line too.
    pub(crate) fn orphan(&mut self) -> Result {
        let skb = self.as_raw();
        let shinfo = self.shinfo();
        // SAFETY: We own the valid skb, whose shared info is valid with it
        // (layouts checked by `kernel/check-layout.py`); GFP_ATOMIC suits
        // transmit context.
        unsafe {
            // `skb_orphan_frags_rx`: user pages of a zero-copy sender are
            // copied, so that the packet can wait indefinitely.
            // `skb_zcopy`: the flag and a `ubuf_info`.
            if u32::from((*shinfo).flags) & bindings::SKBFL_ZEROCOPY_ENABLE != 0
                && !(*shinfo).destructor_arg.is_null()
                && bindings::skb_copy_ubufs(skb, bindings::GFP_ATOMIC) != 0
            {
                return Err(ENOMEM);
            }
            // `skb_tx_timestamp`.
            #[cfg(CONFIG_NETWORK_PHY_TIMESTAMPING)]
            bindings::skb_clone_tx_timestamp(skb);
            if u32::from((*shinfo).tx_flags) & bindings::SKBTX_SW_TSTAMP != 0 {
                bindings::skb_tstamp_tx(skb, core::ptr::null_mut());
            }
            // `skb_orphan`. An owner without a destructor is a broken skb,
            // for which C's own `skb_orphan` `BUG`s, as it should here.
            let destructor =
                core::ptr::addr_of_mut!((*skb).__bindgen_anon_3.__bindgen_anon_1.destructor);
            if let Some(f) = *destructor {
                f(skb);
                *destructor = None;
                (*skb).sk = core::ptr::null_mut();
            } else if !(*skb).sk.is_null() {
                bindings::skb_orphan(skb);
            }
            // `nf_reset_ct`, a no-op without conntrack.
            #[cfg(CONFIG_NF_CONNTRACK)]
            bindings::nf_reset_ct(skb);
        }
        Ok(())
    }

    /// `skb_shinfo`: the shared info at the end of the head, `end` bytes
    /// from `head` on 64-bit (`NET_SKBUFF_DATA_USES_OFFSET`).
    fn shinfo(&self) -> *mut bindings::skb_shared_info {
        // SAFETY: A valid skb's `head + end` is its shared info, inside the
        // head allocation.
        unsafe {
            let skb = self.as_raw();
            // CAST: `end` is an offset into the head on 64-bit.
            (*skb).head.add((*skb).end as usize).cast()
        }
    }

    /// The 802.1Q tag held out of band (`skb_vlan_tag_present`), as the
    /// 4 bytes to insert after the MAC addresses: protocol and TCI.
    pub(crate) fn vlan_tag(&self) -> Option<[u8; 4]> {
        // `vlan_all` overlays `vlan_proto` and `vlan_tci`: the tag is present
        // when either is non-zero (`skb_vlan_tag_present`), and `vlan_tci`
        // is `skb_vlan_tag_get`.
        let vlan = &self.headers().__bindgen_anon_2;
        // SAFETY: Both views of the union are plain integers, valid for
        // any bits, and C keeps them initialised (`skb` is zeroed up to
        // `tail` on allocation).
        let (all, tag) = unsafe { (vlan.vlan_all, vlan.__bindgen_anon_1) };
        if all == 0 {
            return None;
        }
        let mut out = [0u8; 4];
        out[..2].copy_from_slice(&tag.vlan_proto.to_ne_bytes());
        out[2..].copy_from_slice(&tag.vlan_tci.to_be_bytes());
        Some(out)
    }

    /// Writes into `out` the virtio-net header describing this packet's
    /// checksum and GSO state (`virtio_net_hdr_from_skb` with
    /// `has_data_valid`); `EINVAL` for a GSO type it cannot express.
    ///
    /// The C function is a header inline, which tun.c has inlined and a
    /// helper would call out of line on every read with a header; it is
    /// done here in place, from the fields `kernel/check-layout.py` proves.
    /// Written into the caller's buffer rather than returned: returned, LLVM
    /// merged the ways of making it byte by byte in registers.
    pub(crate) fn vnet_hdr(
        &self,
        little_endian: bool,
        vlan_hlen: u16,
        out: &mut VnetHdr,
    ) -> Result {
        // `__cpu_to_virtio16`.
        let v16 = |x: u16| {
            if little_endian {
                x.to_le_bytes()
            } else {
                x.to_be_bytes()
            }
        };
        *out = [0; VNET_HDR_LEN];
        // SAFETY: The shared info is valid with the valid skb (layout
        // checked by `kernel/check-layout.py`); nothing writes the GSO
        // fields of an skb we hold.
        let (gso_size, gso_type) = unsafe {
            let shinfo = self.shinfo();
            ((*shinfo).gso_size, (*shinfo).gso_type)
        };
        if gso_size != 0 {
            // CAST: C converts `skb_headlen` to the 16-bit field the same
            // way; it is a hint of how much to make linear.
            out[2..4].copy_from_slice(&v16(self.headlen() as u16));
            out[4..6].copy_from_slice(&v16(gso_size));
            let kind = if gso_type & bindings::SKB_GSO_TCPV4 != 0 {
                bindings::VIRTIO_NET_HDR_GSO_TCPV4
            } else if gso_type & bindings::SKB_GSO_TCPV6 != 0 {
                bindings::VIRTIO_NET_HDR_GSO_TCPV6
            } else if gso_type & bindings::SKB_GSO_UDP_L4 != 0 {
                bindings::VIRTIO_NET_HDR_GSO_UDP_L4
            } else {
                return Err(EINVAL);
            };
            let ecn = if gso_type & bindings::SKB_GSO_TCP_ECN != 0 {
                bindings::VIRTIO_NET_HDR_GSO_ECN
            } else {
                0
            };
            // CAST: The `gso_type` values are `u8`s.
            out[1] = (kind | ecn) as u8;
        }
        match self.ip_summed() {
            bindings::CHECKSUM_PARTIAL => {
                // SAFETY: Both views of the union are plain integers, valid
                // for any bits; a checksum-partial skb holds the start and
                // offset (layout checked by `kernel/check-layout.py`).
                let csum = unsafe { self.headers().__bindgen_anon_1.__bindgen_anon_1 };
                // `skb_checksum_start_offset` plus the tag put back, which
                // C converts to the 16-bit field as these wrap.
                let start = csum
                    .csum_start
                    .wrapping_sub(self.data_offset())
                    .wrapping_add(vlan_hlen);
                // CAST: The flag is a bit of the `u8` `flags`.
                out[0] = bindings::VIRTIO_NET_HDR_F_NEEDS_CSUM as u8;
                out[6..8].copy_from_slice(&v16(start));
                out[8..10].copy_from_slice(&v16(csum.csum_offset));
            }
            // CAST: As above.
            bindings::CHECKSUM_UNNECESSARY => out[0] = bindings::VIRTIO_NET_HDR_F_DATA_VALID as u8,
            _ => {}
        }
        Ok(())
    }

    /// Applies a virtio-net header from user space: checksum offload and
    /// GSO (`virtio_net_hdr_to_skb`); `EINVAL` if it is inconsistent.
    pub(crate) fn apply_vnet_hdr(&mut self, hdr: &VnetHdr, little_endian: bool) -> Result {
        // SAFETY: `virtio_net_hdr` is 10 plain bytes, any value valid.
        let hdr: bindings::virtio_net_hdr = unsafe { core::mem::transmute(*hdr) };
        if u32::from(hdr.gso_type) == bindings::VIRTIO_NET_HDR_GSO_NONE
            && u32::from(hdr.flags) & bindings::VIRTIO_NET_HDR_F_NEEDS_CSUM == 0
        {
            // No GSO and no checksum to complete, what every header of a
            // plain write says: then all `virtio_net_hdr_to_skb` does is
            // `skb_reset_mac_header` and succeed. tun.c calls it anyway,
            // out of line (~44 instructions a packet); this does less.
            let at = self.data_offset();
            self.headers_mut().mac_header = at;
            return Ok(());
        }
        // SAFETY: Valid skb we own, valid header.
        if unsafe { bindings::virtio_net_hdr_to_skb(self.as_raw(), &hdr, little_endian) } != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// The symmetric flow hash (`__skb_get_hash_symmetric`).
    pub(crate) fn symmetric_hash(&self) -> u32 {
        // SAFETY: Valid skb; a NULL net is what the C macro passes.
        unsafe { bindings::__skb_get_hash_symmetric_net(core::ptr::null(), self.as_raw()) }
    }

    /// Cuts the packet to `len` bytes (`pskb_trim`); `ENOMEM` if the data
    /// could not be unshared.
    pub(crate) fn trim(&mut self, len: u32) -> Result {
        // SAFETY: We own a reference to a valid skb (type invariant).
        super::error::to_result(unsafe { bindings::pskb_trim(self.as_raw(), len) })
    }

    /// `skb->queue_mapping`.
    pub(crate) fn queue_mapping(&self) -> u16 {
        // SAFETY: The skb is valid; `queue_mapping` is a plain field.
        unsafe { (*self.as_raw()).queue_mapping }
    }

    /// Frees a packet that was delivered (`consume_skb`): not a drop.
    pub(crate) fn consume(self) {
        let skb = self.into_raw();
        // Without tracepoints `consume_skb` is `kfree_skb`, which is
        // `sk_skb_reason_drop(NULL, skb, SKB_DROP_REASON_NOT_SPECIFIED)`:
        // called directly, not through two inline wrappers in a helper.
        #[cfg(not(CONFIG_TRACEPOINTS))]
        // SAFETY: We pass our reference.
        unsafe {
            bindings::sk_skb_reason_drop(
                core::ptr::null_mut(),
                skb,
                bindings::skb_drop_reason_SKB_DROP_REASON_NOT_SPECIFIED,
            )
        };
        #[cfg(CONFIG_TRACEPOINTS)]
        // SAFETY: We pass our reference.
        unsafe {
            bindings::consume_skb(skb)
        };
    }

    /// The `headers` group of `struct sk_buff` (`struct_group(headers,
    /// ...)`): bindgen gives the group as a union of zero-sized views at
    /// its start, so its struct view is at the union's own address.
    fn headers_raw(&self) -> *mut bindings::sk_buff__bindgen_ty_4__bindgen_ty_1 {
        // SAFETY: `as_raw` points to a valid skb (type invariant); taking
        // a field's address reads nothing.
        unsafe { addr_of_mut!((*self.as_raw()).__bindgen_anon_4) }.cast()
    }

    /// The header offsets, `protocol`, the VLAN tag, ...: plain integers.
    fn headers(&self) -> &bindings::sk_buff__bindgen_ty_4__bindgen_ty_1 {
        // SAFETY: `headers_raw` points into our valid skb at the group's
        // struct view, whose members are at the offsets C gives them
        // (checked by `kernel/check-layout.py`) and valid for any bits;
        // nothing else writes an skb we hold while we borrow it.
        unsafe { &*self.headers_raw() }
    }

    /// `skb->ip_summed`, a `CHECKSUM_*` value.
    fn ip_summed(&self) -> u32 {
        // The bitfield's bits of the byte at `__pkt_type_offset`, proved by
        // `bits:sk_buff:ip_summed:__pkt_type_offset:0x60` in
        // `kernel/layout-structs`.
        const MASK: u8 = 0x60;
        // SAFETY: `headers_raw` points into our valid skb, where the
        // zero-sized `__pkt_type_offset` marks the byte holding `ip_summed`
        // (offset checked by `kernel/check-layout.py`), initialised like all
        // of the skb's header fields; a `u8` is valid for any bits.
        let byte = unsafe { *addr_of!((*self.headers_raw()).__pkt_type_offset).cast::<u8>() };
        u32::from((byte & MASK) >> MASK.trailing_zeros())
    }

    /// [`Self::headers`], to write.
    fn headers_mut(&mut self) -> &mut bindings::sk_buff__bindgen_ty_4__bindgen_ty_1 {
        // SAFETY: As for `headers`; we own the skb and borrow it mutably,
        // so this is the only reference into it.
        unsafe { &mut *self.headers_raw() }
    }

    /// `skb->data - skb->head`, which `skb_reset_*_header` store as a
    /// header's offset.
    fn data_offset(&self) -> u16 {
        // SAFETY: The skb is valid (type invariant): two pointer fields.
        let (data, head) = unsafe { ((*self.as_raw()).data, (*self.as_raw()).head) };
        // CAST: `data` lies in the head, less than 64 KiB past `head`; C
        // truncates to the `u16` field the same way.
        (data as usize).wrapping_sub(head as usize) as u16
    }

    /// `skb_headlen`: the bytes in the linear area.
    fn headlen(&self) -> u32 {
        // SAFETY: The skb is valid; `len` and `data_len` are plain fields
        // (layout checked by `kernel/check-layout.py`), and the linear part
        // is `len - data_len`, never negative.
        unsafe { (*self.as_raw()).len.wrapping_sub((*self.as_raw()).data_len) }
    }
}

/// A packet on its way into the stack through a device: `skb->dev` is
/// set, and the device outlives the packet until [`RxSkb::receive`] hands
/// it over, so the stack never sees a dangling `skb->dev`.
///
/// # Invariants
///
/// `skb`'s `dev` field points to `dev`.
pub(crate) struct RxSkb<'a> {
    skb: SkBuff,
    dev: &'a NetDevice,
}

impl<'a> RxSkb<'a> {
    /// The packet and the device it is received through.
    pub(super) fn into_parts(self) -> (SkBuff, &'a NetDevice) {
        (self.skb, self.dev)
    }

    /// The stack's view of a received packet: network header at `data`,
    /// transport header probed, received on queue `queue`
    /// (`skb_reset_network_header`, `skb_probe_transport_header`,
    /// `skb_record_rx_queue`).
    pub(crate) fn prepare_rx(&mut self, queue: u32) {
        let at = self.skb.data_offset();
        self.skb.headers_mut().network_header = at;
        self.probe_transport_header();
        let skb = self.skb.as_raw();
        // SAFETY: We own a reference to a valid skb (type invariant); the
        // queue mapping is a plain field.
        unsafe {
            // `skb_record_rx_queue`: the queue, plus one.
            // CAST: Queue indices are below MAX_TAP_QUEUES (256).
            (*skb).queue_mapping = (queue as u16).wrapping_add(1);
        }
    }

    /// `skb_probe_transport_header`, in place rather than through its
    /// helper: unless the transport header is set, the basic flow
    /// dissector finds it.
    fn probe_transport_header(&mut self) {
        // `skb_transport_header_was_set`: the field is all ones until then.
        if self.skb.headers().transport_header != u16::MAX {
            return;
        }
        // `skb_flow_dissect_flow_keys_basic`: zeroed keys, no net, the
        // skb's own data and protocol, no flags.
        let mut keys = bindings::flow_keys_basic::default();
        // SAFETY: The skb is a valid one we own (type invariant of
        // `SkBuff`); `flow_keys_basic_dissector` is the kernel's exported,
        // initialised dissector for exactly `struct flow_keys_basic`, which
        // it only reads; `keys` is valid for writes.
        let found = unsafe {
            bindings::__skb_flow_dissect(
                core::ptr::null(),
                self.skb.as_raw(),
                addr_of_mut!(bindings::flow_keys_basic_dissector),
                addr_of_mut!(keys).cast(),
                core::ptr::null(),
                0,
                0,
                0,
                0,
            )
        };
        if found {
            // `skb_set_transport_header`: offset from `data`, truncated to
            // the field as C does.
            let at = self.skb.data_offset().wrapping_add(keys.control.thoff);
            self.skb.headers_mut().transport_header = at;
        }
    }

    /// Hands the packet to the stack on this CPU, now (`netif_receive_skb`,
    /// as `tun_rx_batched` does unbatched, with BH disabled, possibly across
    /// a batch), and counts `len` received bytes on its device.
    pub(crate) fn receive(self, _bh: &BhOff, len: u32) {
        let dev = self.dev;
        let skb = self.skb.into_raw();
        // SAFETY: BH is disabled (`BhOff`), as the stack expects of
        // process-context callers; we pass our reference, which the stack
        // consumes, and `skb->dev` is the valid `dev` (type invariant).
        unsafe { bindings::netif_receive_skb(skb) };
        dev.rx_add(len, _bh);
    }

    /// The symmetric flow hash (`__skb_get_hash_symmetric`).
    pub(crate) fn symmetric_hash(&self) -> u32 {
        self.skb.symmetric_hash()
    }

    /// The device it is received through.
    pub(crate) fn dev(&self) -> &'a NetDevice {
        self.dev
    }

    /// Whether its MAC header offset is set (`skb_mac_header_was_set`).
    pub(super) fn has_mac_header(&self) -> bool {
        self.skb.headers().mac_header != u16::MAX
    }

    /// Makes `ubuf` complete when the packet is done with its fragments,
    /// which [`Socket::alloc_skb_from_iter`] pinned from the sender.
    ///
    /// [`Socket::alloc_skb_from_iter`]: super::tun_socket::Socket::alloc_skb_from_iter
    pub(crate) fn zcopy_init(&mut self, ubuf: super::tun_socket::Ubuf) {
        ubuf.attach(self.skb.as_raw());
    }
}

/// `skb_reserve`: `len` bytes of headroom before the (empty) data, done in
/// place rather than through a helper on every packet.
///
/// # Safety
///
/// `skb` must be a valid skb of the caller's whose head has `len` bytes of
/// tailroom.
pub(super) unsafe fn skb_reserve(skb: *mut bindings::sk_buff, len: u32) {
    // SAFETY: Valid and the caller's; `data + len` stays within the head.
    unsafe {
        // CAST: A headroom within the head, below 64 KiB.
        (*skb).data = (*skb).data.add(len as usize);
        (*skb).tail = (*skb).tail.wrapping_add(len);
    }
}

/// The `next`/`prev` pair that begins both an skb and a queue head (C's
/// `struct sk_buff_list`): a queue is a ring of them through its head.
/// `kernel/check-layout.py` checks both at these offsets in both structs.
#[repr(C)]
struct SkbLink {
    next: *mut bindings::sk_buff,
    prev: *mut bindings::sk_buff,
}

// The links sit where `SkbLink` has them, in an skb and in a queue head.
const _: () = {
    use core::mem::offset_of;
    assert!(
        offset_of!(bindings::sk_buff, __bindgen_anon_1)
            + offset_of!(bindings::sk_buff__bindgen_ty_1__bindgen_ty_1, next)
            == offset_of!(SkbLink, next)
    );
    assert!(
        offset_of!(bindings::sk_buff, __bindgen_anon_1)
            + offset_of!(bindings::sk_buff__bindgen_ty_1__bindgen_ty_1, prev)
            == offset_of!(SkbLink, prev)
    );
    assert!(
        offset_of!(bindings::sk_buff_head, __bindgen_anon_1)
            + offset_of!(bindings::sk_buff_head__bindgen_ty_1__bindgen_ty_1, next)
            == offset_of!(SkbLink, next)
    );
    assert!(
        offset_of!(bindings::sk_buff_head, __bindgen_anon_1)
            + offset_of!(bindings::sk_buff_head__bindgen_ty_1__bindgen_ty_1, prev)
            == offset_of!(SkbLink, prev)
    );
};

/// An `sk_buff_head` whose spinlock we hold (plain `spin_lock`, as tun.c
/// takes it with BH off), for the unlocked `__skb_*` operations on it;
/// unlocked on drop.
///
/// # Invariants
///
/// `q` is an initialised queue, valid for `'a`, whose lock we hold; every
/// skb linked into it is owned by the queue.
pub(crate) struct LockedQueue<'a> {
    q: *mut bindings::sk_buff_head,
    _bh: PhantomData<&'a BhOff>,
}

impl<'a> LockedQueue<'a> {
    /// Takes `q`'s lock.
    ///
    /// # Safety
    ///
    /// `q` must be an initialised queue, valid for `'a`, whose skbs it
    /// owns, and whose lock nothing takes in hard-interrupt context and
    /// every process-context user takes with BH (or interrupts) off, so that
    /// a plain `spin_lock` here cannot deadlock with it.
    pub(crate) unsafe fn lock(q: *mut bindings::sk_buff_head, _bh: &'a BhOff) -> Self {
        // SAFETY: An initialised queue whose users all keep BH off or take
        // it irqsave (the caller): a plain spinlock cannot deadlock here.
        unsafe { super::spinlock::lock(addr_of_mut!((*q).lock)) };
        // INVARIANT: Locked just now; the rest from the caller.
        Self {
            q,
            _bh: PhantomData,
        }
    }

    fn link<T>(p: *mut T) -> *mut SkbLink {
        p.cast()
    }

    /// How many skbs wait (`skb_queue_len`).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: Valid and locked (type invariant).
        unsafe { (*self.q).qlen }
    }

    /// `__skb_queue_tail`: the queue takes `skb`.
    ///
    /// # Safety
    ///
    /// `skb` must be on no list and used by nobody else (its links are
    /// rewritten): a fresh skb, as a written packet is.
    pub(crate) unsafe fn push_tail(&mut self, skb: SkBuff) {
        let skb = skb.into_raw();
        let head = self.q.cast::<bindings::sk_buff>();
        // The new skb goes between the last one (or the head) and the head,
        // as `__skb_insert` links it, with the same `WRITE_ONCE`s for
        // lockless `skb_queue_empty`/`len` readers.
        // SAFETY: Valid and locked (type invariant), so the ring of links
        // is ours to change; `skb` is on no list and ours alone (the
        // caller).
        unsafe {
            let l = Self::link(self.q);
            let prev = (*l).prev;
            (*Self::link(skb)).next = head;
            (*Self::link(skb)).prev = prev;
            addr_of_mut!((*l).prev).write_volatile(skb);
            addr_of_mut!((*Self::link(prev)).next).write_volatile(skb);
            let qlen = addr_of_mut!((*self.q).qlen);
            qlen.write_volatile((*qlen).wrapping_add(1));
        }
    }

    /// `__skb_dequeue`: the oldest skb, if any.
    pub(crate) fn pop(&mut self) -> Option<SkBuff> {
        let head = self.q.cast::<bindings::sk_buff>();
        // SAFETY: Valid and locked (type invariant): the first link is the
        // oldest skb unless it is the head itself; unlinked as
        // `__skb_unlink` does, it is the queue's reference, now ours.
        unsafe {
            let skb = (*Self::link(self.q)).next;
            if skb == head {
                return None;
            }
            let qlen = addr_of_mut!((*self.q).qlen);
            qlen.write_volatile((*qlen).wrapping_sub(1));
            let (next, prev) = ((*Self::link(skb)).next, (*Self::link(skb)).prev);
            (*Self::link(skb)).next = core::ptr::null_mut();
            (*Self::link(skb)).prev = core::ptr::null_mut();
            addr_of_mut!((*Self::link(next)).prev).write_volatile(prev);
            addr_of_mut!((*Self::link(prev)).next).write_volatile(next);
            Some(SkBuff::from_raw(skb))
        }
    }
}

impl Drop for LockedQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: We hold the lock (type invariant).
        unsafe { super::spinlock::unlock(addr_of_mut!((*self.q).lock)) };
    }
}
