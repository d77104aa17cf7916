// SPDX-License-Identifier: GPL-2.0

//! The running task, `current`, read as C reads it: on x86-64 SMP one
//! `%gs`-relative load of `pcpu_hot.current_task` rather than a call into
//! the `get_current` helper (`arch/x86/include/asm/current.h`).
//!
//! C header: [`include/asm-generic/current.h`](srctree/include/asm-generic/current.h)

use kernel::bindings;

/// The task this code runs on behalf of (`current`). Valid as long as the
/// caller runs: a task does not outlive its own execution.
#[inline(always)]
pub(crate) fn task() -> *mut bindings::task_struct {
    #[cfg(all(target_arch = "x86_64", CONFIG_SMP))]
    {
        let slot = pcpu_hot_field(core::mem::offset_of!(
            bindings::pcpu_hot__bindgen_ty_1__bindgen_ty_1,
            current_task
        ));
        let task: *mut bindings::task_struct;
        // SAFETY: `slot` is this CPU's `current_task` once `%gs` is added.
        // Reading it is `this_cpu_read_stable`, which a migration cannot
        // make stale: the task that reads it is the one it names.
        unsafe {
            core::arch::asm!(
                "movq %gs:({slot}), {task}",
                slot = in(reg) slot,
                task = out(reg) task,
                options(att_syntax, nostack, readonly, preserves_flags),
            );
        }
        task
    }
    #[cfg(not(all(target_arch = "x86_64", CONFIG_SMP)))]
    // SAFETY: Always allowed.
    unsafe {
        bindings::get_current()
    }
}

/// The per-CPU address of the member `at` bytes into `pcpu_hot`'s
/// anonymous struct: what `%gs` turns into this CPU's copy of it. The
/// anonymous union and struct are at `pcpu_hot`'s offset 0
/// (`kernel/check-layout.py` proves each member's offset used here).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn pcpu_hot_field(at: usize) -> *mut u8 {
    core::ptr::addr_of_mut!(bindings::pcpu_hot)
        .cast::<u8>()
        .wrapping_add(at)
}
