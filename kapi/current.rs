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
        // `pcpu_hot`'s anonymous union and struct are at its offset 0
        // (`kernel/check-layout.py` proves `current_task`'s offset).
        let at =
            core::mem::offset_of!(bindings::pcpu_hot__bindgen_ty_1__bindgen_ty_1, current_task);
        let task: *mut bindings::task_struct;
        // SAFETY: `pcpu_hot` is a per-CPU variable: its address is the
        // offset `%gs` adds this CPU's base to. Reading this CPU's
        // `current_task` is `this_cpu_read_stable`, which a migration cannot
        // make stale: the task that reads it is the one it names.
        unsafe {
            let slot = core::ptr::addr_of!(bindings::pcpu_hot)
                .cast::<u8>()
                .wrapping_add(at);
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
