// SPDX-License-Identifier: GPL-2.0

//! Network devices (`struct net_device`) whose operations and private data
//! are Rust.
//!
//! [`NetDevice`] is any device, borrowed or held (`ARef`). A kind of device
//! is a [`NetDevOps`] implementation with a `static` [`DeviceOps`] table
//! (the `ndo_*` callbacks, each a trampoline into the trait); its private
//! area (`netdev_priv`) holds a [`NetDevOps::Priv`], initialised in place
//! by [`NewNetDevice`] after `alloc_netdev_mqs` and dropped by
//! `priv_destructor` after the last reference. [`DevRef`] is a held device
//! of a known kind, with its private data. The RCU slot that publishes one
//! is in `rcu.rs`.
//!
//! Lock order: RTNL, then RCU read sections. Registration and
//! unregistration run under RTNL.
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::{
    ffi::c_int,
    marker::PhantomData,
    ptr::{self, NonNull},
};

use kernel::{
    bindings,
    init::PinInit,
    prelude::*,
    types::{ARef, AlwaysRefCounted, Opaque},
};

use super::{
    error::to_result,
    net::{Net, Rtnl},
    rcu,
    skbuff::{BhOff, SkBuff},
    xdp::{XdpProg, XmitFrames},
};

/// A network device.
///
/// # Invariants
///
/// The wrapped `struct net_device` is valid for the lifetime of the
/// reference.
#[repr(transparent)]
pub(crate) struct NetDevice(Opaque<bindings::net_device>);

// SAFETY: `struct net_device` is used from any thread; the methods below
// read fields that are either immutable after registration or read with the
// same racy semantics as C.
unsafe impl Send for NetDevice {}
// SAFETY: See `Send`.
unsafe impl Sync for NetDevice {}

// SAFETY: `dev_hold`/`dev_put` maintain the device's reference count; a held
// device is not freed.
unsafe impl AlwaysRefCounted for NetDevice {
    #[inline(always)]
    fn inc_ref(&self) {
        // SAFETY: The device is valid (type invariant).
        unsafe { dev_hold(self.as_raw()) };
    }

    #[inline(always)]
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference taken with `dev_hold`.
        unsafe { dev_put(obj.cast().as_ptr()) };
    }
}

// `dev_hold`/`dev_put` are one per-CPU increment or decrement of
// `dev->pcpu_refcnt` (`__dev_hold`/`__dev_put` with
// `CONFIG_PCPU_DEV_REFCNT` and no reference tracker), which on x86-64 SMP
// is a single `%gs`-relative instruction (`this_cpu_inc`). There rtun does
// it in place, as C does, instead of calling a helper for it twice per
// packet; elsewhere it calls the helpers.

/// `dev_hold`.
///
/// # Safety
///
/// `dev` must point to a valid device.
#[inline(always)]
pub(crate) unsafe fn dev_hold(dev: *mut bindings::net_device) {
    // SAFETY: A valid device (the caller).
    unsafe { refcnt(dev, true) }
}

/// `dev_put`.
///
/// # Safety
///
/// `dev` must point to a valid device whose reference the caller owns.
#[inline(always)]
pub(crate) unsafe fn dev_put(dev: *mut bindings::net_device) {
    // SAFETY: A valid device whose reference we give up (the caller).
    unsafe { refcnt(dev, false) }
}

/// Takes (`hold`) or gives up a reference to `dev`.
///
/// # Safety
///
/// `dev` must point to a valid device, and when giving up a reference,
/// one the caller owns.
#[inline(always)]
unsafe fn refcnt(dev: *mut bindings::net_device, hold: bool) {
    #[cfg(all(
        target_arch = "x86_64",
        CONFIG_SMP,
        CONFIG_PCPU_DEV_REFCNT,
        not(CONFIG_NET_DEV_REFCNT_TRACKER)
    ))]
    // One read-modify-write instruction cannot be torn by an interrupt or a
    // migration, which is why `this_cpu_inc` is one too; freeing waits for
    // the sum of all CPUs' counters to drop.
    // SAFETY: `pcpu_refcnt` of a valid device (the caller) is its per-CPU
    // counter until free, `%gs` this CPU's per-CPU base; a reference given
    // up keeps the device alive across the instruction.
    unsafe {
        let pcpu = ptr::addr_of!((*dev).pcpu_refcnt).read();
        if hold {
            core::arch::asm!("incl %gs:({0})", in(reg) pcpu, options(att_syntax, nostack));
        } else {
            core::arch::asm!("decl %gs:({0})", in(reg) pcpu, options(att_syntax, nostack));
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        CONFIG_SMP,
        CONFIG_PCPU_DEV_REFCNT,
        not(CONFIG_NET_DEV_REFCNT_TRACKER)
    )))]
    // SAFETY: From the caller.
    unsafe {
        if hold {
            bindings::dev_hold(dev)
        } else {
            bindings::dev_put(dev)
        }
    }
}

/// Which pair of `struct pcpu_sw_netstats` counters a packet counts in.
#[derive(Clone, Copy)]
enum SwStat {
    Rx,
    Tx,
}

