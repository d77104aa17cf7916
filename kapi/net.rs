// SPDX-License-Identifier: GPL-2.0

//! Network namespaces, the RTNL and the state it guards ([`RtnlCell`]), and
//! link types (`rtnl_link_ops`).
//!
//! Lock order: RTNL is the outermost lock rtun takes; nothing here is called
//! with a spinlock held.
//!
//! C header: [`include/net/rtnetlink.h`](srctree/include/net/rtnetlink.h)

use core::{
    cell::UnsafeCell,
    ffi::{c_int, c_void},
    marker::PhantomData,
    mem::offset_of,
    ptr::{addr_of_mut, NonNull},
};

use super::error::to_result;
use kernel::{bindings, prelude::*, types::Opaque};

use super::netdev::NetDevice;

/// Holds the RTNL (`rtnl_lock()`) until dropped.
///
/// Not `Send`: the RTNL is a mutex and must be released by its owner.
pub(crate) struct Rtnl {
    /// Whether this token took the lock (and so releases it).
    owned: bool,
    _not_send: PhantomData<*mut ()>,
}

impl Rtnl {
    /// Takes the RTNL; sleeps until it is free.
    pub(crate) fn lock() -> Self {
        // SAFETY: `rtnl_lock` has no preconditions beyond a sleepable
        // context, which every caller of rtun's file operations is.
        unsafe { bindings::rtnl_lock() };
        Self {
            owned: true,
            _not_send: PhantomData,
        }
    }

    /// A token for a callback that the core calls with RTNL held.
    ///
    /// # Safety
    ///
    /// The caller must hold RTNL for the token's lifetime.
    pub(crate) unsafe fn assume_held() -> Self {
        Self {
            owned: false,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: An owned token exists only while this task holds the
            // RTNL it took.
            unsafe { bindings::rtnl_unlock() };
        }
    }
}

/// A value read and written only under RTNL, by copy, so that no reference
/// into it outlives a call (and none can alias an update made while the
/// same task still looks at the value).
pub(crate) struct RtnlCell<T: Copy>(UnsafeCell<T>);

// SAFETY: Every access holds RTNL (the `&Rtnl` parameter), which serialises
// them; `T` is copied in and out, so it only needs to be `Send`.
unsafe impl<T: Copy + Send> Sync for RtnlCell<T> {}

impl<T: Copy> RtnlCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    pub(crate) fn get(&self, _rtnl: &Rtnl) -> T {
        // SAFETY: RTNL excludes concurrent writes, and no reference into the
        // cell exists outside these methods.
        unsafe { *self.0.get() }
    }

    pub(crate) fn set(&self, _rtnl: &Rtnl, v: T) {
        // SAFETY: RTNL excludes any other access, as in `get`.
        unsafe { *self.0.get() = v }
    }

    /// Changes the value with `f`, working on a copy: `f` may read the cell
    /// itself, and sees the old value.
    pub(crate) fn update<R>(&self, rtnl: &Rtnl, f: impl FnOnce(&mut T) -> R) -> R {
        let mut v = self.get(rtnl);
        let r = f(&mut v);
        self.set(rtnl, v);
        r
    }
}

/// A counted reference to a network namespace (`struct net`).
///
/// # Invariants
///
/// `self.0` points to a valid `struct net` on which this object owns one
/// reference, taken with `get_net`.
pub(crate) struct NetRef(NonNull<bindings::net>);

// SAFETY: A `struct net` reference may be dropped from any thread, and the
// fields read through it are immutable for the namespace's lifetime.
unsafe impl Send for NetRef {}

// SAFETY: See `Send`; `&NetRef` only reads immutable fields.
unsafe impl Sync for NetRef {}

