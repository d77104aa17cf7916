// SPDX-License-Identifier: GPL-2.0

//! XDP: the program a device runs on what it receives ([`XdpProgSlot`],
//! installed by `ndo_bpf`), packets it runs on in place ([`XdpPacket`])
//! inside a BPF network context ([`with_net_ctx`]), the frames its
//! `XDP_TX` and other devices' `XDP_REDIRECT` queue for readers
//! ([`XdpFrame`], [`XmitFrames`]), and each receive queue's
//! `xdp_rxq_info` ([`XdpRxq`]).
//!
//! Lock order: none of its own; the programs and the redirect maps take
//! their locks inside the C calls, with BH disabled.
//!
//! C headers: [`include/net/xdp.h`](srctree/include/net/xdp.h),
//! [`include/linux/filter.h`](srctree/include/linux/filter.h)

use core::{
    marker::PhantomData,
    mem::{ManuallyDrop, MaybeUninit},
    ptr::{addr_of_mut, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};

use kernel::{bindings, prelude::*};

use super::{
    iov::IovIter,
    net::Rtnl,
    netdev::NetDevice,
    rcu,
    skbuff::{skb_data_align, BhOff, SkBuff},
};

/// `XDP_PACKET_HEADROOM`: what a packet an XDP program runs on has in
/// front of it, for the program to grow the headers into and for the
/// `xdp_frame` a transmitted or redirected packet becomes.
// CAST: 256.
pub(crate) const XDP_PACKET_HEADROOM: u32 = bindings::XDP_PACKET_HEADROOM;

/// An XDP program reference, as `ndo_bpf` hands one over
/// (`XDP_SETUP_PROG`).
///
/// # Invariants
///
/// `self.0` is a valid program on which we own a reference.
pub(crate) struct XdpProg(NonNull<bindings::bpf_prog>);

// SAFETY: Program references may be used and dropped on any thread.
unsafe impl Send for XdpProg {}
// SAFETY: Running a program needs only a shared reference.
unsafe impl Sync for XdpProg {}

impl XdpProg {
    /// # Safety
    ///
    /// `prog` is NULL or a valid program whose reference passes to us.
    pub(super) unsafe fn from_raw(prog: *mut bindings::bpf_prog) -> Option<Self> {
        // INVARIANT: From the caller.
        NonNull::new(prog).map(Self)
    }
}

impl Drop for XdpProg {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::bpf_prog_put(self.0.as_ptr()) };
    }
}

/// A device's XDP program, read under RCU (tun.c's `tun->xdp_prog`).
///
/// # Invariants
///
/// A non-NULL pointer owns a program reference. `bpf_prog_put` frees a
/// program only after an RCU grace period (`__bpf_prog_put_noref` defers
/// with `call_rcu`), so a program loaded inside a read section stays valid
/// for the section even if its slot's reference is dropped meanwhile.
pub(crate) struct XdpProgSlot(AtomicPtr<bindings::bpf_prog>);

impl XdpProgSlot {
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// The program, for as long as the read section lasts.
    pub(crate) fn get<'a>(&'a self, _guard: &'a rcu::Guard) -> Option<XdpProgRef<'a>> {
        // INVARIANT: Valid for the section (type invariant of the slot).
        NonNull::new(self.0.load(Ordering::Acquire)).map(|p| XdpProgRef(p, PhantomData))
    }

    /// Whether a program is installed, under RTNL, which excludes writers.
    pub(crate) fn is_set(&self, _rtnl: &Rtnl) -> bool {
        !self.0.load(Ordering::Relaxed).is_null()
    }

    /// Installs `prog`, or removes the program for `None` (`tun_xdp_set`):
    /// the old reference is dropped at once, and readers that still run
    /// the old program keep it alive to the end of their sections.
    pub(crate) fn replace(&self, _rtnl: &Rtnl, prog: Option<XdpProg>) {
        let new = prog.map_or(core::ptr::null_mut(), |p| ManuallyDrop::new(p).0.as_ptr());
        let old = self.0.swap(new, Ordering::AcqRel);
        // INVARIANT: The slot's old reference is ours now.
        // SAFETY: `old` is NULL or the slot's reference (type invariant).
        drop(unsafe { XdpProg::from_raw(old) });
    }
}

