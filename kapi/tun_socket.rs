// SPDX-License-Identifier: GPL-2.0

//! The socket of a tun queue, through which vhost-net drives the queue as
//! if it were a packet socket: tun.c's `tfile->sk` and `tfile->socket`, the
//! `proto_ops` built from the [`SocketOps`] trait, vhost's batches of XDP
//! buffers, and [`export_vhost_api!`], which defines and exports the three
//! symbols `vhost_net.ko` links against. The queue's NAPI context shares
//! the socket's allocation (child module `tun_napi.rs`).
//!
//! vhost-net gets the socket from `tun_get_socket(file)` and holds the file
//! for as long as it uses the socket, so every callback runs while the file
//! and its private data are alive.
//!
//! Lock order: none of its own. vhost calls in with its virtqueue mutex
//! held; the ring's locks are taken inside the C calls.
//!
//! C header: [`include/linux/net.h`](srctree/include/linux/net.h)

use core::{
    ffi::{c_int, c_void},
    marker::PhantomData,
    mem::{size_of, MaybeUninit},
    ptr::{addr_of, addr_of_mut, NonNull},
    sync::atomic::{AtomicUsize, Ordering},
};

use kernel::{
    bindings, c_str,
    prelude::*,
    types::{ForeignOwnable, Opaque},
};

#[path = "tun_napi.rs"]
mod napi;
pub(crate) use napi::{FragsLock, Napi, NAPI_POLL_WEIGHT};

use super::{
    fasync::FasyncList,
    file::File,
    iov::IovIter,
    miscdevice::{self, MiscDevice},
    net::Net,
    ptr_ring::{PtrRing, RingItem},
    skbuff::{BhOff, RxSkb, SkBuff, VnetHdr},
    wait::{self, WaitQueue},
    xdp::{NetCtx, XdpFrame},
};

/// `struct tun_msg_ctl.type` of a batch of XDP buffers (`TUN_MSG_PTR`).
// CAST: 2 fits `tun_msg_ctl.type`.
const TUN_MSG_PTR: u16 = bindings::TUN_MSG_PTR as u16;
/// The low pointer bit that tags an XDP frame among the skbs of a ring
/// (`TUN_XDP_FLAG`).
const TUN_XDP_FLAG: usize = 1;
/// tun.c's `TUN_TX_TIMESTAMP`: the `cmsg_type` of its error-queue entries.
const TUN_TX_TIMESTAMP: c_int = 1;

/// What `sk_alloc` allocates for a queue: tun.c's `struct tun_file` less
/// the driver state, which lives in the file's private data.
#[repr(C)]
struct SockAlloc {
    /// First, as `sk_alloc` returns a `struct sock *` to the allocation.
    sk: bindings::sock,
    socket: bindings::socket,
    /// `tfile->napi`: zeroed by `sk_alloc`, a context never added.
    napi: Napi,
    /// Written packets `tun_rx_batched` holds back (tun.c uses the write
    /// queue, which here is NAPI's alone). Every skb in it holds a
    /// reference (`dev_hold`) on its `skb->dev`, so no purge can come too
    /// late for the device.
    rx_batch: bindings::sk_buff_head,
}

/// `skb->dev`.
///
/// # Safety
///
/// `skb` is a valid skb.
unsafe fn skb_dev(skb: *mut bindings::sk_buff) -> *mut bindings::net_device {
    // SAFETY: From the caller; a plain field of the skb's first union view.
    unsafe {
        (*skb)
            .__bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .dev
    }
}

/// The lockdep class of the `rx_batch` queues' locks.
static RX_BATCH_KEY: wait::StaticKey = wait::StaticKey::new();

/// `tun_proto`: named and sized for `sk_alloc`; nothing registers it. No
/// owner: the files that own the sockets already pin the module.
struct Proto(Opaque<bindings::proto>);

// SAFETY: The networking core only reads it.
unsafe impl Sync for Proto {}

static PROTO: Proto = Proto(Opaque::new(bindings::proto {
    name: proto_name(b"tun"),
    // CAST: A few kilobytes.
    obj_size: size_of::<SockAlloc>() as u32,
    // SAFETY: All-zero is a valid `struct proto`: NULL callbacks and slab.
    ..unsafe { MaybeUninit::zeroed().assume_init() }
}));

const fn proto_name(name: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < name.len() {
        out[i] = name[i];
        i += 1;
    }
    out
}

/// A queue's socket, owning one reference on its `struct sock`.
///
/// # Invariants
///
/// `self.0` came from `sk_alloc(&PROTO)` and was set up by [`Socket::new`]:
/// `socket.sk` is `sk`, `socket.ops` is `SocketVtable::<T>::OPS` and
/// `socket.file` a file of `T`, for the `T` given to `new`. We own one
/// reference on `sk`. `socket.file` is only followed by the `proto_ops`
/// callbacks, whose callers hold that file open (the owner of a `Socket`
/// may outlive the file, never a caller of the callbacks).
pub(crate) struct Socket(NonNull<SockAlloc>);

/// What [`Socket::drain_rx_batch`] does with each packet it takes.
#[derive(Clone, Copy)]
enum Drain {
    /// `netif_receive_skb`: the batch is complete.
    Receive,
    /// `kfree_skb`: the queue is going away.
    Free,
}

// SAFETY: The socket's fields that we touch are either set once before it
// is shared or accessed with `READ_ONCE`/`WRITE_ONCE` semantics (sndbuf);
// the rest belongs to the networking core's own locking.
unsafe impl Send for Socket {}
// SAFETY: See `Send`.
unsafe impl Sync for Socket {}

