// SPDX-License-Identifier: GPL-2.0

//! Socket-filter BPF programs loaded by user space, which tun runs on
//! packets it transmits (`TUNSETSTEERINGEBPF`, `TUNSETFILTEREBPF`).
//!
//! C header: [`include/linux/filter.h`](srctree/include/linux/filter.h)

use core::ptr::NonNull;

use kernel::{bindings, prelude::*};

use super::{
    rcu,
    skbuff::{BhOff, SkBuff},
};

/// A reference to a loaded `BPF_PROG_TYPE_SOCKET_FILTER` program.
///
/// # Invariants
///
/// `self.0` is a valid program of that type on which we own a reference.
pub(crate) struct BpfProg(NonNull<bindings::bpf_prog>);

// SAFETY: Program references may be used and dropped on any thread.
unsafe impl Send for BpfProg {}
// SAFETY: Running a program needs only a shared reference.
unsafe impl Sync for BpfProg {}

impl BpfProg {
    /// The socket filter behind the caller's file descriptor `fd`
    /// (`bpf_prog_get_type`): `EBADF`, or `EINVAL` for another type.
    pub(crate) fn socket_filter(fd: i32) -> Result<Self> {
        // SAFETY: Looks up `fd` in the current task's table.
        let prog = unsafe {
            bindings::bpf_prog_get_type_dev(
                // CAST: The kernel takes the fd as unsigned and checks it.
                fd as u32,
                bindings::bpf_prog_type_BPF_PROG_TYPE_SOCKET_FILTER,
                false,
            )
        };
        // SAFETY: `IS_ERR` only decodes the pointer.
        if unsafe { bindings::IS_ERR(prog.cast()) } {
            // SAFETY: As for `IS_ERR`.
            let errno = unsafe { bindings::PTR_ERR(prog.cast()) };
            // CAST: An errno.
            return Err(Error::from_errno(errno as i32));
        }
        // INVARIANT: The lookup gave us a reference to a valid program.
        NonNull::new(prog).map(Self).ok_or(EINVAL)
    }

    /// Runs the program on `skb` (`bpf_prog_run_clear_cb`): the length to
    /// keep for a filter, any number for steering. BPF programs run in an
    /// RCU read section on a CPU they cannot migrate from: the witnesses.
    pub(crate) fn run(&self, skb: &SkBuff, _guard: &rcu::Guard, _bh: &BhOff) -> u32 {
        // SAFETY: A valid program (type invariant) and skb; inside an RCU
        // read section (`_guard`) with BH disabled (`_bh`), which keeps the
        // task on its CPU, as `bpf_prog_run` requires.
        unsafe { bindings::bpf_prog_run_clear_cb(self.0.as_ptr(), skb.as_raw()) }
    }
}

impl Drop for BpfProg {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { bindings::bpf_prog_put(self.0.as_ptr()) };
    }
}