impl Drop for XdpProgSlot {
    fn drop(&mut self) {
        // SAFETY: The slot's reference (type invariant), which nobody can
        // reach any more.
        drop(unsafe { XdpProg::from_raw(*self.0.get_mut()) });
    }
}

/// An XDP program borrowed from an [`XdpProgSlot`] inside an RCU read
/// section.
///
/// # Invariants
///
/// `self.0` is a valid program for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct XdpProgRef<'a>(NonNull<bindings::bpf_prog>, PhantomData<&'a rcu::Guard>);

impl XdpProgRef<'_> {
    pub(super) fn as_raw(&self) -> *mut bindings::bpf_prog {
        self.0.as_ptr()
    }
}

/// What an XDP program decided (`enum xdp_action`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Aborted,
    Drop,
    Pass,
    Tx,
    Redirect,
    /// A value no kernel defines: treated as `Aborted`, with a warning
    /// ([`warn_invalid_action`]).
    Invalid(u32),
}

impl Verdict {
    fn from_raw(act: u32) -> Self {
        match act {
            bindings::xdp_action_XDP_ABORTED => Self::Aborted,
            bindings::xdp_action_XDP_DROP => Self::Drop,
            bindings::xdp_action_XDP_PASS => Self::Pass,
            bindings::xdp_action_XDP_TX => Self::Tx,
            bindings::xdp_action_XDP_REDIRECT => Self::Redirect,
            other => Self::Invalid(other),
        }
    }

    fn as_raw(self) -> u32 {
        match self {
            Self::Aborted => bindings::xdp_action_XDP_ABORTED,
            Self::Drop => bindings::xdp_action_XDP_DROP,
            Self::Pass => bindings::xdp_action_XDP_PASS,
            Self::Tx => bindings::xdp_action_XDP_TX,
            Self::Redirect => bindings::xdp_action_XDP_REDIRECT,
            Self::Invalid(act) => act,
        }
    }
}

/// `bpf_warn_invalid_xdp_action`: a one-time warning naming the program.
pub(crate) fn warn_invalid_action(dev: &NetDevice, prog: XdpProgRef<'_>, act: Verdict) {
    // SAFETY: Valid device and program (type invariants).
    unsafe { bindings::bpf_warn_invalid_xdp_action(dev.as_raw(), prog.as_raw(), act.as_raw()) };
}

/// The `xdp:xdp_exception` trace event (`trace_xdp_exception`).
pub(crate) fn trace_exception(dev: &NetDevice, prog: XdpProgRef<'_>, act: Verdict) {
    // SAFETY: Valid device and program (type invariants).
    unsafe { bindings::trace_xdp_exception(dev.as_raw(), prog.as_raw(), act.as_raw()) };
}

/// A witness that this task has a BPF network context
/// (`current->bpf_net_context`), where `bpf_redirect` leaves its target
/// for `xdp_do_redirect` and redirected frames wait for `xdp_do_flush`.
///
/// # Invariants
///
/// Only [`with_net_ctx`] makes one, and lends it to its closure only: for
/// as long as it is borrowed, the task has a network context and BH is
/// disabled.
pub(crate) struct NetCtx<'a>(PhantomData<&'a BhOff>);

impl NetCtx<'_> {
    /// Sends the frames redirected in this context on (`xdp_do_flush`).
    pub(crate) fn flush(&self) {
        // SAFETY: Inside a network context with BH disabled (type
        // invariant).
        unsafe { bindings::xdp_do_flush() };
    }
}

