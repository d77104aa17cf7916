// SPDX-License-Identifier: GPL-2.0

//! Wait queues (`wait_queue_head_t`) that readers sleep on, that `poll`
//! registers with, and that producers wake.
//!
//! Lock order: the queue's spinlock is a leaf, taken inside the C calls.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)

use kernel::{bindings, c_str, error::code::ERESTARTSYS, prelude::*, types::Opaque};

use super::file::File;

/// A lockdep class key in static memory, as lockdep requires: one per
/// kind of lock rtun initialises.
pub(super) struct StaticKey(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep owns the key; we only hand out its address.
unsafe impl Sync for StaticKey {}

impl StaticKey {
    pub(super) const fn new() -> Self {
        Self(Opaque::uninit())
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::lock_class_key {
        self.0.get()
    }
}

/// One lockdep class for all of rtun's wait queues.
static KEY: StaticKey = StaticKey::new();

/// Initialises a C wait queue head (`init_waitqueue_head`).
///
/// # Safety
///
/// `wq` must be valid for writes and not move while in use.
pub(super) unsafe fn init_raw(wq: *mut bindings::wait_queue_head) {
    // SAFETY: From the caller; the name and key are static.
    unsafe { bindings::__init_waitqueue_head(wq, c_str!("rtun_wq").as_char_ptr(), KEY.as_ptr()) }
}

/// A wait queue head.
///
/// # Invariants
///
/// `wq` is initialised by `__init_waitqueue_head` and pinned.
#[pin_data]
#[repr(transparent)]
pub(crate) struct WaitQueue {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
}

// SAFETY: The wait queue is protected by its own spinlock.
unsafe impl Send for WaitQueue {}
// SAFETY: See `Send`.
unsafe impl Sync for WaitQueue {}

/// `poll_table` of a `poll` call.
pub(crate) struct PollTable(pub(super) *mut bindings::poll_table_struct);

impl WaitQueue {
    /// # Safety
    ///
    /// `ptr` must point to a wait queue head initialised with [`init_raw`]
    /// that stays valid, and does not move, for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::wait_queue_head) -> &'a Self {
        // SAFETY: `repr(transparent)` over the head (through `Opaque`);
        // valid and initialised per the caller.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::wait_queue_head {
        self.wq.get()
    }

    /// Wakes interruptible sleepers and pollers interested in `mask`, as a
    /// waker about to sleep or return (`wake_up_interruptible_sync_poll`:
    /// the wakee is not pulled to another CPU, nor preempts the waker).
    /// tun.c's wake-ups are all such (`sock_def_readable`,
    /// `tun_sock_write_space`), and which CPU a woken reader runs on is
    /// the reader's throughput: a plain wake-up here cost `tcp-tso-64k`
    /// ~200 instructions a frame in the scheduler.
    pub(crate) fn wake_poll(&self, mask: u32) {
        // `wq_has_sleeper`: the full barrier orders the caller's publication
        // (a packet in the ring) before the emptiness check below; it pairs
        // with the barrier a sleeper passes between queueing itself and
        // checking its condition (`prepare_to_wait`'s `set_current_state`,
        // or `poll_wait`'s own barrier).
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: The queue is initialised; a racy read of `head.next` is
        // what `waitqueue_active` does.
        let idle = unsafe {
            let head = core::ptr::addr_of_mut!((*self.as_raw()).head);
            core::ptr::addr_of!((*head).next).read_volatile() == head
        };
        if idle {
            return;
        }
        // CAST: `poll_to_key` passes the mask as the wake key pointer.
        // SAFETY: The queue is initialised.
        unsafe {
            bindings::__wake_up_sync_key(
                self.as_raw(),
                bindings::TASK_INTERRUPTIBLE,
                mask as usize as *mut core::ffi::c_void,
            )
        };
    }

    /// Registers `table`'s caller with this queue (`poll_wait`), followed
    /// by the full barrier that pairs with `wake_poll`'s (`poll_wait`'s
    /// `smp_mb`, which `wq_has_sleeper` pairs with): the caller's readiness
    /// checks after this cannot pass the queueing. Done here rather than
    /// through a helper because it runs on every poll.
    pub(crate) fn poll_wait(&self, file: &File, table: &PollTable) {
        if table.0.is_null() {
            return;
        }
        // SAFETY: A non-NULL table comes from the current `poll` call and
        // is valid for it (layout checked by `kernel/check-layout.py`).
        let Some(qproc) = (unsafe { (*table.0)._qproc }) else {
            return;
        };
        // The queue outlives the file's registration: it lives in the file's
        // private data or its socket, freed after the last poll ends.
        // SAFETY: `qproc` is the table's own queueing function, called as
        // `poll_wait` calls it, with the file and table of the current
        // `poll` call and a queue that outlives the registration.
        unsafe { qproc(file.as_raw(), self.as_raw(), table.0) };
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }

    /// Sleeps until `cond` holds; `ERESTARTSYS` if a signal arrives first.
    pub(crate) fn wait_interruptible(&self, mut cond: impl FnMut() -> bool) -> Result {
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is a local that does not move while queued (it is
        // removed by `finish_wait` before returning).
        unsafe { bindings::init_wait(entry.get()) };
        let ret = loop {
            // SAFETY: The queue and entry are valid; the entry is ours.
            unsafe {
                bindings::prepare_to_wait(
                    self.as_raw(),
                    entry.get(),
                    // CAST: Task states are small ints.
                    bindings::TASK_INTERRUPTIBLE as i32,
                )
            };
            if cond() {
                break Ok(());
            }
            // SAFETY: `current` is valid in process context.
            if unsafe { bindings::signal_pending(super::current::task()) } != 0 {
                break Err(ERESTARTSYS);
            }
            // SAFETY: We are in process context and may sleep.
            unsafe { bindings::schedule() };
        };
        // SAFETY: Dequeues the entry and restores TASK_RUNNING.
        unsafe { bindings::finish_wait(self.as_raw(), entry.get()) };
        ret
    }
}