impl NetRef {
    /// The network namespace of the calling task.
    pub(crate) fn current() -> Self {
        // SAFETY: `current` is valid. A task running a system call has a
        // non-NULL `nsproxy` (it is cleared only when the task exits), which
        // keeps its `net_ns` alive while we take our own reference.
        let net = unsafe {
            let nsproxy = (*super::current::task()).nsproxy;
            bindings::get_net((*nsproxy).net_ns)
        };
        // SAFETY: `get_net` returns its non-NULL argument.
        // INVARIANT: We own the reference `get_net` took.
        Self(unsafe { NonNull::new_unchecked(net) })
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }
}

impl core::ops::Deref for NetRef {
    type Target = Net;

    fn deref(&self) -> &Net {
        // SAFETY: We hold a reference on the namespace (type invariant).
        unsafe { Net::from_raw(self.as_raw()) }
    }
}

/// A network namespace, borrowed from whatever keeps it alive (a
/// [`NetRef`], or a device living in it).
///
/// # Invariants
///
/// The wrapped `struct net` is valid for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct net` that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `repr(transparent)`; validity from the caller.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Whether the calling task has `cap` in the user namespace that owns
    /// this network namespace (`ns_capable(net->user_ns, cap)`).
    pub(crate) fn ns_capable(&self, cap: u32) -> bool {
        // SAFETY: By the type invariant the namespace is valid, and
        // `user_ns` is set at creation and never changes.
        let user_ns = unsafe { (*self.as_raw()).user_ns };
        // CAST: Capability numbers are small; `ns_capable` takes an int.
        // SAFETY: `user_ns` is valid while the namespace holds it.
        unsafe { bindings::ns_capable(user_ns, cap as c_int) }
    }

    /// Opens a new file descriptor for this namespace (`SIOCGSKNS`,
    /// `TUNGETDEVNETNS`).
    pub(crate) fn open_fd(&self) -> Result<isize> {
        // SAFETY: The namespace is valid (type invariant); `get_net_ns` is
        // the getter `open_related_ns` expects for a `struct net`'s
        // `ns_common`, and takes its own reference.
        let fd = unsafe {
            bindings::open_related_ns(
                addr_of_mut!((*self.as_raw()).ns),
                Some(bindings::get_net_ns),
            )
        };
        to_result(fd)?;
        // CAST: A file descriptor is a non-negative int.
        Ok(fd as isize)
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference.
        unsafe { bindings::put_net(self.as_raw()) };
    }
}

/// An extended-ack handle of a netlink request, for an error message.
pub(crate) struct ExtAck<'a> {
    ptr: *mut bindings::netlink_ext_ack,
    _p: PhantomData<&'a mut bindings::netlink_ext_ack>,
}

impl ExtAck<'_> {
    /// Sets the message user space sees with the error (`NL_SET_ERR_MSG`).
    pub(crate) fn set_msg(&mut self, msg: &'static CStr) {
        if !self.ptr.is_null() {
            // SAFETY: A non-NULL `ptr` is the request's ext_ack, exclusively
            // ours during the callback; the message is static.
            unsafe { (*self.ptr)._msg = msg.as_char_ptr() };
        }
    }
}

/// A netlink message being filled with attributes.
pub(crate) struct NlAttrs<'a> {
    skb: *mut bindings::sk_buff,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl NlAttrs<'_> {
    fn put(&mut self, attr: u32, data: &[u8]) -> Result {
        // CAST: Attribute types and our lengths are small.
        // SAFETY: `skb` is the message under construction, ours during the
        // callback; `data` is valid for reads of its length.
        let ret = unsafe {
            bindings::nla_put(
                self.skb,
                attr as i32,
                data.len() as i32,
                data.as_ptr().cast(),
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(super::error::emsgsize())
        }
    }

    /// `nla_put_u8`.
    pub(crate) fn put_u8(&mut self, attr: u32, v: u8) -> Result {
        self.put(attr, &[v])
    }

    /// `nla_put_u32`.
    pub(crate) fn put_u32(&mut self, attr: u32, v: u32) -> Result {
        self.put(attr, &v.to_ne_bytes())
    }
}