/// Runs `f` in a BPF network context (`bpf_net_ctx_set`/`_clear`), or in
/// the one the task already has (inside a NAPI poll, say), with BH
/// disabled as the redirect maps need.
pub(crate) fn with_net_ctx<R>(_bh: &BhOff, f: impl FnOnce(&NetCtx<'_>) -> R) -> R {
    let mut ctx = MaybeUninit::<bindings::bpf_net_context>::uninit();
    let task = super::current::task();
    // `bpf_net_ctx_set` and `_clear`, in place rather than through two
    // helpers per call (per packet for vhost-net's batches of one).
    // `ri.kern_flags` is all of the context C initialises: the flush
    // lists are initialised on first use, as those flags record.
    // SAFETY: `task` is the running task, only it sets or clears its own
    // `bpf_net_context`, and it clears ours below, before `ctx` goes out
    // of scope.
    let set = unsafe {
        let slot = addr_of_mut!((*task).bpf_net_context);
        if slot.read().is_null() {
            addr_of_mut!((*ctx.as_mut_ptr()).ri.kern_flags).write(0);
            slot.write(ctx.as_mut_ptr());
            true
        } else {
            false
        }
    };
    // INVARIANT: The context is set (ours or the task's) and BH is off
    // (`_bh`) while `f` runs.
    let ret = f(&NetCtx(PhantomData));
    if set {
        // SAFETY: As above; the task's pointer is ours to clear.
        unsafe { addr_of_mut!((*task).bpf_net_context).write(core::ptr::null_mut()) };
    }
    ret
}

/// Where an XDP program sees a packet come in (`struct xdp_rxq_info`):
/// the device (`ingress_ifindex`), the queue (`rx_queue_index`), and how
/// the memory of the frames it becomes is returned (`MEM_TYPE_PAGE_SHARED`:
/// page fragments).
///
/// tun.c keeps one per queue, registered with the device on attach and
/// unregistered on detach, while a writer that raced the detach may still
/// run a program that reads it. rtun builds one for each packet from the
/// device the writer holds when, and only when, a program runs on the
/// packet: the program sees the same, and it can neither outlive the device
/// nor name one the queue has left. (Registering one for
/// `MEM_TYPE_PAGE_SHARED` only fills in these fields:
/// `xdp_rxq_info_reg_mem_model` keeps no allocator for that type.)
pub(crate) struct XdpRxq<'d> {
    rxq: bindings::xdp_rxq_info,
    _dev: PhantomData<&'d NetDevice>,
}

impl<'d> XdpRxq<'d> {
    /// Queue `queue_index` of `dev`.
    pub(crate) fn new(dev: &'d NetDevice, queue_index: u32) -> Self {
        // SAFETY: All-zero is a valid `xdp_rxq_info` (no device, `NEW`).
        let mut rxq: bindings::xdp_rxq_info = unsafe { MaybeUninit::zeroed().assume_init() };
        rxq.dev = dev.as_raw();
        rxq.queue_index = queue_index;
        rxq.reg_state = REG_STATE_REGISTERED;
        rxq.mem.type_ = bindings::xdp_mem_type_MEM_TYPE_PAGE_SHARED;
        Self {
            rxq,
            _dev: PhantomData,
        }
    }

    fn as_raw(&self) -> *mut bindings::xdp_rxq_info {
        // CAST: The C API takes it mutable; XDP only reads it.
        core::ptr::addr_of!(self.rxq).cast_mut()
    }
}

/// `REG_STATE_REGISTERED` of `net/core/xdp.c`'s private
/// `enum xdp_rxq_info_reg_state`.
const REG_STATE_REGISTERED: u32 = 1;

/// An XDP frame waiting in a queue's ring (`struct xdp_frame`), owned.
///
/// # Invariants
///
/// `self.0` is a valid frame that we own; `xdp_return_frame` frees it.
pub(crate) struct XdpFrame(NonNull<bindings::xdp_frame>);

// SAFETY: Frames may be returned from any context (`xdp_return_frame`).
unsafe impl Send for XdpFrame {}

impl XdpFrame {
    /// # Safety
    ///
    /// `frame` is a valid frame whose ownership passes to us.
    pub(super) unsafe fn from_raw(frame: NonNull<bindings::xdp_frame>) -> Self {
        // INVARIANT: From the caller.
        Self(frame)
    }

    pub(super) fn into_raw(self) -> NonNull<bindings::xdp_frame> {
        ManuallyDrop::new(self).0
    }

    /// The packet.
    pub(crate) fn data(&self) -> &[u8] {
        let f = self.0.as_ptr();
        // SAFETY: A valid frame (type invariant): `len` bytes at `data`,
        // which nobody writes while the frame is ours.
        unsafe { core::slice::from_raw_parts((*f).data.cast::<u8>(), (*f).len as usize) }
    }
}