/// `dev_sw_netstats_{rx,tx}_add` of one packet. On x86-64 SMP as two
/// `this_cpu_add`s: each counter is a `u64_stats_t`, on 64-bit a
/// `local64_t` that C adds to with one instruction on
/// `this_cpu_ptr(dev->tstats)`, and needs no sequence count. Adding
/// `%gs`-relative does the same to this CPU's counter in one instruction
/// each, which no interrupt can tear and which needs neither preemption nor
/// BH disabled around it; the two counters may land on different CPUs if
/// the task migrates in between, which readers, summing every CPU's,
/// cannot tell. Elsewhere through the helpers.
///
/// # Safety
///
/// `dev` must point to a valid device whose `tstats` is allocated
/// (`NETDEV_PCPU_STAT_TSTATS`, set by `NewNetDevice::new`); for
/// [`SwStat::Rx`], BH must be off.
#[inline(always)]
unsafe fn sw_stats_add(dev: *mut bindings::net_device, which: SwStat, len: u32) {
    #[cfg(all(target_arch = "x86_64", CONFIG_SMP))]
    {
        use core::mem::offset_of;
        let (packets, bytes) = match which {
            SwStat::Rx => (
                offset_of!(bindings::pcpu_sw_netstats, rx_packets),
                offset_of!(bindings::pcpu_sw_netstats, rx_bytes),
            ),
            SwStat::Tx => (
                offset_of!(bindings::pcpu_sw_netstats, tx_packets),
                offset_of!(bindings::pcpu_sw_netstats, tx_bytes),
            ),
        };
        // Layouts checked by `kernel/check-layout.py`; each `u64_stats_t` is
        // its 64-bit counter at offset 0.
        // SAFETY: `tstats` of a valid device (the caller) is the per-CPU
        // address of its counters, which `%gs` turns into this CPU's copy;
        // nothing is dereferenced outside the two instructions.
        unsafe {
            let base = ptr::addr_of!((*dev).__bindgen_anon_2.tstats)
                .read()
                .cast::<u8>();
            core::arch::asm!(
                "addq {len}, %gs:({bytes})",
                "incq %gs:({packets})",
                len = in(reg) u64::from(len),
                bytes = in(reg) base.wrapping_add(bytes),
                packets = in(reg) base.wrapping_add(packets),
                options(att_syntax, nostack),
            );
        }
    }
    #[cfg(not(all(target_arch = "x86_64", CONFIG_SMP)))]
    match which {
        // SAFETY: From the caller; BH off keeps us on this CPU.
        SwStat::Rx => unsafe { bindings::dev_sw_netstats_rx_add(dev, len) },
        SwStat::Tx => {
            // The per-CPU update must not migrate mid-way. Without
            // CONFIG_PREEMPTION process context is never preempted; with
            // it, disabling BH also disables preemption.
            #[cfg(CONFIG_PREEMPTION)]
            // SAFETY: Paired with the enable below.
            unsafe {
                bindings::local_bh_disable()
            };
            // SAFETY: From the caller.
            unsafe { bindings::dev_sw_netstats_tx_add(dev, 1, len) };
            #[cfg(CONFIG_PREEMPTION)]
            // SAFETY: Disabled above.
            unsafe {
                bindings::local_bh_enable()
            };
        }
    }
}

impl NetDevice {
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct net_device` that stays valid for
    /// `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a Self {
        // SAFETY: `NetDevice` is `repr(transparent)` over the C struct, and
        // the caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// The interface name (`dev->name`), without its NUL.
    pub(crate) fn name(&self) -> [u8; bindings::IFNAMSIZ as usize] {
        // SAFETY: `name` is a fixed array in the valid device; a rename
        // under RTNL may race, which C readers of `dev->name` accept too.
        // The kernel's `char` is `u8` in the bindings.
        unsafe { ptr::addr_of!((*self.as_raw()).name).read_volatile() }
    }

    /// `dev->flags` (`IFF_UP` and friends).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: The device is valid; a racy read as in C.
        unsafe { ptr::addr_of!((*self.as_raw()).flags).read_volatile() }
    }

    /// `dev->tx_queue_len`.
    pub(crate) fn tx_queue_len(&self) -> u32 {
        // SAFETY: The device is valid; a racy read as in C.
        unsafe { ptr::addr_of!((*self.as_raw()).tx_queue_len).read_volatile() }
    }

    /// Whether the device is still registered (`reg_state`).
    pub(crate) fn is_registered(&self, _rtnl: &Rtnl) -> bool {
        self.is_registered_racy()
    }

    /// `reg_state == NETREG_REGISTERED` read without RTNL, as tun.c's
    /// `tun_chr_poll` does: a snapshot that may change right after.
    pub(crate) fn is_registered_racy(&self) -> bool {
        // SAFETY: The device is valid; a racy one-byte read as in C.
        let state = unsafe { ptr::addr_of!((*self.as_raw()).reg_state).read_volatile() };
        u32::from(state) == bindings::netdev_reg_state_NETREG_REGISTERED
    }

    /// `netif_carrier_on` / `netif_carrier_off`.
    pub(crate) fn set_carrier(&self, on: bool) {
        // SAFETY: `self` is a valid device (type invariant); carrier changes
        // are allowed in any context (they only queue a linkwatch event).
        unsafe {
            if on {
                bindings::netif_carrier_on(self.as_raw())
            } else {
                bindings::netif_carrier_off(self.as_raw())
            }
        }
    }

    /// Whether the device is up (`netif_running`).
    pub(crate) fn is_running(&self) -> bool {
        // SAFETY: `self` is a valid device (type invariant); a bit test.
        unsafe { bindings::netif_running(self.as_raw()) }
    }

    /// `netif_tx_start_all_queues`: clears every queue's stop, without
    /// scheduling the qdisc (the core does that on open).
    pub(crate) fn start_all_queues(&self) {
        // SAFETY: `self` is a valid device (type invariant), whose
        // `num_tx_queues` queues the helper walks; atomic bit operations.
        unsafe { bindings::netif_tx_start_all_queues(self.as_raw()) }
    }

    /// `netif_tx_stop_all_queues`.
    pub(crate) fn stop_all_queues(&self) {
        // SAFETY: As for `start_all_queues`.
        unsafe { bindings::netif_tx_stop_all_queues(self.as_raw()) }
    }

    /// `netif_tx_wake_all_queues`.
    pub(crate) fn wake_all_queues(&self) {
        // SAFETY: As for `start_all_queues`; a wake schedules the qdisc,
        // which any context may do.
        unsafe { bindings::netif_tx_wake_all_queues(self.as_raw()) }
    }

    /// `netdev_state_change`: tells user space the device changed.
    pub(crate) fn state_change(&self, _rtnl: &Rtnl) {
        // SAFETY: `self` is a valid device (type invariant) and RTNL is held
        // (`_rtnl`), as `netdev_state_change` requires.
        unsafe { bindings::netdev_state_change(self.as_raw()) }
    }