/// `nla_total_size(len)`: an attribute's header and payload, aligned.
pub(crate) const fn nla_total_size(len: usize) -> usize {
    (4 + len + 3) & !3
}

/// The netdevice notifier events rtun acts on.
pub(crate) enum NetdevEvent {
    /// `NETDEV_UP`.
    Up,
    /// `NETDEV_CHANGE_TX_QUEUE_LEN`.
    ChangeTxQueueLen,
    /// Anything else.
    Other,
}

/// A kind of link (`ip link ... type <KIND>`), with the netdevice events of
/// its own devices.
pub(crate) trait LinkType {
    /// The link kind.
    const KIND: &'static CStr;

    /// Validates a `RTM_NEWLINK` request for this kind.
    fn validate(extack: &mut ExtAck<'_>) -> Result;

    /// Room `fill_info` needs in a netlink message (`get_size`).
    fn info_size(_dev: &NetDevice) -> usize {
        0
    }

    /// Adds the kind's attributes to `IFLA_INFO_DATA` (`fill_info`).
    fn fill_info(_dev: &NetDevice, _msg: &mut NlAttrs<'_>) -> Result {
        Ok(())
    }

    /// Handles a netdevice notifier event for a device of this kind.
    fn netdev_event(_dev: &NetDevice, _event: NetdevEvent, _rtnl: &Rtnl) -> Result {
        Ok(())
    }
}

/// A link type's `rtnl_link_ops` and netdevice notifier, as a `static`:
/// devices point at the ops (`dev->rtnl_link_ops`), so unregistering the
/// link type deletes them.
pub(crate) struct LinkOps<T: LinkType> {
    ops: Opaque<bindings::rtnl_link_ops>,
    nb: Opaque<bindings::notifier_block>,
    _t: PhantomData<T>,
}

// SAFETY: rtnetlink and the notifier chain access the C objects under their
// own locks; Rust code only takes their addresses.
unsafe impl<T: LinkType> Sync for LinkOps<T> {}

impl<T: LinkType> LinkOps<T> {
    /// The ops of `T`, unregistered.
    pub(crate) const fn new() -> Self {
        Self {
            ops: Opaque::new(bindings::rtnl_link_ops {
                kind: T::KIND.as_char_ptr(),
                validate: Some(validate_callback::<T>),
                // What rtnetlink defaults to for kinds with a `setup`: `ip
                // link del` unregisters the device.
                dellink: Some(bindings::unregister_netdevice_queue),
                get_size: Some(get_size_callback::<T>),
                fill_info: Some(fill_info_callback::<T>),
                // SAFETY: All-zero is a valid `rtnl_link_ops` tail.
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            }),
            nb: Opaque::new(bindings::notifier_block {
                notifier_call: Some(event_callback::<T>),
                // SAFETY: All-zero is a valid `notifier_block` tail.
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            }),
            _t: PhantomData,
        }
    }

    /// The address devices of this kind store in `rtnl_link_ops`.
    pub(crate) fn as_ptr(&self) -> *const bindings::rtnl_link_ops {
        self.ops.get()
    }
}

/// A registered link type and its netdevice notifier.
///
/// # Invariants
///
/// `ops` is registered with rtnetlink and its notifier with the netdevice
/// notifier chain, both until drop.
pub(crate) struct LinkRegistration<T: LinkType + 'static> {
    ops: &'static LinkOps<T>,
}

impl<T: LinkType> LinkRegistration<T> {
    /// Registers the link type, then the notifier (tun_init's order).
    pub(crate) fn register(ops: &'static LinkOps<T>) -> Result<Self> {
        // SAFETY: `ops` is static, so it outlives the registration.
        to_result(unsafe { bindings::rtnl_link_register(ops.ops.get()) })?;
        // SAFETY: As above, for the notifier block.
        if let Err(err) = to_result(unsafe { bindings::register_netdevice_notifier(ops.nb.get()) })
        {
            // SAFETY: Registered just above.
            unsafe { bindings::rtnl_link_unregister(ops.ops.get()) };
            return Err(err);
        }
        // INVARIANT: Both are registered.
        Ok(Self { ops })
    }
}

