// SPDX-License-Identifier: GPL-2.0

//! The LSM hooks of tun devices (`security_tun_dev_*`): SELinux, BPF LSM
//! and any other module that guards tun see rtun's devices as tun's.
//!
//! C header: [`include/linux/security.h`](srctree/include/linux/security.h)
//!
//! Every hook but `create` takes the device's blob, so they are methods of
//! [`TunSecurity`]; tun.c calls each one under RTNL, and so does rtun
//! (hence the `&Rtnl` parameters), which is what serialises an LSM's
//! updates of the blob.

use core::{ffi::c_void, ptr};

use super::error::to_result;
use kernel::{bindings, prelude::*};

use super::{net::Rtnl, tun_socket::Socket};

/// A tun device's LSM blob (`tun->security`).
///
/// # Invariants
///
/// `0` is what `security_tun_dev_alloc_security` stored (NULL when no LSM
/// keeps a blob); it is freed exactly once, on drop.
pub(crate) struct TunSecurity(*mut c_void);

// SAFETY: The blob is only handed to the LSM hooks, which rtun calls under
// RTNL as tun.c does; the LSMs serialise on that.
unsafe impl Send for TunSecurity {}
// SAFETY: See `Send`.
unsafe impl Sync for TunSecurity {}

impl TunSecurity {
    /// `security_tun_dev_alloc_security`, as a device is made
    /// (`tun_net_init`); an LSM may refuse.
    pub(crate) fn new() -> Result<Self> {
        let mut blob = ptr::null_mut();
        // SAFETY: `blob` is valid for writes; the hook stores a pointer or
        // leaves it NULL.
        to_result(unsafe { bindings::security_tun_dev_alloc_security(&mut blob) })?;
        // INVARIANT: Allocated by the hook just now.
        Ok(Self(blob))
    }

    /// `security_tun_dev_create`: may the caller create a tun device?
    pub(crate) fn may_create(_rtnl: &Rtnl) -> Result {
        // SAFETY: No arguments; process context.
        to_result(unsafe { bindings::security_tun_dev_create() })
    }

    /// `security_tun_dev_open`: may the caller attach to this existing
    /// device (`TUNSETIFF` on a name that exists)?
    pub(crate) fn may_open(&self, _rtnl: &Rtnl) -> Result {
        // SAFETY: The blob is this device's (type invariant).
        to_result(unsafe { bindings::security_tun_dev_open(self.0) })
    }

    /// `security_tun_dev_attach`: may `sock`, a queue's socket, become a
    /// queue of this device (`tun_attach`)?
    pub(crate) fn may_attach(&self, _rtnl: &Rtnl, sock: &Socket) -> Result {
        // SAFETY: The blob is this device's; `sock`'s `struct sock` is valid
        // while we borrow it.
        to_result(unsafe { bindings::security_tun_dev_attach(sock.sk(), self.0) })
    }

    /// `security_tun_dev_attach_queue`: may a queue detached with
    /// `TUNSETQUEUE` come back (`IFF_ATTACH_QUEUE`)?
    pub(crate) fn may_attach_queue(&self, _rtnl: &Rtnl) -> Result {
        // SAFETY: The blob is this device's (type invariant).
        to_result(unsafe { bindings::security_tun_dev_attach_queue(self.0) })
    }
}

impl Drop for TunSecurity {
    fn drop(&mut self) {
        // SAFETY: Allocated by `security_tun_dev_alloc_security`, freed only
        // here (type invariant); NULL is accepted.
        unsafe { bindings::security_tun_dev_free_security(self.0) };
    }
}