    /// `unregister_netdevice`: the core frees the device once its last
    /// reference is gone. A device no longer registered (being deleted
    /// already) is left alone.
    pub(crate) fn unregister(&self, rtnl: &Rtnl) {
        if !self.is_registered(rtnl) {
            return;
        }
        // SAFETY: The device is valid and registered (checked under the RTNL
        // we hold, which every unregistration takes), as
        // `unregister_netdevice` requires.
        unsafe { bindings::unregister_netdevice(self.as_raw()) }
    }

    /// Sets the number of TX and RX queues in use
    /// (`netif_set_real_num_tx_queues` and `_rx_queues`, tun.c's
    /// `tun_set_real_num_queues`): `n` must be at least 1 and at most the
    /// queues allocated, else `EINVAL` and nothing changes.
    pub(crate) fn set_real_num_queues(&self, _rtnl: &Rtnl, n: u32) -> Result {
        // SAFETY: The device is valid; `num_tx_queues` and `num_rx_queues`
        // are fixed at allocation.
        let (tx, rx) = unsafe {
            (
                (*self.as_raw()).num_tx_queues,
                (*self.as_raw()).num_rx_queues,
            )
        };
        if n == 0 || n > tx || n > rx {
            return Err(EINVAL);
        }
        // SAFETY: The device is valid, RTNL is held and `n` is in range.
        to_result(unsafe { bindings::netif_set_real_num_tx_queues(self.as_raw(), n) })?;
        // SAFETY: As above.
        to_result(unsafe { bindings::netif_set_real_num_rx_queues(self.as_raw(), n) })
    }

    /// The TX queue `index`, if the device has it.
    fn txq(&self, index: u32) -> Option<*mut bindings::netdev_queue> {
        // SAFETY: The device is valid; `num_tx_queues` is fixed at
        // allocation.
        if index >= unsafe { (*self.as_raw()).num_tx_queues } {
            return None;
        }
        // SAFETY: `index` is within the allocated queues.
        Some(unsafe { bindings::netdev_get_tx_queue(self.as_raw(), index) })
    }

    /// Stops TX queue `index` (`netif_tx_stop_queue`): the stack holds its
    /// packets back in the qdisc.
    pub(crate) fn stop_queue(&self, index: u32) {
        if let Some(q) = self.txq(index) {
            // SAFETY: `q` is a queue of this valid device.
            unsafe { bindings::netif_tx_stop_queue(q) };
        }
    }

    /// Restarts TX queue `index` if it was stopped (`netif_tx_wake_queue`).
    pub(crate) fn wake_queue(&self, index: u32) {
        if let Some(q) = self.txq(index) {
            // SAFETY: `q` is a queue of this valid device.
            unsafe {
                if bindings::netif_tx_queue_stopped(q) {
                    bindings::netif_tx_wake_queue(q);
                }
            }
        }
    }

    /// Counts a dropped transmit (`dev_core_stats_tx_dropped_inc`).
    pub(crate) fn tx_dropped(&self) {
        // SAFETY: `self` is a valid device (type invariant); the counters
        // are per-CPU `local_t`s, safe from any context.
        unsafe { bindings::dev_core_stats_tx_dropped_inc(self.as_raw()) }
    }

    /// Counts a dropped receive (`dev_core_stats_rx_dropped_inc`).
    pub(crate) fn rx_dropped(&self) {
        // SAFETY: As for `tx_dropped`.
        unsafe { bindings::dev_core_stats_rx_dropped_inc(self.as_raw()) }
    }

    /// Counts a received packet of `len` bytes (`dev_sw_netstats_rx_add`).
    #[inline]
    pub(crate) fn rx_add(&self, len: u32, _bh: &BhOff) {
        // SAFETY: The device is valid and uses `NETDEV_PCPU_STAT_TSTATS`
        // (set by `NewNetDevice::new`), so `tstats` is allocated; BH is off
        // (`_bh`).
        unsafe { sw_stats_add(self.as_raw(), SwStat::Rx, len) };
    }

    /// Counts a packet of `len` bytes handed to a reader
    /// (`dev_sw_netstats_tx_add`).
    #[inline]
    pub(crate) fn tx_add(&self, len: u32) {
        // SAFETY: As in `rx_add`; the counters of `Tx` need no BH off.
        unsafe { sw_stats_add(self.as_raw(), SwStat::Tx, len) };
    }

    /// Whether the calling task has `cap` over the device's network
    /// namespace (`ns_capable(dev_net(dev)->user_ns, cap)`).
    pub(crate) fn net_capable(&self, cap: u32) -> bool {
        self.net().ns_capable(cap)
    }