impl Socket {
    /// The socket of `file`, a file served by `T`, in `net`
    /// (`tun_chr_open`'s part). Its send buffer starts unlimited, which is
    /// what lets vhost batch.
    pub(crate) fn new<T: SocketOps>(net: &Net, file: &File) -> Result<Self> {
        // SAFETY: Valid namespace and protocol; process context.
        let sk = unsafe {
            bindings::sk_alloc(
                net.as_raw(),
                bindings::AF_UNSPEC as c_int,
                bindings::GFP_KERNEL,
                PROTO.0.get(),
                0,
            )
        };
        let ptr = NonNull::new(sk.cast::<SockAlloc>()).ok_or(ENOMEM)?;
        // SAFETY: `sk_alloc` zeroed an object of `PROTO.obj_size` bytes, so
        // `socket` is valid for writes; nothing else knows it yet.
        unsafe {
            let socket = addr_of_mut!((*ptr.as_ptr()).socket);
            wait::init_raw(addr_of_mut!((*socket).wq.wait));
            (*socket).file = file.as_raw();
            (*socket).ops = &SocketVtable::<T>::OPS;
            bindings::sock_init_data_uid(socket, sk, bindings::current_fsuid());
            Napi::init(addr_of_mut!((*ptr.as_ptr()).napi));
            // `skb_queue_head_init`: an empty list points at itself.
            let q = addr_of_mut!((*ptr.as_ptr()).rx_batch);
            (*q).__bindgen_anon_1.__bindgen_anon_1.next = q.cast();
            (*q).__bindgen_anon_1.__bindgen_anon_1.prev = q.cast();
            bindings::__spin_lock_init(
                addr_of_mut!((*q).lock),
                c_str!("rtun_rx_batch").as_char_ptr(),
                RX_BATCH_KEY.as_ptr(),
            );
            (*sk).sk_write_space = Some(write_space_callback);
            (*sk).sk_sndbuf = i32::MAX;
            // vhost-net may hand zero-copy buffers (`TUN_MSG_UBUF`).
            bindings::sock_set_flag(sk, bindings::sock_flags_SOCK_ZEROCOPY);
        }
        // INVARIANT: Set up as documented; `sk_alloc` gave us a reference.
        Ok(Self(ptr))
    }

    pub(super) fn sk(&self) -> *mut bindings::sock {
        // SAFETY: The allocation is valid while we hold our reference.
        unsafe { addr_of_mut!((*self.0.as_ptr()).sk) }
    }

    fn as_raw(&self) -> *mut bindings::socket {
        // SAFETY: As for `sk`.
        unsafe { addr_of_mut!((*self.0.as_ptr()).socket) }
    }

    /// The queue's NAPI context (`IFF_NAPI`).
    pub(crate) fn napi(&self) -> &Napi {
        // SAFETY: The allocation is valid while we hold our reference;
        // `Napi` is all atomics and an `Opaque`, so sharing it is fine.
        unsafe { &*addr_of!((*self.0.as_ptr()).napi) }
    }

    /// Marks the socket as feeding a device with an XDP program
    /// (`SOCK_XDP`), so vhost-net leaves XDP headroom in the buffers it
    /// builds.
    pub(crate) fn set_xdp(&self, on: bool) {
        // SAFETY: Valid socket; the flag helpers are atomic bit operations.
        unsafe {
            if on {
                bindings::sock_set_flag(self.sk(), bindings::sock_flags_SOCK_XDP);
            } else {
                bindings::sock_reset_flag(self.sk(), bindings::sock_flags_SOCK_XDP);
            }
        }
    }

    /// Charges `skb` to the send buffer (`skb_set_owner_w`): its memory is
    /// the socket's until it is freed.
    pub(crate) fn set_owner_w(&self, skb: &mut SkBuff) {
        // SAFETY: Our skb and a valid socket, whose reference the skb's
        // destructor takes and gives back.
        unsafe { bindings::skb_set_owner_w(skb.as_raw(), self.sk()) };
    }

    fn rx_batch(&self) -> *mut bindings::sk_buff_head {
        // SAFETY: The allocation is valid while we hold our reference.
        unsafe { addr_of_mut!((*self.0.as_ptr()).rx_batch) }
    }

    /// `tun_rx_batched`: with `batch` packets allowed to wait (`ethtool -C
    /// rx-frames`), a packet written while the writer says more follow
    /// (`more`, vhost's `MSG_MORE`) waits unless exactly `batch` already
    /// do; any other packet takes the waiting ones, then itself, to the
    /// stack, and with `batch` 0 goes alone. Counts `len` received bytes
    /// either way. Waiting packets are dropped when the queue detaches
    /// ([`Socket::purge_rx_batch`]).
    pub(crate) fn receive_batched(
        &self,
        skb: RxSkb<'_>,
        len: u32,
        more: bool,
        batch: u32,
        bh: &BhOff,
    ) {
        let q = self.rx_batch();
        // SAFETY: An initialised queue; a racy length read, as tun.c's
        // `skb_queue_empty` outside the lock. (tun.c decides under the
        // queue's lock and splices; with one writer per queue, as vhost
        // is, the outcome is the same.)
        let waiting = unsafe { addr_of!((*q).qlen).read_volatile() };
        if batch == 0 || (!more && waiting == 0) {
            skb.receive(bh, len);
            return;
        }
        if more && waiting != batch {
            let (skb, dev) = skb.into_parts();
            dev.rx_add(len, bh);
            // SAFETY: The queue takes our skb reference and, for the
            // queue's invariant, a reference on its device.
            unsafe {
                super::netdev::dev_hold(dev.as_raw());
                bindings::skb_queue_tail(q, skb.into_raw());
            }
            return;
        }
        self.drain_rx_batch(waiting, Drain::Receive);
        skb.receive(bh, len);
    }

    /// Drops the packets `receive_batched` holds back, and their device
    /// references (tun.c's `tun_queue_purge` of the write queue).
    pub(crate) fn purge_rx_batch(&self) {
        self.drain_rx_batch(u32::MAX, Drain::Free);
    }