impl Drop for XdpFrame {
    fn drop(&mut self) {
        // SAFETY: We own the frame (type invariant).
        unsafe { bindings::xdp_return_frame(self.0.as_ptr()) };
    }
}

/// The frames another device redirects to this one (`ndo_xdp_xmit`).
pub(crate) struct XmitFrames<'a>(&'a [*mut bindings::xdp_frame]);

impl<'a> XmitFrames<'a> {
    /// # Safety
    ///
    /// `frames` are valid frames, which stay the caller's until handed
    /// out by [`XmitFrames::queue_while`].
    pub(super) unsafe fn new(frames: &'a [*mut bindings::xdp_frame]) -> Self {
        Self(frames)
    }

    /// Hands the frames in order to `f`, which keeps each or gives it back
    /// to stop; returns how many it kept. The core frees the rest.
    pub(crate) fn queue_while(self, mut f: impl FnMut(XdpFrame) -> Result<(), XdpFrame>) -> u32 {
        let mut kept: u32 = 0;
        for &frame in self.0 {
            let Some(frame) = NonNull::new(frame) else {
                break;
            };
            // SAFETY: A valid frame of the caller's (`new`), handed out once.
            if let Err(back) = f(unsafe { XdpFrame::from_raw(frame) }) {
                // Back to the core, which frees it.
                back.into_raw();
                break;
            }
            // At most the core's `int` count of frames.
            kept = kept.saturating_add(1);
        }
        kept
    }
}

/// A packet in a page-fragment buffer that an XDP program may run on in
/// place, then become an skb, a frame, or be redirected.
///
/// # Invariants
///
/// `xdp` describes a buffer of `frame_sz` bytes at `data_hard_start` in a
/// page fragment on which we own one page reference, with the packet at
/// `data..data_end` after the headroom and the buffer's last
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` bytes free for
/// `build_skb`. `xdp.rxq` is NULL until a program runs on the packet, then
/// points to an [`XdpRxq`] that lives for `'r`: a packet that meets no
/// program (most of them) becomes an skb without one being built.
pub(crate) struct XdpPacket<'r> {
    xdp: bindings::xdp_buff,
    _rxq: PhantomData<&'r XdpRxq<'r>>,
}

impl<'r> XdpPacket<'r> {
    /// Whether a packet of `len` bytes after `headroom` fits one page with
    /// the shared info an skb around it needs (`tun_can_build_skb`).
    pub(crate) fn fits_page(headroom: u32, len: usize) -> bool {
        let shinfo = skb_data_align(core::mem::size_of::<bindings::skb_shared_info>());
        len.checked_add(headroom as usize)
            .is_some_and(|n| skb_data_align(n).saturating_add(shinfo) <= bindings::PAGE_SIZE)
    }

    /// Copies `len` bytes from `from` into a buffer carved from the task's
    /// page fragment (`current->task_frag`, as `tun_build_skb`), after
    /// `headroom` bytes: `ENOMEM` or `EFAULT`.
    pub(crate) fn from_iter(headroom: u32, len: usize, from: &mut IovIter) -> Result<Self> {
        // `skb_page_frag_refill` would hand out a smaller buffer than asked
        // for above a page.
        if !Self::fits_page(headroom, len) {
            return Err(EINVAL);
        }
        let shinfo = skb_data_align(core::mem::size_of::<bindings::skb_shared_info>());
        // Within a page (checked above): wrapping, so that no write has a
        // panic path.
        let buflen = shinfo.wrapping_add(skb_data_align(len.wrapping_add(headroom as usize)));
        // The current task's own page fragment is used only by the task
        // itself, in process context, and nothing else of the task runs
        // while we do: we have it to ourselves for these few lines.
        // `skb_page_frag_refill` leaves a page with `buflen` bytes free at
        // `offset` (else false); we take a page reference and the bytes
        // before copying into them, so the buffer is ours alone from then
        // on, whoever carves the fragment next.
        // SAFETY: See above.
        let (page, offset) = unsafe {
            let frag = addr_of_mut!((*super::current::task()).task_frag);
            // CAST: Offsets within a page.
            let aligned = skb_data_align((*frag).offset as usize) as u32;
            (*frag).offset = aligned;
            // CAST: Below a page.
            if !bindings::skb_page_frag_refill(buflen as u32, frag, bindings::GFP_KERNEL) {
                return Err(ENOMEM);
            }
            let page = (*frag).page;
            let offset = (*frag).offset;
            bindings::get_page(page);
            // CAST: As above. `skb_page_frag_refill` left `buflen` bytes
            // after `offset` in the page, so the sum cannot wrap; wrapping,
            // so that no write has a panic path.
            (*frag).offset = offset.wrapping_add(buflen as u32);
            (page, offset)
        };
        // SAFETY: The page is mapped (lowmem; `skb_page_frag_refill` pages
        // are) and the `buflen` bytes at `offset` are ours.
        let hard_start = unsafe {
            bindings::page_address(page)
                .cast::<u8>()
                .add(offset as usize)
        };
        // CAST: Below a page.
        let xdp = new_xdp_buff(hard_start, headroom as usize, len, buflen as u32);
        // INVARIANT: One page reference, a buffer of `buflen` bytes with
        // the shared info room at its end, no `rxq` yet.
        let packet = Self {
            xdp,
            _rxq: PhantomData,
        };
        // SAFETY: `len` bytes at `offset + headroom` lie within the buffer.
        let copied = unsafe {
            bindings::copy_page_from_iter(
                page,
                (offset as usize).wrapping_add(headroom as usize),
                len,
                from.as_raw(),
            )
        };
        if copied != len {
            return Err(EFAULT); // Dropping `packet` puts the page.
        }
        Ok(packet)
    }

