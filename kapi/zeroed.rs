// SPDX-License-Identifier: GPL-2.0

//! Tables allocated zeroed: `kvzalloc`, where filling a table one element
//! at a time would run a loop the allocator's `memset` does not.

use core::sync::atomic::{AtomicU32, AtomicU64};

use kernel::{
    alloc::{flags::__GFP_ZERO, Flags},
    prelude::*,
};

/// Types whose all-zero bit pattern is a valid value (6.12's
/// `kernel::init::Zeroable` lists no atomics, and another crate's trait
/// cannot be implemented for core's types here).
///
/// # Safety
///
/// All-zero bytes must be a valid value of the type.
pub(crate) unsafe trait ZeroValid {}

// SAFETY: An atomic integer has the layout of its integer, for which zero is
// a value.
unsafe impl ZeroValid for AtomicU64 {}
// SAFETY: As above.
unsafe impl ZeroValid for AtomicU32 {}

/// A zeroed array of `N` elements (`kvzalloc`): a fixed length, so that
/// indexing it with an index masked below `N` needs no bounds check.
pub(crate) fn zeroed_array<T: ZeroValid, const N: usize>(flags: Flags) -> Result<KVBox<[T; N]>> {
    let table = KVBox::<[T; N]>::new_uninit(flags | __GFP_ZERO)?;
    // SAFETY: The allocation is zeroed, and zero is a valid `T`
    // (`ZeroValid`), so a valid `[T; N]`.
    Ok(unsafe { table.assume_init() })
}