    /// Takes up to `max` packets off the `receive_batched` queue, passing
    /// each to the stack or freeing it, then releasing the device reference
    /// the queue held for it.
    fn drain_rx_batch(&self, max: u32, how: Drain) {
        let q = self.rx_batch();
        for _ in 0..max {
            // SAFETY: An initialised queue; a dequeued skb is ours, with the
            // device reference the queue held for it (queue invariant),
            // which outlives the receive or free and is released after it.
            unsafe {
                let skb = bindings::skb_dequeue(q);
                if skb.is_null() {
                    return;
                }
                let dev = skb_dev(skb);
                match how {
                    Drain::Receive => {
                        bindings::netif_receive_skb(skb);
                    }
                    Drain::Free => bindings::kfree_skb(skb),
                }
                super::netdev::dev_put(dev);
            }
        }
    }

    /// `sk_sndbuf`, which vhost reads locklessly to decide whether to batch.
    pub(crate) fn sndbuf(&self) -> i32 {
        // SAFETY: Valid socket; a racy read is what `READ_ONCE` allows.
        unsafe { addr_of!((*self.sk()).sk_sndbuf).read_volatile() }
    }

    /// The queue's wait queue (`sk_sleep`): readers, writers waiting for
    /// send-buffer room, and pollers sleep here.
    pub(crate) fn wait_queue(&self) -> &WaitQueue {
        // SAFETY: `socket.wq.wait` was initialised by `Socket::new` and lives
        // in the socket's allocation, which our reference keeps in place.
        unsafe { WaitQueue::from_raw(addr_of_mut!((*self.as_raw()).wq.wait)) }
    }

    /// The queue's SIGIO subscribers (`socket.wq.fasync_list`).
    pub(crate) fn fasync(&self) -> &FasyncList {
        // SAFETY: `sk_alloc` zeroed the list head (an empty list); it lives
        // in the socket's allocation, which our reference keeps in place.
        unsafe { FasyncList::from_raw(addr_of_mut!((*self.as_raw()).wq.fasync_list)) }
    }

    /// Notes that a poller found the queue not writable
    /// (`SOCKWQ_ASYNC_NOSPACE` in `socket.flags`), so that the next
    /// [`Socket::write_space`] tells it; returns whether it was noted
    /// already.
    pub(crate) fn set_nospace(&self) -> bool {
        // SAFETY: `flags` is a word of the valid socket that the kernel
        // updates only with atomic bit operations, as here.
        let flags = unsafe { AtomicUsize::from_ptr(addr_of_mut!((*self.as_raw()).flags)) };
        flags.fetch_or(NOSPACE, Ordering::SeqCst) & NOSPACE != 0
    }

    /// The queue may have become writable: `tun_sock_write_space`, which
    /// the socket also runs whenever sent packets free send-buffer room.
    pub(crate) fn write_space(&self) {
        // SAFETY: Our reference keeps the sock valid.
        unsafe { write_space_callback(self.sk()) };
    }

    /// Whether the send buffer has room (`sock_writeable`: less than half
    /// of `sk_sndbuf` in flight).
    pub(crate) fn writeable(&self) -> bool {
        // SAFETY: Valid socket.
        unsafe { sock_writeable(self.sk()) }
    }

    pub(crate) fn set_sndbuf(&self, sndbuf: i32) {
        // SAFETY: Valid socket; `WRITE_ONCE`, as `sk_sndbuf` is read
        // locklessly.
        unsafe { addr_of_mut!((*self.sk()).sk_sndbuf).write_volatile(sndbuf) }
    }
}

/// A `struct sock_fprog` as user space passed it (`TUNATTACHFILTER`),
/// padding included: `TUNGETFILTER` hands the same bytes back, as tun.c's
/// `copy_to_user` of its copy does.
#[derive(Clone, Copy)]
pub(crate) struct SockFprog([u8; SOCK_FPROG_LEN]);

const SOCK_FPROG_LEN: usize = size_of::<bindings::sock_fprog>();

impl SockFprog {
    pub(crate) const fn zeroed() -> Self {
        Self([0; SOCK_FPROG_LEN])
    }

    /// Copies one in from the user address `arg`.
    pub(crate) fn read(arg: usize) -> Result<Self> {
        super::user::read(arg).map(Self)
    }

    /// Copies it out to the user address `arg`.
    pub(crate) fn write(&self, arg: usize) -> Result {
        super::user::write(arg, &self.0)
    }

    /// The `unsigned short len` field: the number of instructions.
    fn len(&self) -> u16 {
        let at = core::mem::offset_of!(bindings::sock_fprog, len);
        u16::from_ne_bytes([self.0[at], self.0[at + 1]])
    }

    /// The `filter` field: a user pointer, used only by `copy_from_user`.
    fn filter(&self) -> *mut bindings::sock_filter {
        let at = core::mem::offset_of!(bindings::sock_fprog, filter);
        let mut word = [0u8; size_of::<usize>()];
        word.copy_from_slice(&self.0[at..at + size_of::<usize>()]);
        // CAST: A user address, as user space stored it.
        usize::from_ne_bytes(word) as *mut bindings::sock_filter
    }
}