    /// The network namespace the device lives in (`dev_net`).
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: A device's namespace outlives it: namespaces delete or
        // move their devices before they go.
        unsafe { Net::from_raw(bindings::dev_net(self.as_raw())) }
    }

    /// Changes `dev->type` and `addr_len` while the device is down, with
    /// the notifications `TUNSETLINK` sends; a notifier may refuse. `EBUSY`
    /// while the device is up.
    pub(crate) fn set_link_type(&self, _rtnl: &Rtnl, type_: u16, addr_len: u8) -> Result {
        if self.flags() & bindings::net_device_flags_IFF_UP != 0 {
            return Err(EBUSY);
        }
        // CAST: notifier event numbers are small.
        let pre = bindings::netdev_cmd_NETDEV_PRE_TYPE_CHANGE as usize;
        let post = bindings::netdev_cmd_NETDEV_POST_TYPE_CHANGE as usize;
        // SAFETY: The device is valid and RTNL is held, as the notifier
        // chain requires.
        let ret = unsafe { bindings::call_netdevice_notifiers(pre, self.as_raw()) };
        // `notifier_to_errno`.
        // CAST: The notifier constants are small.
        let ret = ret & !(bindings::NOTIFY_STOP_MASK as c_int);
        if ret > bindings::NOTIFY_OK as c_int {
            return Err(Error::from_errno(bindings::NOTIFY_OK as c_int - ret));
        }
        // SAFETY: RTNL is held and the device is down (checked above under
        // it; opening takes RTNL), which is when the type may change.
        unsafe {
            (*self.as_raw()).type_ = type_;
            (*self.as_raw()).addr_len = addr_len;
            bindings::call_netdevice_notifiers(post, self.as_raw());
        }
        Ok(())
    }

    /// The hardware address as a `struct sockaddr` (`dev_get_mac_address`:
    /// family = `dev->type`).
    pub(crate) fn get_mac_address(&self, sa: &mut [u8; 16]) -> Result {
        // SAFETY: `sa` is a 16-byte `struct sockaddr`; the device and its
        // namespace are valid; the name is NUL-terminated.
        to_result(unsafe {
            bindings::dev_get_mac_address(
                sa.as_mut_ptr().cast(),
                self.net().as_raw(),
                ptr::addr_of_mut!((*self.as_raw()).name).cast(),
            )
        })
    }

    /// Sets the hardware address from a `struct sockaddr`
    /// (`dev_set_mac_address_user`).
    pub(crate) fn set_mac_address(&self, _rtnl: &Rtnl, sa: &mut [u8; 16]) -> Result {
        // SAFETY: `sa` is a 16-byte `struct sockaddr`; RTNL is held.
        to_result(unsafe {
            bindings::dev_set_mac_address_user(
                self.as_raw(),
                sa.as_mut_ptr().cast(),
                ptr::null_mut(),
            )
        })
    }

    /// Replaces the `user` bits of `wanted_features` with `set` and lets
    /// the core recompute features (`netdev_update_features`).
    pub(crate) fn update_wanted_features(&self, _rtnl: &Rtnl, user: u64, set: u64) {
        // SAFETY: RTNL is held, which serialises feature changes.
        unsafe {
            let wanted = ptr::addr_of_mut!((*self.as_raw()).wanted_features);
            *wanted = (*wanted & !user) | set;
            bindings::netdev_update_features(self.as_raw());
        }
    }

    /// Opens a file descriptor for the device's network namespace
    /// (`TUNGETDEVNETNS`), if the caller is `CAP_NET_ADMIN` there.
    pub(crate) fn open_net_fd(&self) -> Result<isize> {
        let net = self.net();
        if !net.ns_capable(bindings::CAP_NET_ADMIN) {
            return Err(EPERM);
        }
        net.open_fd()
    }

    /// Finds a device by name in `net` (`__dev_get_by_name`).
    pub(crate) fn get_by_name<'a>(
        _rtnl: &'a Rtnl,
        net: &super::net::NetRef,
        name: &CStr,
    ) -> Option<&'a NetDevice> {
        // SAFETY: RTNL is held, so the device found stays registered (and
        // valid) until it is released.
        let dev = unsafe { bindings::__dev_get_by_name(net.as_raw(), name.as_char_ptr()) };
        // SAFETY: A non-NULL result is a valid device (see above).
        (!dev.is_null()).then(|| unsafe { NetDevice::from_raw(dev) })
    }

    /// This device's private data if it is of kind `T`.
    pub(crate) fn priv_of<T: NetDevOps>(&self) -> Option<&T::Priv> {
        // SAFETY: The device is valid; `netdev_ops` is set before
        // registration and not changed after.
        let ops = unsafe { (*self.as_raw()).netdev_ops };
        if !ptr::eq(ops, T::OPS.ops.get()) {
            return None;
        }
        // SAFETY: Devices with `T`'s ops table are made only by
        // `NewNetDevice::<T>`, whose private area holds an initialised
        // `T::Priv` until `priv_destructor`, after the last reference.
        Some(unsafe { &*priv_ptr(self.as_raw()).cast::<T::Priv>() })
    }
}

/// A counted reference to a device whose private data is a `P`, of any
/// kind with that private data (tun and tap share theirs): the device and
/// its private data together, with no lookup that could fail.
///
/// # Invariants
///
/// `dev` was made by `NewNetDevice::<T>` for some `T: NetDevOps<Priv = P>`,
/// so its private area holds an initialised `P` until `priv_destructor`,
/// which runs only after the last reference, such as ours, is gone.
pub(crate) struct DevRef<P> {
    dev: ARef<NetDevice>,
    _p: PhantomData<P>,
}

impl<P> DevRef<P> {
    /// `dev` as a device of kind `T`, if it is one.
    pub(crate) fn of<T: NetDevOps<Priv = P>>(dev: &NetDevice) -> Option<Self> {
        dev.priv_of::<T>()?;
        // INVARIANT: `dev` has `T`'s ops table, which only
        // `NewNetDevice::<T>` installs.
        Some(Self {
            dev: dev.into(),
            _p: PhantomData,
        })
    }

    /// A new reference to `dev`, known to be of a kind with private data
    /// `P`.
    ///
    /// # Safety
    ///
    /// `dev` is a device that a `DevRef<P>` referred to, and it is still
    /// held by someone.
    pub(super) unsafe fn from_held(dev: &NetDevice) -> Self {
        // INVARIANT: From the caller.
        Self {
            dev: dev.into(),
            _p: PhantomData,
        }
    }

    /// Gives up the typed view, keeping the reference.
    pub(super) fn into_aref(self) -> ARef<NetDevice> {
        self.dev
    }

    /// The device's private data.
    pub(crate) fn priv_(&self) -> &P {
        // SAFETY: Initialised until after our reference is gone (type
        // invariant).
        unsafe { &*priv_ptr(self.dev.as_raw()).cast::<P>() }
    }
}

impl<P> Clone for DevRef<P> {
    fn clone(&self) -> Self {
        // INVARIANT: The same device.
        Self {
            dev: self.dev.clone(),
            _p: PhantomData,
        }
    }
}

impl<P> core::ops::Deref for DevRef<P> {
    type Target = NetDevice;

    fn deref(&self) -> &NetDevice {
        &self.dev
    }
}

/// `netdev_priv`: the private area is the flexible array `dev->priv` at
/// the end of the device (an offset `kernel/check-layout.py` verifies);
/// computed here rather than through a helper call on every packet.
///
/// # Safety
///
/// `dev` must point to a valid `struct net_device`.
unsafe fn priv_ptr(dev: *mut bindings::net_device) -> *mut core::ffi::c_void {
    // SAFETY: In bounds of the device's allocation, per the caller.
    unsafe { ptr::addr_of_mut!((*dev).priv_).cast() }
}