impl<T: LinkType> Drop for LinkRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant both are registered. tun_cleanup's
        // order: unregistering the link type deletes the remaining devices of
        // this kind, whose NETDEV_UNREGISTER events the notifier still sees.
        unsafe {
            bindings::rtnl_link_unregister(self.ops.ops.get());
            bindings::unregister_netdevice_notifier(self.ops.nb.get());
        }
    }
}

/// # Safety
///
/// Called by rtnetlink with a valid (possibly NULL) ext_ack.
unsafe extern "C" fn validate_callback<T: LinkType>(
    _tb: *mut *mut bindings::nlattr,
    _data: *mut *mut bindings::nlattr,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    let mut extack = ExtAck {
        ptr: extack,
        _p: PhantomData,
    };
    match T::validate(&mut extack) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// # Safety
///
/// Called by the netdevice notifier chain with `nb` pointing into a
/// registered [`LinkRegistration<T>`] and `ptr` to a `netdev_notifier_info`.
unsafe extern "C" fn event_callback<T: LinkType>(
    nb: *mut bindings::notifier_block,
    event: usize,
    ptr: *mut c_void,
) -> c_int {
    // SAFETY: `nb` is the `nb` field of a `LinkOps<T>` (only those register
    // this callback), so stepping back by its offset yields it.
    let this = unsafe {
        &*nb.cast::<u8>()
            .sub(offset_of!(LinkOps<T>, nb))
            .cast::<LinkOps<T>>()
    };
    // SAFETY: Every netdevice notifier event carries a `netdev_notifier_info`
    // whose device is valid for the call (the RTNL is held).
    let dev = unsafe { (*ptr.cast::<bindings::netdev_notifier_info>()).dev };
    // SAFETY: As above, `dev` is valid; `rtnl_link_ops` is stable under RTNL.
    if unsafe { (*dev).rtnl_link_ops }.cast_mut() != this.ops.get() {
        return bindings::NOTIFY_DONE as c_int;
    }
    let event = match u32::try_from(event) {
        Ok(bindings::netdev_cmd_NETDEV_UP) => NetdevEvent::Up,
        Ok(bindings::netdev_cmd_NETDEV_CHANGE_TX_QUEUE_LEN) => NetdevEvent::ChangeTxQueueLen,
        _ => NetdevEvent::Other,
    };
    // SAFETY: Netdevice notifiers run with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: `dev` is valid for the call.
    match T::netdev_event(unsafe { NetDevice::from_raw(dev) }, event, &rtnl) {
        Ok(()) => bindings::NOTIFY_DONE as c_int,
        // CAST: NOTIFY_BAD fits an int.
        Err(_) => bindings::NOTIFY_BAD as c_int,
    }
}

/// # Safety
///
/// Called by rtnetlink with a device of this kind.
unsafe extern "C" fn get_size_callback<T: LinkType>(dev: *const bindings::net_device) -> usize {
    // SAFETY: The device is valid for the call.
    T::info_size(unsafe { NetDevice::from_raw(dev.cast_mut()) })
}

/// # Safety
///
/// Called by rtnetlink, under RTNL, with the message being built and a
/// device of this kind.
unsafe extern "C" fn fill_info_callback<T: LinkType>(
    skb: *mut bindings::sk_buff,
    dev: *const bindings::net_device,
) -> c_int {
    let mut msg = NlAttrs {
        skb,
        _p: PhantomData,
    };
    // SAFETY: The device is valid for the call.
    match T::fill_info(unsafe { NetDevice::from_raw(dev.cast_mut()) }, &mut msg) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