impl Socket {
    /// An skb of `len` bytes from `from`, charged to this socket's send
    /// buffer (`sock_alloc_send_pskb`, as tun.c's `tun_alloc_skb`):
    /// `headroom` bytes reserved, `linear` of the `len` copied into the
    /// head and the rest copied into page fragments of order up to
    /// `PAGE_ALLOC_COSTLY_ORDER`, or with `zerocopy` left in the sender's
    /// pages, pinned as fragments (`zerocopy_sg_from_iter`; the caller
    /// checked they fit). Waits for send-buffer room unless `noblock`
    /// (`EAGAIN`, or `ERESTARTSYS` on a signal); `EMSGSIZE` or `ENOMEM` for
    /// what cannot be allocated, `EFAULT` if `from` faults. `linear` is cut
    /// to `len`.
    pub(crate) fn alloc_skb_from_iter(
        &self,
        headroom: u32,
        len: usize,
        linear: usize,
        noblock: bool,
        zerocopy: bool,
        from: &mut IovIter,
    ) -> Result<SkBuff> {
        let linear = linear.min(len);
        let too_big = |_| super::error::emsgsize();
        let data_len = if zerocopy { 0 } else { len - linear };
        let data_len = u32::try_from(data_len).map_err(too_big)?;
        let linear32 = u32::try_from(linear).map_err(too_big)?;
        let len32 = i32::try_from(len).map_err(too_big)?;
        let mut err = 0;
        // SAFETY: Valid socket; `err` is valid for writes; process context,
        // which waiting for room needs.
        let skb = unsafe {
            bindings::sock_alloc_send_pskb(
                self.sk(),
                (u64::from(headroom) + u64::from(linear32)) as _,
                u64::from(data_len) as _,
                c_int::from(noblock),
                &mut err,
                // CAST: 3.
                bindings::PAGE_ALLOC_COSTLY_ORDER as c_int,
            )
        };
        if skb.is_null() {
            return Err(Error::from_errno(err));
        }
        // The fragments are counted into `len`/`data_len` as `tun_alloc_skb`
        // does; every counted byte is then written by the copy, or the skb
        // freed. INVARIANT: We own the only reference.
        // SAFETY: A fresh skb of ours with `headroom + linear` bytes of head
        // and `data_len` in fragments; reserve and put stay in the head.
        let skb = unsafe {
            super::skbuff::skb_reserve(skb, headroom);
            bindings::skb_put(skb, linear32);
            (*skb).data_len = data_len;
            // `linear + data_len` is `len`, checked to fit an `int` above:
            // wrapping, so that a write has no panic path.
            (*skb).len = (*skb).len.wrapping_add(data_len);
            SkBuff::from_raw(skb)
        };
        // SAFETY: A valid skb with the counted bytes to fill and a valid
        // iterator; the zero-copy call copies the head and pins the rest.
        let ret = unsafe {
            if zerocopy {
                bindings::zerocopy_sg_from_iter(skb.as_raw(), from.as_raw())
            } else {
                bindings::skb_copy_datagram_from_iter(skb.as_raw(), 0, from.as_raw(), len32)
            }
        };
        if ret != 0 {
            return Err(EFAULT);
        }
        Ok(skb)
    }

    /// Attaches a classic BPF program from user space (`sk_attach_filter`
    /// under the socket lock), whose instructions are copied from user
    /// memory now.
    pub(crate) fn attach_filter(&self, fprog: &SockFprog) -> Result {
        let mut prog = bindings::sock_fprog {
            len: fprog.len(),
            filter: fprog.filter(),
        };
        // SAFETY: Valid socket; process context, as `lock_sock` needs; the
        // program pointer is a user pointer that `sk_attach_filter` copies
        // from with `copy_from_user`.
        super::error::to_result(unsafe {
            bindings::lock_sock(self.sk());
            let ret = bindings::sk_attach_filter(&mut prog, self.sk());
            bindings::release_sock(self.sk());
            ret
        })
    }

    /// Detaches the socket filter, if any (`sk_detach_filter`).
    pub(crate) fn detach_filter(&self) {
        // SAFETY: Valid socket; process context. "No filter" (`ENOENT`) is
        // not an error here.
        unsafe {
            bindings::lock_sock(self.sk());
            bindings::sk_detach_filter(self.sk());
            bindings::release_sock(self.sk());
        }
    }

    /// Whether a socket filter is attached.
    pub(crate) fn has_filter(&self) -> bool {
        // SAFETY: Valid socket; only the pointer's nullness is read, as
        // `rcu_access_pointer` does.
        !unsafe { addr_of!((*self.sk()).sk_filter).read_volatile() }.is_null()
    }

    /// Whether the socket filter lets `skb` through (`sk_filter`, which may
    /// also trim it).
    pub(crate) fn filter_passes(&self, skb: &mut SkBuff) -> bool {
        // SAFETY: Valid socket and skb, which we own.
        unsafe { bindings::sk_filter(self.sk(), skb.as_raw()) == 0 }
    }
}

/// `SOCKWQ_ASYNC_NOSPACE` as a mask of `socket.flags`.
const NOSPACE: usize = 1 << bindings::SOCKWQ_ASYNC_NOSPACE;

/// `sock_writeable`: less than half of `sk_sndbuf` in flight, both read
/// racily (`refcount_read`, `READ_ONCE`). Done in place: it runs on every
/// poll and every freed packet.
///
/// # Safety
///
/// `sk` must point to a valid sock.
#[inline(always)]
unsafe fn sock_writeable(sk: *const bindings::sock) -> bool {
    // SAFETY: Valid per the caller; both are plain ints in the sock (layout
    // checked by `kernel/check-layout.py`), read once each, as C does.
    let (wmem, sndbuf) = unsafe {
        (
            addr_of!((*sk).sk_wmem_alloc.refs.counter).read_volatile(),
            addr_of!((*sk).sk_sndbuf).read_volatile(),
        )
    };
    // CAST: `refcount_read` returns the counter as unsigned, and C
    // compares it with the int `sk_sndbuf >> 1` after converting that.
    (wmem as u32) < ((sndbuf >> 1) as u32)
}