/// The result of `ndo_start_xmit`.
pub(crate) enum Xmit {
    /// The packet was consumed (queued or dropped).
    Ok,
    /// The packet was dropped (`NET_XMIT_DROP`).
    Drop,
    /// The queue is full: the packet goes back to the qdisc
    /// (`NETDEV_TX_BUSY`), which retries once the queue is woken.
    Busy(SkBuff),
}

/// A kind of network device.
pub(crate) trait NetDevOps: Sized + 'static {
    /// The device's private data.
    type Priv: Send + Sync;

    /// The device kind's ops table; a `static`, so that its address
    /// identifies devices of this kind.
    const OPS: &'static DeviceOps<Self>;

    /// Ethernet devices take their address from user space and validate it
    /// on open (`eth_mac_addr`, `eth_validate_addr`).
    const ETHER: bool = false;

    /// The initial `tx_queue_len`; 0 means no qdisc (`IFF_NO_QUEUE`).
    const TX_QUEUE_LEN: u32;

    /// `ndo_open`.
    fn open(_dev: &NetDevice, _priv: &Self::Priv) -> Result {
        Ok(())
    }

    /// `ndo_stop`.
    fn stop(_dev: &NetDevice, _priv: &Self::Priv) -> Result {
        Ok(())
    }

    /// `ndo_select_queue`: the queue for `skb`, which stays the caller's.
    fn select_queue(_dev: &NetDevice, _priv: &Self::Priv, _skb: &SkBuff, _bh: &BhOff) -> u16 {
        0
    }

    /// `ndo_fix_features` (RTNL held: `netdev_update_features`).
    fn fix_features(_dev: &NetDevice, _priv: &Self::Priv, _rtnl: &Rtnl, features: u64) -> u64 {
        features
    }

    /// `ndo_uninit`: the device is being unregistered (RTNL held).
    fn uninit(_dev: &NetDevice, _priv: &Self::Priv, _rtnl: &Rtnl) {}

    /// `ndo_change_carrier` (`ip link set DEV carrier on|off`, RTNL held).
    fn change_carrier(_dev: &NetDevice, _priv: &Self::Priv, _on: bool) -> Result {
        Err(super::error::eopnotsupp())
    }

    /// `ndo_set_rx_headroom`: an upper device (a bridge port, an OVS
    /// datapath) asks for `headroom` bytes in front of received packets;
    /// negative resets to the default.
    fn set_rx_headroom(_dev: &NetDevice, _priv: &Self::Priv, _headroom: i32) {}

    /// Whether `ndo_get_stats64` adds [`NetDevOps::rx_frame_errors`] to the
    /// per-CPU counters; without it the core reads the counters alone.
    const FRAME_ERRORS: bool = false;

    /// What the device counts in `rx_frame_errors`.
    fn rx_frame_errors(_priv: &Self::Priv) -> u64 {
        0
    }

    /// Whether the device takes the link header ops of IP tunnels
    /// (`ip_tunnel_header_ops`): an `AF_PACKET` send with protocol 0 then
    /// gets its protocol from the IP version nibble.
    const IP_TUNNEL_HEADER: bool = false;

    /// Whether the kind takes native XDP programs: then it has `ndo_bpf`
    /// and `ndo_xdp_xmit`, and reports `NETDEV_XDP_ACT_BASIC`,
    /// `_REDIRECT` and `_NDO_XMIT` in `xdp_features`.
    const XDP: bool = false;

    /// `ndo_bpf` `XDP_SETUP_PROG` (RTNL held): installs `prog`, or removes
    /// the program for `None`. Cannot fail: the core took the reference
    /// for us and would drop it again on an error.
    fn xdp_setup(_dev: &NetDevice, _priv: &Self::Priv, _rtnl: &Rtnl, _prog: Option<XdpProg>) {}

    /// `ndo_xdp_xmit`: queues frames another device's XDP program
    /// redirected here; returns how many it kept. BH disabled, inside an
    /// RCU read section; `flush` asks to wake the reader
    /// (`XDP_XMIT_FLUSH`).
    fn xdp_xmit(
        _dev: &NetDevice,
        _priv: &Self::Priv,
        _frames: XmitFrames<'_>,
        _flush: bool,
        _guard: &rcu::Guard,
        _bh: &BhOff,
    ) -> Result<u32> {
        Err(super::error::eopnotsupp())
    }

    /// `ndo_start_xmit`: runs in softirq or with BH disabled, inside an RCU
    /// read section (`guard`).
    fn start_xmit(
        skb: SkBuff,
        dev: &NetDevice,
        priv_: &Self::Priv,
        guard: &rcu::Guard,
        bh: &BhOff,
    ) -> Xmit;
}

/// A kind of device's `net_device_ops`.
pub(crate) struct DeviceOps<T: NetDevOps> {
    ops: Opaque<bindings::net_device_ops>,
    _t: PhantomData<T>,
}

// SAFETY: The table is immutable after construction.
unsafe impl<T: NetDevOps> Sync for DeviceOps<T> {}

impl<T: NetDevOps> DeviceOps<T> {
    /// The table for `T`.
    pub(crate) const fn new() -> Self {
        Self {
            ops: Opaque::new(bindings::net_device_ops {
                ndo_open: Some(open_callback::<T>),
                ndo_stop: Some(stop_callback::<T>),
                ndo_uninit: Some(uninit_callback::<T>),
                ndo_fix_features: Some(fix_features_callback::<T>),
                ndo_select_queue: Some(select_queue_callback::<T>),
                ndo_start_xmit: Some(xmit_callback::<T>),
                ndo_get_stats64: if T::FRAME_ERRORS {
                    Some(get_stats64_callback::<T>)
                } else {
                    None
                },
                ndo_change_carrier: Some(change_carrier_callback::<T>),
                ndo_set_rx_headroom: Some(set_rx_headroom_callback::<T>),
                ndo_features_check: if T::ETHER {
                    Some(bindings::passthru_features_check)
                } else {
                    None
                },
                ndo_set_mac_address: if T::ETHER {
                    Some(bindings::eth_mac_addr)
                } else {
                    None
                },
                ndo_validate_addr: if T::ETHER {
                    Some(bindings::eth_validate_addr)
                } else {
                    None
                },
                ndo_bpf: if T::XDP {
                    Some(bpf_callback::<T>)
                } else {
                    None
                },
                ndo_xdp_xmit: if T::XDP {
                    Some(xdp_xmit_callback::<T>)
                } else {
                    None
                },
                // SAFETY: All-zero is a valid `net_device_ops`: no callbacks.
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            }),
            _t: PhantomData,
        }
    }
}