    /// A buffer vhost-net built (`tun_xdp_one`); vhost's buffers carry no
    /// XDP metadata.
    pub(crate) fn from_vhost(buf: super::tun_socket::XdpBuff) -> Self {
        let (hard_start, headroom, len, buflen) = buf.into_parts();
        // CAST: vhost lays buffers out within a page, at non-negative
        // offsets.
        let xdp = new_xdp_buff(hard_start, headroom as usize, len as usize, buflen);
        // INVARIANT: The page reference came with `buf`; no `rxq` yet.
        Self {
            xdp,
            _rxq: PhantomData,
        }
    }

    /// The packet's length.
    pub(crate) fn len(&self) -> u32 {
        // CAST: `data_end` follows `data` within one buffer (type invariant;
        // a program may move either, within it), so no wrap, below a page.
        (self.xdp.data_end as usize).wrapping_sub(self.xdp.data as usize) as u32
    }

    /// Runs `prog` on the packet, which it may change
    /// (`bpf_prog_run_xdp`), as come in on `rxq`.
    pub(crate) fn run(
        &mut self,
        prog: XdpProgRef<'_>,
        rxq: &'r XdpRxq<'_>,
        _ctx: &NetCtx<'_>,
    ) -> Verdict {
        // INVARIANT: `rxq` is borrowed for `'r`.
        self.xdp.rxq = rxq.as_raw();
        // SAFETY: A valid program, in an RCU read section (its `'a`) with
        // BH disabled and a network context (`_ctx`); the buffer is ours
        // and laid out as the program may expect (type invariant), with
        // its `rxq`.
        Verdict::from_raw(unsafe { bindings::bpf_prog_run_xdp(prog.as_raw(), &mut self.xdp) })
    }