/// `tun_sock_write_space`, the socket's `sk_write_space`: if there is room
/// and a poller asked to be told, wake the queue's waiters and send SIGIO
/// `POLL_OUT`. Everything it touches lives in the socket's allocation, which
/// outlives the file: packets still charged to the socket keep it alive.
///
/// # Safety
///
/// `sk` must be a valid sock made by [`Socket::new`].
unsafe extern "C" fn write_space_callback(sk: *mut bindings::sock) {
    // SAFETY: Valid sock, per the contract.
    if !unsafe { sock_writeable(sk) } {
        return;
    }
    let alloc = sk.cast::<SockAlloc>();
    // SAFETY: `Socket::new` made `sk` the head of a `SockAlloc` whose
    // `socket` it set up; both live as long as `sk`. The flags word is only
    // changed atomically.
    let socket = unsafe { addr_of_mut!((*alloc).socket) };
    // SAFETY: As above.
    let flags = unsafe { AtomicUsize::from_ptr(addr_of_mut!((*socket).flags)) };
    if flags.fetch_and(!NOSPACE, Ordering::SeqCst) & NOSPACE == 0 {
        return;
    }
    // SAFETY: The wait queue and fasync list live in `socket`, initialised
    // by `Socket::new` (the list zeroed by `sk_alloc`).
    let (wq, fasync) = unsafe {
        (
            WaitQueue::from_raw(addr_of_mut!((*socket).wq.wait)),
            FasyncList::from_raw(addr_of_mut!((*socket).wq.fasync_list)),
        )
    };
    wq.wake_poll(bindings::EPOLLOUT | bindings::EPOLLWRNORM | bindings::EPOLLWRBAND);
    fasync.notify_writable();
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.napi().is_added() {
            // A NAPI context still registered would point the device at
            // freed memory; better to leak the socket (and hold the device,
            // whose unregistration then waits) than to free it.
            pr_err!("rtun: queue socket dropped with its NAPI context registered; leaked\n");
            return;
        }
        // SAFETY: Our sock; then we give up our reference (type invariant).
        // Packets left on the write queue would hold the sock forever: they
        // are charged to its send buffer.
        unsafe {
            napi::purge_queue(self.sk());
            self.purge_rx_batch();
            bindings::sock_put(self.sk());
        }
    }
}

/// A queue served through a socket: what vhost-net calls.
#[vtable]
pub(crate) trait SocketOps: MiscDevice {
    /// Whatever a batch needs that [`SocketOps::begin_batch`] looked up.
    type Batch;