/// # Safety
///
/// Called by the core with a registered device of kind `T`.
unsafe extern "C" fn open_callback<T: NetDevOps>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    match dev.priv_of::<T>() {
        Some(p) => T::open(dev, p).map_or_else(|e| e.to_errno(), |()| 0),
        None => EINVAL.to_errno(),
    }
}

/// # Safety
///
/// Called by the core with a registered device of kind `T`.
unsafe extern "C" fn stop_callback<T: NetDevOps>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    match dev.priv_of::<T>() {
        Some(p) => T::stop(dev, p).map_or_else(|e| e.to_errno(), |()| 0),
        None => EINVAL.to_errno(),
    }
}

/// # Safety
///
/// Called by the core, under RTNL, with a registered device of kind `T`.
unsafe extern "C" fn change_carrier_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    on: bool,
) -> c_int {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    match dev.priv_of::<T>() {
        Some(p) => T::change_carrier(dev, p, on).map_or_else(|e| e.to_errno(), |()| 0),
        None => EINVAL.to_errno(),
    }
}

/// # Safety
///
/// Called by the core, under RTNL, with a device of kind `T`.
unsafe extern "C" fn set_rx_headroom_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    headroom: c_int,
) {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    if let Some(p) = dev.priv_of::<T>() {
        T::set_rx_headroom(dev, p, headroom);
    }
}

/// # Safety
///
/// Called by the core with a device of kind `T` and zeroed `storage`.
unsafe extern "C" fn get_stats64_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    storage: *mut bindings::rtnl_link_stats64,
) {
    // SAFETY: The device uses `NETDEV_PCPU_STAT_TSTATS` (set by
    // `NewNetDevice::new`); `storage` is valid for writes.
    unsafe { bindings::dev_get_tstats64(dev, storage) };
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    if let Some(p) = dev.priv_of::<T>() {
        // `rtnl_fill_stats` hands the core a pointer into a netlink message,
        // 4-byte aligned only: access it unaligned.
        // SAFETY: `storage` is valid for reads and writes and ours for the
        // call.
        unsafe {
            let field = ptr::addr_of_mut!((*storage).rx_frame_errors);
            field.write_unaligned(field.read_unaligned().wrapping_add(T::rx_frame_errors(p)));
        }
    }
}

/// # Safety
///
/// Called by the core on transmit with a device of kind `T` and its skb.
unsafe extern "C" fn select_queue_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    skb: *mut bindings::sk_buff,
    _sb_dev: *mut bindings::net_device,
) -> u16 {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    let Some(p) = dev.priv_of::<T>() else {
        return 0;
    };
    // SAFETY: The skb is valid for the call and stays the caller's:
    // `ManuallyDrop` keeps us from releasing its reference.
    let skb = core::mem::ManuallyDrop::new(unsafe { SkBuff::from_raw(skb) });
    // SAFETY: `netdev_core_pick_tx` runs inside `__dev_queue_xmit`'s
    // `rcu_read_lock_bh` section, for the whole call.
    let bh = unsafe { BhOff::assume() };
    T::select_queue(dev, p, &skb, &bh)
}

/// # Safety
///
/// Called by the core, under RTNL, with a device of kind `T`.
unsafe extern "C" fn fix_features_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    features: bindings::netdev_features_t,
) -> bindings::netdev_features_t {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    // SAFETY: The core calls `ndo_fix_features` with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    match dev.priv_of::<T>() {
        Some(p) => T::fix_features(dev, p, &rtnl, features),
        None => features,
    }
}

/// # Safety
///
/// Called by the core, under RTNL, with a device of kind `T` being
/// unregistered.
unsafe extern "C" fn uninit_callback<T: NetDevOps>(dev: *mut bindings::net_device) {
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    // SAFETY: `ndo_uninit` runs with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    if let Some(p) = dev.priv_of::<T>() {
        T::uninit(dev, p, &rtnl);
    }
}

/// # Safety
///
/// Called by the core with RTNL held, a device of kind `T` and a valid
/// request (`dev_xdp_install`).
unsafe extern "C" fn bpf_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    bpf: *mut bindings::netdev_bpf,
) -> c_int {
    // SAFETY: The core passes a valid request.
    let bpf = unsafe { &*bpf };
    if bpf.command != bindings::bpf_netdev_command_XDP_SETUP_PROG {
        return EINVAL.to_errno();
    }
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    // SAFETY: `ndo_bpf` runs with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    let Some(p) = dev.priv_of::<T>() else {
        return EINVAL.to_errno();
    };
    // SAFETY: `XDP_SETUP_PROG` requests use this member of the union; the
    // core took a reference on the program for us (`dev_xdp_install`).
    let prog = unsafe { XdpProg::from_raw(bpf.__bindgen_anon_1.__bindgen_anon_1.prog) };
    T::xdp_setup(dev, p, &rtnl, prog);
    0
}

