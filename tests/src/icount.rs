// SPDX-License-Identifier: GPL-2.0

//! Markers for the icount QEMU plugin (`qemu/icount/icount.c`): it counts
//! the guest instructions all vCPUs execute between a `mark_start()` and the
//! next `mark_stop()`, and writes one line per window on the host.
//!
//! A marker is a multi-byte NOP, `nopl 0x72746e00+OP(%rax)`: harmless on any
//! x86-64 CPU, with or without the plugin, and a byte pattern ("rtn" in the
//! displacement) that compiled code does not contain. Spelled out as bytes so
//! that no assembler picks another encoding.

/// Start a window (OP 1).
#[inline(always)]
pub fn mark_start() {
    mark::<1>();
}

/// End the window (OP 2).
#[inline(always)]
pub fn mark_stop() {
    mark::<2>();
}

#[inline(always)]
fn mark<const OP: u8>() {
    // SAFETY: A NOP: the memory operand is never accessed, no register or
    // flag changes. Not `nomem`, so that the compiler does not move the
    // measured code's memory accesses across the marker.
    unsafe {
        std::arch::asm!(
            ".byte 0x0f, 0x1f, 0x80, {op}, 0x6e, 0x74, 0x72",
            op = const OP,
            options(nostack, preserves_flags)
        )
    }
}