    /// Whether the queue is bound to a device: only then are its socket and
    /// ring handed out.
    fn attached(this: &<Self::Ptr as ForeignOwnable>::Borrowed<'_>) -> bool;

    /// The queue's socket.
    fn socket<'a>(this: &'a <Self::Ptr as ForeignOwnable>::Borrowed<'_>) -> &'a Socket;

    /// The ring vhost-net consumes the queue's packets from directly.
    fn tx_ring<'a>(this: &'a <Self::Ptr as ForeignOwnable>::Borrowed<'_>)
        -> &'a PtrRing<RingEntry>;

    /// Starts a batch of XDP buffers (`TUN_MSG_PTR`); an error leaves the
    /// buffers to the caller, who frees them.
    fn begin_batch(this: &<Self::Ptr as ForeignOwnable>::Borrowed<'_>) -> Result<Self::Batch>;

    /// One buffer of a batch, with BH disabled, in the batch's BPF network
    /// context (`tun_xdp_one`). Buffers queued for the socket's NAPI
    /// context have it scheduled once after the batch, and redirected ones
    /// are flushed once.
    fn send_xdp(
        this: &<Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        batch: &Self::Batch,
        buf: XdpBuff,
        ctx: &NetCtx<'_>,
        bh: &super::skbuff::BhOff,
    ) -> Sent;

    /// A packet from `from` (`sendmsg` without a batch: `tun_get_user`);
    /// `noblock` for `MSG_DONTWAIT`, `more` for `MSG_MORE` (more packets
    /// follow at once), `ubuf` for a zero-copy send.
    fn send(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        from: &mut IovIter,
        noblock: bool,
        more: bool,
        ubuf: Option<Ubuf>,
    ) -> Result<usize>;

    /// `recvmsg`: one packet into `msg`, the one vhost-net already took
    /// from the ring if `msg.pending` holds it.
    fn recv(this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>, msg: RecvMsg<'_>) -> Result<usize>;

    /// The length of the next packet, 0 if none (`peek_len`).
    fn peek_len(this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>) -> usize;
}

/// What became of one buffer of a batch ([`SocketOps::send_xdp`]).
pub(crate) enum Sent {
    /// Queued for the socket's NAPI context.
    Queued,
    /// Redirected by an XDP program.
    Redirected,
    /// Received, transmitted back or dropped.
    Done,
}

/// A zero-copy send's completion (`struct ubuf_info`, vhost-net's
/// `TUN_MSG_UBUF`): the sender learns through it when its pages are no
/// longer used. Dropped unused, it is left to the sender, as tun.c leaves it
/// on an error (vhost-net then takes the buffer back itself).
///
/// # Invariants
///
/// `self.0` is a valid `ubuf_info` of the running `sendmsg` call whose
/// reference the call passed to us.
pub(crate) struct Ubuf(NonNull<bindings::ubuf_info>);

impl Ubuf {
    /// The packet was copied after all: done with the pages now
    /// (`uarg->ops->complete(NULL, uarg, false)`).
    pub(crate) fn complete_copied(self) {
        let u = self.0.as_ptr();
        // SAFETY: A valid `ubuf_info` (type invariant) with its ops; the
        // callback takes our reference.
        unsafe {
            if let Some(complete) = (*(*u).ops).complete {
                complete(core::ptr::null_mut(), u, false);
            }
        }
    }

    /// Hands the completion to `skb`, whose fragments are the sender's
    /// pages (`skb_zcopy_init`): it completes when the skb is freed or
    /// its fragments copied.
    pub(super) fn attach(self, skb: *mut bindings::sk_buff) {
        let u = self.0.as_ptr();
        // SAFETY: A valid skb of the caller's and our `ubuf_info`, whose
        // reference passes to the skb.
        unsafe {
            let shinfo = bindings::skb_shinfo(skb);
            (*shinfo).destructor_arg = u.cast();
            (*shinfo).flags |= (*u).flags;
        }
    }
}

/// One buffer vhost-net built: the virtio-net header and packet in a page
/// fragment this object owns a reference on (`struct xdp_buff` with a
/// `struct tun_xdp_hdr` at `data_hard_start`).
///
/// # Invariants
///
/// `self.0` points to a valid `xdp_buff` laid out by
/// `vhost_net_build_xdp`, whose page fragment reference we own.
pub(crate) struct XdpBuff(NonNull<bindings::xdp_buff>);

impl XdpBuff {
    fn raw(&self) -> &bindings::xdp_buff {
        // SAFETY: Valid (type invariant); vhost does not touch it during
        // `sendmsg`.
        unsafe { self.0.as_ref() }
    }

    /// Packet bytes, after the headroom.
    pub(crate) fn len(&self) -> usize {
        let b = self.raw();
        // `data_end` follows `data` within one buffer (type invariant: vhost's
        // layout), so this does not wrap.
        (b.data_end as usize).wrapping_sub(b.data as usize)
    }

    /// The virtio-net header vhost copied from the guest.
    pub(crate) fn vnet_hdr(&self) -> VnetHdr {
        // SAFETY: vhost put a `tun_xdp_hdr` at `data_hard_start`; the header
        // is 10 plain bytes.
        unsafe {
            let hdr = self.raw().data_hard_start.cast::<bindings::tun_xdp_hdr>();
            core::mem::transmute::<bindings::virtio_net_hdr, VnetHdr>((*hdr).gso)
        }
    }

    /// The buffer, headroom, packet length and buffer length, whose page
    /// reference passes to the caller.
    pub(super) fn into_parts(self) -> (*mut u8, i32, i32, u32) {
        let b = self.raw();
        // SAFETY: `data_hard_start` holds vhost's `tun_xdp_hdr`.
        let buflen = unsafe { (*b.data_hard_start.cast::<bindings::tun_xdp_hdr>()).buflen };
        // CAST: Within one page, `data` after `data_hard_start` (as above).
        let headroom = (b.data as usize).wrapping_sub(b.data_hard_start as usize) as i32;
        // CAST: Within one page.
        let len = self.len() as i32;
        let start = b.data_hard_start.cast::<u8>();
        core::mem::forget(self);
        // CAST: vhost sizes buffers within a page.
        (start, headroom, len, buflen as u32)
    }
}

impl Drop for XdpBuff {
    fn drop(&mut self) {
        // SAFETY: We own the fragment's reference (type invariant);
        // `page_frag_free` is vhost's own `put_page(virt_to_head_page())`.
        unsafe { bindings::page_frag_free(self.raw().data) };
    }
}

/// A `recvmsg` call.
pub(crate) struct RecvMsg<'a> {
    msg: &'a mut bindings::msghdr,
    sk: *mut bindings::sock,
    /// The entry vhost-net consumed from the ring for this call, if any.
    pub(crate) pending: Option<RingEntry>,
    /// The buffer's size (`total_len`).
    pub(crate) len: usize,
    /// `MSG_*` flags of the call.
    pub(crate) flags: u32,
}

impl RecvMsg<'_> {
    /// Where the packet goes.
    pub(crate) fn iter(&mut self) -> &mut IovIter {
        // SAFETY: `msg_iter` is a valid iterator, ours for the call.
        unsafe { IovIter::from_raw(&mut self.msg.msg_iter) }
    }

    /// Reports that the packet did not fit (`MSG_TRUNC` in `msg_flags`).
    pub(crate) fn set_truncated(&mut self) {
        self.msg.msg_flags |= bindings::MSG_TRUNC;
    }

    /// Reads the socket's error queue (`MSG_ERRQUEUE`:
    /// `sock_recv_errqueue`).
    pub(crate) fn recv_errqueue(&mut self) -> Result<usize> {
        // CAST: `recvmsg` lengths are ints in the C callback chain.
        let len = self.len as c_int;
        // SAFETY: Valid socket and message.
        let ret = unsafe {
            bindings::sock_recv_errqueue(
                self.sk,
                self.msg,
                len,
                // CAST: SOL_PACKET is 263.
                bindings::SOL_PACKET as c_int,
                TUN_TX_TIMESTAMP,
            )
        };
        // CAST: Non-negative, checked.
        super::error::to_result(ret).map(|()| ret as usize)
    }
}

struct SocketVtable<T>(PhantomData<T>);

impl<T: SocketOps> SocketVtable<T> {
    /// `tun_socket_ops`: what a packet socket offers vhost-net.
    const OPS: bindings::proto_ops = bindings::proto_ops {
        peek_len: Some(peek_len_callback::<T>),
        sendmsg: Some(sendmsg_callback::<T>),
        recvmsg: Some(recvmsg_callback::<T>),
        // SAFETY: All-zero is a valid `proto_ops`: NULL callbacks.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };
}

/// The data of the file a socket belongs to.
///
/// # Safety
///
/// `sock` must be a socket set up by [`Socket::new::<T>`] whose file the
/// caller keeps open for `'a` (vhost-net holds it).
unsafe fn owner<'a, T: SocketOps>(
    sock: *mut bindings::socket,
) -> Option<<T::Ptr as ForeignOwnable>::Borrowed<'a>> {
    // SAFETY: `socket.file` is a file of `T`, open (see above).
    unsafe { miscdevice::file_data::<T>((*sock).file) }.ok()
}

/// # Safety
///
/// Called by vhost-net with a socket from `tun_get_socket`, its file held.
unsafe extern "C" fn peek_len_callback<T: SocketOps>(sock: *mut bindings::socket) -> c_int {
    // SAFETY: See the function's safety section.
    let Some(this) = (unsafe { owner::<T>(sock) }) else {
        return 0;
    };
    // CAST: A packet is at most 64 KiB plus headers.
    T::peek_len(this) as c_int
}