/// # Safety
///
/// Called by the core with BH disabled, a device of kind `T` and `n`
/// frames at `frames`, which stay its own unless we keep them
/// (`bq_xmit_all`, `__xdp_do_redirect_frame`'s devmap flush).
unsafe extern "C" fn xdp_xmit_callback<T: NetDevOps>(
    dev: *mut bindings::net_device,
    n: c_int,
    frames: *mut *mut bindings::xdp_frame,
    flags: u32,
) -> c_int {
    if flags & !bindings::XDP_XMIT_FLAGS_MASK != 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    let Some(p) = dev.priv_of::<T>() else {
        return ENXIO.to_errno();
    };
    // CAST: The core passes a non-negative count (at most a bulk queue).
    let n = n.max(0) as usize;
    if n == 0 {
        return 0;
    }
    // SAFETY: `n` valid frame pointers, the core's until we keep them.
    let frames = unsafe { XmitFrames::new(core::slice::from_raw_parts(frames, n)) };
    let guard = rcu::read_lock();
    // SAFETY: The core flushes redirected frames with BH disabled.
    let bh = unsafe { BhOff::assume() };
    let flush = flags & bindings::XDP_XMIT_FLUSH != 0;
    match T::xdp_xmit(dev, p, frames, flush, &guard, &bh) {
        // CAST: At most `n`.
        Ok(kept) => kept as c_int,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the core with an skb it hands over and a device of kind `T`.
unsafe extern "C" fn xmit_callback<T: NetDevOps>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    // SAFETY: The core passes ownership of a valid skb.
    let skb = unsafe { SkBuff::from_raw(skb) };
    // SAFETY: The core passes a valid device.
    let dev = unsafe { NetDevice::from_raw(dev) };
    let guard = rcu::read_lock();
    // SAFETY: The core transmits with BH disabled (`__dev_queue_xmit`'s
    // `rcu_read_lock_bh`, or the `NET_TX` softirq), or with interrupts off
    // (netpoll), for the whole call.
    let bh = unsafe { BhOff::assume() };
    let ret = match dev.priv_of::<T>() {
        Some(p) => T::start_xmit(skb, dev, p, &guard, &bh),
        None => Xmit::Drop,
    };
    match ret {
        Xmit::Ok => bindings::netdev_tx_NETDEV_TX_OK,
        // CAST: NET_XMIT_DROP is 1, a valid `netdev_tx_t` as in tun.c.
        Xmit::Drop => bindings::NET_XMIT_DROP as bindings::netdev_tx_t,
        Xmit::Busy(skb) => {
            // The core keeps the skb: give up our ownership without freeing.
            skb.into_raw();
            bindings::netdev_tx_NETDEV_TX_BUSY
        }
    }
}

extern "C" {
    /// `net/ipv4/ip_tunnel_core.c`'s exported header ops (bindgen does not
    /// see `net/ip_tunnels.h`): only `parse_protocol`, from the IP version.
    static ip_tunnel_header_ops: bindings::header_ops;
}

/// How a new device is laid out.
pub(crate) struct DeviceSetup {
    /// `dev->type` (`ARPHRD_*`) of point-to-point devices.
    pub(crate) type_: u16,
    /// Ethernet (`ether_setup` and a random MAC) or point-to-point.
    pub(crate) ether: bool,
    /// `dev->flags` for point-to-point devices.
    pub(crate) flags: u32,
    /// `dev->min_mtu`; `max_mtu` is `max_frame - hard_header_len`.
    pub(crate) min_mtu: u32,
    /// See `min_mtu`.
    pub(crate) max_frame: u32,
    /// `dev->ifindex` to ask for; 0 lets the core choose.
    pub(crate) ifindex: i32,
}

/// A device allocated but not yet registered.
///
/// # Invariants
///
/// `dev` was returned by `alloc_netdev_mqs` for kind `T`, is not registered,
/// and its private area holds an initialised `T::Priv`.
pub(crate) struct NewNetDevice<T: NetDevOps> {
    dev: NonNull<bindings::net_device>,
    _t: PhantomData<T>,
}

impl<T: NetDevOps> NewNetDevice<T> {
    /// Allocates a device with `queues` TX and RX queues in `net`, named
    /// after `name` (a `%d` template or a name), and initialises its
    /// private data.
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors alloc_netdev_mqs and tun_setup"
    )]
    pub(crate) fn new<L: super::net::LinkType, E: super::ethtool::EthtoolDriver>(
        net: &super::net::NetRef,
        link: &'static super::net::LinkOps<L>,
        attrs: &'static super::sysfs::AttrGroup,
        ethtool: &'static super::ethtool::EthtoolOps<E>,
        name: &CStr,
        queues: u32,
        setup: &DeviceSetup,
        init: impl PinInit<T::Priv, Error>,
    ) -> Result<Self> {
        const {
            assert!(core::mem::align_of::<T::Priv>() <= bindings::NETDEV_ALIGN as usize);
        }
        // SAFETY: `name` is NUL-terminated; `setup_callback` is a valid
        // setup callback.
        let dev = unsafe {
            bindings::alloc_netdev_mqs(
                // CAST: The size of a Rust type fits an int.
                core::mem::size_of::<T::Priv>() as c_int,
                name.as_char_ptr(),
                // CAST: NET_NAME_UNKNOWN is 0.
                bindings::NET_NAME_UNKNOWN as u8,
                Some(setup_callback::<T>),
                queues,
                queues,
            )
        };
        let dev = NonNull::new(dev).ok_or(ENOMEM)?;
        let raw = dev.as_ptr();
        // SAFETY: The private area is `size_of::<T::Priv>()` bytes, aligned
        // to `NETDEV_ALIGN` (checked above), and not yet initialised.
        let slot = unsafe { priv_ptr(raw) }.cast::<T::Priv>();
        // SAFETY: `slot` is valid for writes and never moves: the private
        // area is part of the device's allocation.
        if let Err(e) = unsafe { init.__pinned_init(slot) } {
            // SAFETY: The device is ours, unregistered, and its private data
            // was not initialised, so there is nothing to drop.
            unsafe { bindings::free_netdev(raw) };
            return Err(e);
        }
        // SAFETY: We own the unregistered device; the core does not look at
        // it yet.
        unsafe {
            (*raw).netdev_ops = T::OPS.ops.get();
            // `dev_net_set`: the device lives in the creator's namespace,
            // which outlives it (namespaces delete their devices first).
            (*raw).nd_net.net = net.as_raw();
            (*raw).rtnl_link_ops = link.as_ptr();
            (*raw).sysfs_groups[0] = attrs.as_ptr();
            (*raw).ethtool_ops = ethtool.as_ptr();
            (*raw).ifindex = setup.ifindex;
            (*raw).set_pcpu_stat_type(bindings::netdev_stat_type_NETDEV_PCPU_STAT_TSTATS);
            (*raw).__bindgen_anon_1.__bindgen_anon_1.set_lltx(1);
            if setup.ether {
                bindings::ether_setup(raw);
                // tun_net_initialize: tap frames are copied to user space,
                // never shared, and the address may change while up.
                let fast = &mut (*raw).__bindgen_anon_1.__bindgen_anon_1;
                // CAST: `priv_flags` is a 32-bit field of `unsigned long`s.
                let priv_flags = (fast.priv_flags()
                    & !(bindings::netdev_priv_flags_IFF_TX_SKB_SHARING as usize))
                    | bindings::netdev_priv_flags_IFF_LIVE_ADDR_CHANGE as usize;
                fast.set_priv_flags(priv_flags);
                bindings::eth_hw_addr_random(raw);
            } else {
                (*raw).hard_header_len = 0;
                (*raw).addr_len = 0;
                (*raw).mtu = 1500;
                (*raw).flags = setup.flags;
                (*raw).type_ = setup.type_;
            }
            if T::IP_TUNNEL_HEADER {
                (*raw).header_ops = ptr::addr_of!(ip_tunnel_header_ops);
            }
            (*raw).min_mtu = setup.min_mtu;
            (*raw).max_mtu = setup.max_frame - u32::from((*raw).hard_header_len);
        }
        // INVARIANT: Allocated for `T`, unregistered, private data set.
        Ok(Self {
            dev,
            _t: PhantomData,
        })
    }

    /// The device, for setup before registration.
    pub(crate) fn dev(&self) -> &NetDevice {
        // SAFETY: The device is valid while `self` owns it.
        unsafe { NetDevice::from_raw(self.dev.as_ptr()) }
    }

    /// Sets `hw_features`, `features` and `vlan_features` before
    /// registration (`tun_net_init`).
    pub(crate) fn init_features(&self, hw: u64, vlan_mask: u64) {
        let raw = self.dev.as_ptr();
        // SAFETY: The device is ours and not registered (type invariant),
        // so nothing else looks at its features.
        unsafe {
            (*raw).hw_features = hw;
            (*raw).features = hw;
            (*raw).vlan_features = hw & vlan_mask;
        }
    }

    /// The private data.
    pub(crate) fn priv_(&self) -> &T::Priv {
        // SAFETY: Initialised (type invariant).
        unsafe { &*priv_ptr(self.dev.as_ptr()).cast::<T::Priv>() }
    }

    /// Registers the device (`register_netdevice`). From here on the core
    /// owns it: it is freed, and its private data dropped, after
    /// `unregister` and the last `dev_put`. On failure the device comes
    /// back, still unregistered, for the caller to undo its setup (the core
    /// ran `ndo_uninit` only if it got that far) before dropping it.
    pub(crate) fn register(self, _rtnl: &Rtnl) -> Result<DevRef<T::Priv>, (Error, Self)> {
        let raw = self.dev.as_ptr();
        // SAFETY: The device is ours and RTNL is held.
        let ret = unsafe { bindings::register_netdevice(raw) };
        if ret < 0 {
            // INVARIANT: Registration failed, so the device is still ours
            // and unregistered.
            return Err((Error::from_errno(ret), self));
        }
        core::mem::forget(self);
        // SAFETY: Registered, so the core frees the device after
        // unregistration; RTNL is held, so unregistration cannot have started
        // before the destructor is in place.
        unsafe {
            (*raw).needs_free_netdev = true;
            (*raw).priv_destructor = Some(priv_destructor::<T>);
        }
        // SAFETY: RTNL is held, so the device cannot be unregistered and
        // freed before we take a reference.
        let dev = unsafe { NetDevice::from_raw(raw) };
        // INVARIANT: Made by `NewNetDevice::<T>`.
        Ok(DevRef {
            dev: dev.into(),
            _p: PhantomData,
        })
    }
}

