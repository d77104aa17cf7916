// SPDX-License-Identifier: GPL-2.0

//! Extra references on the module itself, as tun.c takes for persistent
//! devices.
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h)

use kernel::{bindings, ThisModule};

/// Takes a reference on `module` (`__module_get`): it cannot be unloaded
/// until [`put`].
pub(crate) fn get(module: &'static ThisModule) {
    // SAFETY: The module is live (we run its code).
    unsafe { bindings::__module_get(module.as_ptr()) };
}

/// Drops a reference taken by [`get`] (`module_put`).
pub(crate) fn put(module: &'static ThisModule) {
    // SAFETY: The caller took the reference with `get`.
    unsafe { bindings::module_put(module.as_ptr()) };
}