/// # Safety
///
/// As for `peek_len_callback`, with a valid message.
unsafe extern "C" fn sendmsg_callback<T: SocketOps>(
    sock: *mut bindings::socket,
    m: *mut bindings::msghdr,
    total_len: usize,
) -> c_int {
    // SAFETY: See the function's safety section.
    let Some(this) = (unsafe { owner::<T>(sock) }) else {
        return super::error::ebadfd().to_errno();
    };
    // SAFETY: The message is valid and ours for the call.
    let m = unsafe { &mut *m };
    // SAFETY: In-kernel callers pass a kernel pointer (`msg_control`, not
    // the `msg_control_user` member of the union).
    let ctl = unsafe { m.__bindgen_anon_1.msg_control }.cast::<bindings::tun_msg_ctl>();
    let is_batch = m.msg_controllen == size_of::<bindings::tun_msg_ctl>()
        && !ctl.is_null()
        // SAFETY: A control of that exact size is vhost's `tun_msg_ctl`.
        && unsafe { (*ctl).type_ } == TUN_MSG_PTR;
    if is_batch {
        let batch = match T::begin_batch(&this) {
            Ok(batch) => batch,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `ctl` points to `num` buffers from `vhost_net_build_xdp`,
        // each owning a page fragment reference that passes to us.
        let (bufs, num) = unsafe { ((*ctl).ptr.cast::<bindings::xdp_buff>(), (*ctl).num) };
        let bh = super::skbuff::BhDisabled::new();
        let queued = super::xdp::with_net_ctx(&bh, |ctx| {
            let (mut queued, mut redirected) = (false, false);
            for i in 0..usize::from(num) {
                // SAFETY: See above; `i < num`.
                let buf = unsafe { NonNull::new_unchecked(bufs.add(i)) };
                // INVARIANT: See above.
                match T::send_xdp(&this, &batch, XdpBuff(buf), ctx, &bh) {
                    Sent::Queued => queued = true,
                    Sent::Redirected => redirected = true,
                    Sent::Done => {}
                }
            }
            if redirected {
                ctx.flush();
            }
            queued
        });
        if queued {
            T::socket(&this).napi().schedule(&bh);
        }
        drop(bh);
        // CAST: vhost passes 0 for batches; tun.c returns it.
        return total_len as c_int;
    }
    // Any other control is vhost's `TUN_MSG_UBUF` (`tun_sendmsg` passes
    // `ctl->ptr` whatever the type): the zero-copy completion, if any.
    // INVARIANT: vhost's `ubuf_info`, whose reference comes with the call.
    let ubuf = if ctl.is_null() {
        None
    } else {
        // SAFETY: An in-kernel caller's `tun_msg_ctl`.
        NonNull::new(unsafe { (*ctl).ptr }.cast::<bindings::ubuf_info>()).map(Ubuf)
    };
    // CAST: MSG_DONTWAIT is a flag bit.
    let noblock = m.msg_flags & bindings::MSG_DONTWAIT as core::ffi::c_uint != 0;
    // CAST: MSG_MORE is a flag bit.
    let more = m.msg_flags & bindings::MSG_MORE as core::ffi::c_uint != 0;
    // SAFETY: `msg_iter` is a valid iterator, ours for the call.
    let from = unsafe { IovIter::from_raw(&mut m.msg_iter) };
    match T::send(this, from, noblock, more, ubuf) {
        // CAST: A packet is at most 64 KiB plus headers.
        Ok(n) => n as c_int,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// As for `sendmsg_callback`; `msg_control` is NULL or a ring entry vhost
/// consumed from this queue's ring, whose ownership passes to us.
unsafe extern "C" fn recvmsg_callback<T: SocketOps>(
    sock: *mut bindings::socket,
    m: *mut bindings::msghdr,
    total_len: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: The message is valid and ours for the call.
    let m = unsafe { &mut *m };
    // SAFETY: As in `sendmsg_callback`: vhost passes a kernel pointer.
    let ptr = unsafe { m.__bindgen_anon_1.msg_control };
    let pending = if ptr.is_null() {
        None
    } else {
        // SAFETY: An entry of our ring, now ours (see above).
        Some(unsafe { RingEntry::from_ptr(ptr) })
    };
    // SAFETY: See the function's safety section.
    let Some(this) = (unsafe { owner::<T>(sock) }) else {
        return super::error::ebadfd().to_errno();
    };
    let msg = RecvMsg {
        // SAFETY: `socket.sk` is set (type invariant of `Socket`).
        sk: unsafe { (*sock).sk },
        msg: m,
        pending,
        len: total_len,
        // CAST: Flag bits.
        flags: flags as u32,
    };
    match T::recv(this, msg) {
        // CAST: A packet is at most 64 KiB plus headers.
        Ok(n) => n as c_int,
        Err(e) => e.to_errno(),
    }
}

/// `tun_get_socket`: `EINVAL` for a file that is not a queue of `T`,
/// `EBADFD` for one not bound to a device. tun.c documents the second
/// ("Returns error unless file is attached to a device") but only checks
/// for a file without private data, which never occurs, so it hands out
/// the socket of an unattached file, which vhost then refuses when polling
/// it (`EPOLLERR`, so `EINVAL` instead of `ENOTSOCK`); rtun does what the
/// comment says.
///
/// # Safety
///
/// `file` must be a valid file; the returned socket is valid while the
/// caller holds it open.
pub(crate) unsafe fn get_socket<T: SocketOps>(file: *mut bindings::file) -> *mut bindings::socket {
    // SAFETY: From the caller.
    match unsafe { miscdevice::file_data::<T>(file) } {
        Ok(this) if T::attached(&this) => T::socket(&this).as_raw(),
        Ok(_) => err_ptr(super::error::ebadfd()),
        Err(e) => err_ptr(e),
    }
}

/// `tun_get_tx_ring`: as [`get_socket`], for the queue's ring.
///
/// # Safety
///
/// As for [`get_socket`].
pub(crate) unsafe fn get_tx_ring<T: SocketOps>(
    file: *mut bindings::file,
) -> *mut bindings::ptr_ring {
    // SAFETY: From the caller.
    match unsafe { miscdevice::file_data::<T>(file) } {
        Ok(this) if T::attached(&this) => T::tx_ring(&this).as_raw(),
        Ok(_) => err_ptr(super::error::ebadfd()),
        Err(e) => err_ptr(e),
    }
}

fn err_ptr<P>(e: Error) -> *mut P {
    // CAST: errno values fit a long.
    // SAFETY: `ERR_PTR` only encodes the value.
    unsafe { bindings::ERR_PTR(e.to_errno() as _) }.cast()
}

/// `tun_ptr_free`: frees a ring entry, an skb or a tagged XDP frame.
///
/// # Safety
///
/// `ptr` is NULL or an entry of a tun ring that the caller owns.
pub(crate) unsafe fn ptr_free(ptr: *mut c_void) {
    if !ptr.is_null() {
        // SAFETY: From the caller.
        drop(unsafe { RingEntry::from_ptr(ptr) });
    }
}

/// An entry of a queue's ring: a packet the stack transmitted through the
/// device, or a frame that XDP queued (`XDP_TX`, `ndo_xdp_xmit`). Frames
/// are tagged in the pointer's low bit as tun.c tags them
/// (`tun_xdp_to_ptr`), which is how vhost-net tells them apart.
pub(crate) enum RingEntry {
    Skb(SkBuff),
    Frame(XdpFrame),
}

impl PtrRing<RingEntry> {
    /// Queues `frame`, or gives it back when the ring is full.
    pub(crate) fn produce_frame(&self, frame: XdpFrame) -> Result<(), XdpFrame> {
        let raw = frame.into_raw();
        // SAFETY: What `RingEntry::into_ptr` makes of a frame, as
        // `produce_raw` asks; a full ring did not take it and it is ours
        // again.
        unsafe {
            if self.produce_raw(frame_ptr(raw)) {
                Ok(())
            } else {
                Err(XdpFrame::from_raw(raw))
            }
        }
    }
}

/// A frame's ring entry: its address tagged (`tun_xdp_to_ptr`).
fn frame_ptr(frame: NonNull<bindings::xdp_frame>) -> *mut c_void {
    // CAST: Tag bit arithmetic on an address.
    (frame.as_ptr() as usize | TUN_XDP_FLAG) as *mut c_void
}

// SAFETY: `into_ptr` hands out a non-NULL pointer that owns the skb
// reference or the frame, tagged for a frame (skbs and frames are at least
// word-aligned, so the bit is free), and `from_ptr` takes it back by the
// tag.
unsafe impl RingItem for RingEntry {
    fn into_ptr(self) -> *mut c_void {
        match self {
            Self::Skb(skb) => skb.into_raw().cast(),
            Self::Frame(frame) => frame_ptr(frame.into_raw()),
        }
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // CAST: As above.
        let addr = ptr as usize;
        if addr & TUN_XDP_FLAG != 0 {
            // CAST: As above (`tun_ptr_to_xdp`).
            let frame = (addr & !TUN_XDP_FLAG) as *mut bindings::xdp_frame;
            // SAFETY: A tagged entry owns a valid, hence non-NULL, frame
            // (the caller's pointer came from `into_ptr`).
            Self::Frame(unsafe { XdpFrame::from_raw(NonNull::new_unchecked(frame)) })
        } else {
            // SAFETY: An untagged entry owns an skb reference.
            Self::Skb(unsafe { SkBuff::from_raw(ptr.cast()) })
        }
    }
}

/// Defines and exports (GPL) the symbols `vhost_net.ko` links against, for
/// the queues a [`SocketOps`] type serves: `tun_get_socket`,
/// `tun_get_tx_ring` and `tun_ptr_free`, as `include/linux/if_tun.h`
/// declares them. The export is what `EXPORT_SYMBOL_GPL` expands to
/// (`include/linux/export.h`): an entry in `.export_symbol` that modpost
/// turns into the module's symbol table.
macro_rules! export_vhost_api {
    ($t:ty) => {
        // kapi's glue, expanded where the driver names its type: the one
        // place outside kapi/ that may hold `unsafe`.
        #[expect(unsafe_code, reason = "the exported C entry points")]
        mod vhost_api {
            use super::*;

            /// `tun_get_socket`.
            ///
            /// # Safety
            ///
            /// `file` is a valid file the caller holds open while it uses the
            /// socket.
            #[no_mangle]
            unsafe extern "C" fn tun_get_socket(
                file: *mut kernel::bindings::file,
            ) -> *mut kernel::bindings::socket {
                // SAFETY: From the caller.
                unsafe { $crate::kapi::tun_socket::get_socket::<$t>(file) }
            }

            /// `tun_get_tx_ring`.
            ///
            /// # Safety
            ///
            /// As for `tun_get_socket`.
            #[no_mangle]
            unsafe extern "C" fn tun_get_tx_ring(
                file: *mut kernel::bindings::file,
            ) -> *mut kernel::bindings::ptr_ring {
                // SAFETY: From the caller.
                unsafe { $crate::kapi::tun_socket::get_tx_ring::<$t>(file) }
            }

            /// `tun_ptr_free`.
            ///
            /// # Safety
            ///
            /// `ptr` is NULL or a tun ring entry the caller owns.
            #[no_mangle]
            unsafe extern "C" fn tun_ptr_free(ptr: *mut core::ffi::c_void) {
                // SAFETY: From the caller.
                unsafe { $crate::kapi::tun_socket::ptr_free(ptr) }
            }

            $crate::kapi::tun_socket::export_symbol_gpl!(tun_get_socket);
            $crate::kapi::tun_socket::export_symbol_gpl!(tun_get_tx_ring);
            $crate::kapi::tun_socket::export_symbol_gpl!(tun_ptr_free);
        }
    };
}
pub(crate) use export_vhost_api;

/// `EXPORT_SYMBOL_GPL(sym)` for a `#[no_mangle]` function of this module.
macro_rules! export_symbol_gpl {
    ($sym:ident) => {
        core::arch::global_asm!(
            ".section \".export_symbol\",\"a\"",
            concat!("__export_symbol_", stringify!($sym), ":"),
            ".asciz \"GPL\"",
            ".asciz \"\"",
            ".balign 8",
            concat!(".quad ", stringify!($sym)),
            ".previous",
        );
    };
}
pub(crate) use export_symbol_gpl;