impl<T: NetDevOps> Drop for NewNetDevice<T> {
    fn drop(&mut self) {
        // SAFETY: Unregistered and ours (type invariant).
        unsafe { free::<T>(self.dev.as_ptr()) };
    }
}

/// # Safety
///
/// `dev` must be an unregistered device of kind `T` with initialised private
/// data, owned by the caller.
unsafe fn free<T: NetDevOps>(dev: *mut bindings::net_device) {
    // SAFETY: Per the contract, the private data is initialised and ours.
    unsafe {
        ptr::drop_in_place(priv_ptr(dev).cast::<T::Priv>());
        bindings::free_netdev(dev);
    }
}

/// # Safety
///
/// Called by the core once, when a registered device of kind `T` is freed.
unsafe extern "C" fn priv_destructor<T: NetDevOps>(dev: *mut bindings::net_device) {
    // SAFETY: The private data was initialised before registration and
    // nothing references it any more.
    unsafe { ptr::drop_in_place(priv_ptr(dev).cast::<T::Priv>()) };
}

/// # Safety
///
/// Called by `alloc_netdev_mqs` with the new device. Only the queue length
/// is set here, because the core looks at it right after: a device left at
/// 0 is marked `IFF_NO_QUEUE` and gets no qdisc (tun.c's `tun_setup` sets
/// it too). The rest of the setup follows the allocation.
unsafe extern "C" fn setup_callback<T: NetDevOps>(dev: *mut bindings::net_device) {
    // SAFETY: The device is being allocated and is ours.
    unsafe {
        (*dev).tx_queue_len = T::TX_QUEUE_LEN;
        if T::XDP {
            (*dev).xdp_features = bindings::netdev_xdp_act_NETDEV_XDP_ACT_BASIC
                | bindings::netdev_xdp_act_NETDEV_XDP_ACT_REDIRECT
                | bindings::netdev_xdp_act_NETDEV_XDP_ACT_NDO_XMIT;
        }
    }
}