    /// Sends the packet where the program's `bpf_redirect*` call said
    /// (`xdp_do_redirect`): ours again if that fails.
    pub(crate) fn redirect(
        mut self,
        dev: &NetDevice,
        prog: XdpProgRef<'_>,
        _ctx: &NetCtx<'_>,
    ) -> Result<(), Self> {
        // Redirect targets read the queue's memory model.
        if self.xdp.rxq.is_null() {
            return Err(self);
        }
        // SAFETY: Valid device, buffer (with its `rxq`, checked) and
        // program, in the context the program ran in; on success the
        // packet (and our page reference) belong to the redirect target.
        let ret = unsafe { bindings::xdp_do_redirect(dev.as_raw(), &mut self.xdp, prog.as_raw()) };
        if ret == 0 {
            core::mem::forget(self);
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The packet as a frame for a ring (`xdp_convert_buff_to_frame`):
    /// `None`, the packet freed, if its headroom cannot hold the frame (or
    /// no program ran on it).
    pub(crate) fn into_frame(mut self) -> Option<XdpFrame> {
        // A frame keeps the queue's memory model.
        if self.xdp.rxq.is_null() {
            return None;
        }
        // SAFETY: A valid buffer (type invariant) with its `rxq` (checked);
        // the frame is written into its headroom and takes over our page
        // reference.
        let frame = NonNull::new(unsafe { bindings::xdp_convert_buff_to_frame(&mut self.xdp) })?;
        core::mem::forget(self);
        // SAFETY: A new frame, ours.
        Some(unsafe { XdpFrame::from_raw(frame) })
    }

    /// An skb around the buffer, without copying (`build_skb`); the page
    /// reference moves to the skb.
    pub(crate) fn into_skb(self) -> Result<SkBuff> {
        let this = ManuallyDrop::new(self);
        let b = &this.xdp;
        // CAST: Within one page.
        let headroom = (b.data as usize).wrapping_sub(b.data_hard_start as usize) as u32;
        let len = this.len();
        // SAFETY: The buffer is `frame_sz` bytes of a page fragment with
        // room for `skb_shared_info` at its end (type invariant).
        let skb = unsafe { bindings::build_skb(b.data_hard_start, b.frame_sz) };
        if skb.is_null() {
            drop(ManuallyDrop::into_inner(this));
            return Err(ENOMEM);
        }
        // SAFETY: `skb` is new and ours, and owns the page reference now;
        // headroom and length lie within the buffer (type invariant).
        unsafe {
            super::skbuff::skb_reserve(skb, headroom);
            bindings::skb_put(skb, len);
            Ok(SkBuff::from_raw(skb))
        }
    }
}

impl Drop for XdpPacket<'_> {
    fn drop(&mut self) {
        // SAFETY: We own a reference to the page of the buffer (type
        // invariant); `page_frag_free` is `put_page(virt_to_head_page())`.
        unsafe { bindings::page_frag_free(self.xdp.data_hard_start) };
    }
}

/// Generic (skb) XDP (`do_xdp_generic`): runs `prog` on the packet, and
/// carries out its verdict; the packet, possibly reallocated, if it
/// passes; `None` if the program dropped, transmitted or redirected it.
pub(crate) fn run_generic<'d>(
    skb: super::skbuff::RxSkb<'d>,
    prog: XdpProgRef<'_>,
    _bh: &BhOff,
) -> Option<super::skbuff::RxSkb<'d>> {
    // `netif_receive_generic_xdp` pushes the link header back from the MAC
    // header's offset; a packet without one passes untouched.
    if !skb.has_mac_header() {
        return Some(skb);
    }
    let (skb, dev) = skb.into_parts();
    let mut raw = skb.into_raw();
    // SAFETY: A valid program inside its RCU read section, BH disabled
    // (`_bh`); we pass our skb reference, which `do_xdp_generic` consumes
    // unless the packet passes, when `raw` is the (maybe new) skb, ours.
    let act = unsafe { bindings::do_xdp_generic(prog.as_raw(), &mut raw) };
    if act != bindings::xdp_action_XDP_PASS as i32 {
        return None;
    }
    // SAFETY: See above; the reallocation copies `skb->dev`.
    Some(unsafe { SkBuff::from_raw(raw) }.into_rx(dev))
}

/// A new `xdp_buff` over `frame_sz` bytes at `hard_start`, holding `len`
/// bytes after `headroom`: `xdp_init_buff`, then `xdp_prepare_buff` with
/// `meta_valid` false (tun.c marks XDP metadata unsupported), as the plain
/// field stores those inline functions are, on every packet.
fn new_xdp_buff(
    hard_start: *mut u8,
    headroom: usize,
    len: usize,
    frame_sz: u32,
) -> bindings::xdp_buff {
    // Address arithmetic only; whoever reads the buffer answers for it.
    let data = hard_start.wrapping_add(headroom);
    bindings::xdp_buff {
        data: data.cast(),
        data_end: data.wrapping_add(len).cast(),
        // `xdp_set_data_meta_invalid`: one past `data`.
        data_meta: data.wrapping_add(1).cast(),
        data_hard_start: hard_start.cast(),
        rxq: core::ptr::null_mut(),
        txq: core::ptr::null_mut(),
        frame_sz,
        flags: 0,
    }
}
