// SPDX-License-Identifier: GPL-2.0

//! Error codes tun.c returns that 6.12's `kernel::error::code` does not name.
//!
//! C header: [`include/uapi/asm-generic/errno.h`](srctree/include/uapi/asm-generic/errno.h)

use kernel::{bindings, error::Error};

macro_rules! errno {
    ($($(#[$doc:meta])* $fn:ident => $name:ident;)*) => {$(
        $(#[$doc])*
        pub(crate) fn $fn() -> Error {
            // CAST: errno constants are small positive values; `from_errno`
            // takes them negated.
            Error::from_errno(-(bindings::$name as i32))
        }
    )*};
}

errno! {
    /// File descriptor in bad state: an ioctl that needs an attached device.
    ebadfd => EBADFD;
    /// Operation not supported: e.g. creating a tun link over rtnetlink.
    eopnotsupp => EOPNOTSUPP;
    /// Message too long: a netlink attribute did not fit.
    emsgsize => EMSGSIZE;
    /// Value too large: a packet without headroom for an XDP frame.
    eoverflow => EOVERFLOW;
}

/// `kernel::error::to_result`, inlined: C's "negative errno or success" as
/// a [`Result`]. The kernel crate's is an out-of-line call, and several run
/// on every packet; only the error is built out of line here.
#[inline(always)]
pub(crate) fn to_result(ret: core::ffi::c_int) -> kernel::error::Result {
    if ret < 0 {
        Err(from_errno_cold(ret))
    } else {
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn from_errno_cold(ret: core::ffi::c_int) -> Error {
    Error::from_errno(ret)
}
