// SPDX-License-Identifier: GPL-2.0

//! Copies of ioctl arguments to and from user space.
//!
//! A thin veneer over [`kernel::uaccess::UserSlice`], which is already safe:
//! it returns `EFAULT` for any address user space may pass.
//!
//! C header: [`include/linux/uaccess.h`](srctree/include/linux/uaccess.h)

use kernel::{
    prelude::*,
    types::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

/// Reads a `T` from the user address `arg`.
pub(crate) fn read<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(arg as UserPtr, core::mem::size_of::<T>())
        .reader()
        .read()
}

/// Writes `value` to the user address `arg`.
pub(crate) fn write<T: AsBytes>(arg: usize, value: &T) -> Result {
    UserSlice::new(arg as UserPtr, core::mem::size_of::<T>())
        .writer()
        .write(value)
}

/// Reads the first `len` bytes of an `N`-byte structure from `arg`.
///
/// tun's ioctls copy `struct ifreq` or the shorter `struct compat_ifreq`
/// into the same buffer; the tail past `len` stays zero.
pub(crate) fn read_prefix<const N: usize>(arg: usize, len: usize) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    let len = len.min(N);
    UserSlice::new(arg as UserPtr, len)
        .reader()
        .read_slice(&mut buf[..len])?;
    Ok(buf)
}

/// Writes the first `len` bytes of `buf` to `arg`.
pub(crate) fn write_prefix(arg: usize, buf: &[u8], len: usize) -> Result {
    let len = len.min(buf.len());
    UserSlice::new(arg as UserPtr, len)
        .writer()
        .write_slice(&buf[..len])
}

/// Reads `len` bytes from `arg` into a new vector (`memdup_user`). User
/// space chooses `len`, so a size the allocator cannot serve is `ENOMEM`,
/// not a warning (`__GFP_NOWARN`, as `memdup_user`).
pub(crate) fn read_vec(arg: usize, len: usize) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    UserSlice::new(arg as UserPtr, len)
        .reader()
        .read_all(&mut v, GFP_KERNEL | kernel::alloc::flags::__GFP_NOWARN)?;
    Ok(v)
}
