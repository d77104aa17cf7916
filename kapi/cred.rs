// SPDX-License-Identifier: GPL-2.0

//! The calling task's credentials, for tun's owner and group checks.
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h)

use kernel::bindings;

/// `(uid_t)-1`, the invalid id.
pub(crate) const INVALID_ID: u32 = u32::MAX;

fn current_cred() -> *const bindings::cred {
    // SAFETY: `current` is valid in process context, and its `cred` stays
    // valid while the task runs (it is replaced only by the task itself).
    unsafe { (*super::current::task()).cred }
}

/// Maps `uid` from the caller's user namespace to a kernel uid
/// (`make_kuid(current_user_ns(), uid)`); `INVALID_ID` if it has none.
pub(crate) fn make_kuid(uid: u32) -> u32 {
    // SAFETY: The caller's cred and its user namespace are valid (see
    // `current_cred`).
    unsafe { bindings::make_kuid((*current_cred()).user_ns, uid) }.val
}

/// As [`make_kuid`], for group ids.
pub(crate) fn make_kgid(gid: u32) -> u32 {
    // SAFETY: As in `make_kuid`.
    unsafe { bindings::make_kgid((*current_cred()).user_ns, gid) }.val
}

/// The caller's effective kernel uid.
pub(crate) fn euid() -> u32 {
    // SAFETY: As in `make_kuid`.
    unsafe { (*current_cred()).euid.val }
}

/// Whether the caller is in kernel group `gid` (`in_egroup_p`).
pub(crate) fn in_egroup(gid: u32) -> bool {
    // SAFETY: Reads the caller's own credentials.
    unsafe { bindings::in_egroup_p(bindings::kgid_t { val: gid }) != 0 }
}

/// A kernel uid as the caller's user namespace sees it
/// (`from_kuid_munged`: the overflow id if it does not map).
pub(crate) fn uid_for_caller(kuid: u32) -> u32 {
    // SAFETY: As in `make_kuid`.
    unsafe { bindings::from_kuid_munged((*current_cred()).user_ns, bindings::kuid_t { val: kuid }) }
}

/// As [`uid_for_caller`], for group ids.
pub(crate) fn gid_for_caller(kgid: u32) -> u32 {
    // SAFETY: As in `make_kuid`.
    unsafe { bindings::from_kgid_munged((*current_cred()).user_ns, bindings::kgid_t { val: kgid }) }
}

/// Whether the calling task has `cap` in the initial user namespace
/// (`capable`), not merely in its own.
pub(crate) fn capable(cap: u32) -> bool {
    // CAST: Capability numbers are small.
    // SAFETY: No pointers; process context.
    unsafe { bindings::capable(cap as i32) }
}
