// SPDX-License-Identifier: GPL-2.0

//! ethtool operations of network devices, as a `static` table built from a
//! trait ([`EthtoolDriver`]). The core calls every one of them under RTNL
//! (the ioctl's `dev_ethtool` and ethtool netlink's `prepare_data` and
//! `set` take it), so each gets the token.
//!
//! C header: [`include/linux/ethtool.h`](srctree/include/linux/ethtool.h)

use core::marker::PhantomData;

use kernel::{bindings, prelude::*};

use super::{net::Rtnl, netdev::NetDevice};

/// `struct ethtool_link_ksettings`: what `ethtool DEV` shows and
/// `ethtool -s` sets, kept as its bytes (the bindgen type is not `Copy`).
#[derive(Clone, Copy)]
pub(crate) struct LinkKsettings([u8; KSETTINGS_LEN]);

const KSETTINGS_LEN: usize = core::mem::size_of::<bindings::ethtool_link_ksettings>();

impl LinkKsettings {
    /// No link modes, the given speed and duplex, twisted pair, no
    /// autonegotiation (`tun_default_link_ksettings`).
    pub(crate) fn fixed(speed: u32, full_duplex: bool) -> Self {
        // SAFETY: All-zero is a valid `ethtool_link_ksettings`.
        let mut k: bindings::ethtool_link_ksettings =
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        k.base.speed = speed;
        // CAST: DUPLEX_*, PORT_* and AUTONEG_* are small.
        k.base.duplex = if full_duplex {
            bindings::DUPLEX_FULL as u8
        } else {
            bindings::DUPLEX_HALF as u8
        };
        k.base.port = bindings::PORT_TP as u8;
        k.base.autoneg = bindings::AUTONEG_DISABLE as u8;
        let mut out = Self([0; KSETTINGS_LEN]);
        // SAFETY: Copies the plain-data struct's bytes into a buffer of its
        // size.
        unsafe { out.read_from(&k) };
        out
    }

    /// # Safety
    ///
    /// `src` must be valid for reads of a whole struct.
    unsafe fn read_from(&mut self, src: *const bindings::ethtool_link_ksettings) {
        // SAFETY: Per the contract; the buffer has the struct's size.
        unsafe {
            core::ptr::copy_nonoverlapping(src.cast::<u8>(), self.0.as_mut_ptr(), KSETTINGS_LEN)
        };
    }

    /// # Safety
    ///
    /// `dst` must be valid for writes of a whole struct.
    unsafe fn write_to(&self, dst: *mut bindings::ethtool_link_ksettings) {
        // SAFETY: Per the contract; any bytes of a valid struct are valid.
        unsafe { core::ptr::copy_nonoverlapping(self.0.as_ptr(), dst.cast::<u8>(), KSETTINGS_LEN) };
    }
}

/// What a driver answers to ethtool.
pub(crate) trait EthtoolDriver: Sized + 'static {
    /// The device's state the answers come from.
    type Priv;

    /// The driver's private data of `dev`, if `dev` is one of its devices.
    fn priv_of(dev: &NetDevice) -> Option<&Self::Priv>;

    /// `get_drvinfo`: driver name, version and bus info.
    fn drvinfo(p: &Self::Priv) -> (&'static CStr, &'static CStr, &'static CStr);

    /// `get_msglevel` / `set_msglevel`.
    fn msglevel(p: &Self::Priv, rtnl: &Rtnl) -> u32;
    fn set_msglevel(p: &Self::Priv, rtnl: &Rtnl, v: u32);

    /// `get_channels`: (combined, max combined).
    fn channels(p: &Self::Priv) -> (u32, u32);

    /// `get_coalesce` / `set_coalesce`: `rx_max_coalesced_frames`.
    fn rx_max_frames(p: &Self::Priv, rtnl: &Rtnl) -> u32;
    fn set_rx_max_frames(p: &Self::Priv, rtnl: &Rtnl, v: u32);

    /// `get_link_ksettings` / `set_link_ksettings`.
    fn ksettings(p: &Self::Priv, rtnl: &Rtnl) -> LinkKsettings;
    fn set_ksettings(p: &Self::Priv, rtnl: &Rtnl, k: LinkKsettings);
}

/// An `ethtool_ops` table for `T`.
pub(crate) struct EthtoolOps<T: EthtoolDriver>(bindings::ethtool_ops, PhantomData<T>);

// SAFETY: Immutable; the core only reads it.
unsafe impl<T: EthtoolDriver> Sync for EthtoolOps<T> {}

impl<T: EthtoolDriver> EthtoolOps<T> {
    pub(crate) const fn new() -> Self {
        // SAFETY: All-zero is a valid `ethtool_ops`: no callbacks.
        let mut ops: bindings::ethtool_ops =
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        // `ETHTOOL_COALESCE_RX_MAX_FRAMES`.
        ops.supported_coalesce_params = 1 << 1;
        ops.get_drvinfo = Some(get_drvinfo::<T>);
        ops.get_msglevel = Some(get_msglevel::<T>);
        ops.set_msglevel = Some(set_msglevel::<T>);
        ops.get_link = Some(bindings::ethtool_op_get_link);
        ops.get_channels = Some(get_channels::<T>);
        ops.get_ts_info = Some(bindings::ethtool_op_get_ts_info);
        ops.get_coalesce = Some(get_coalesce::<T>);
        ops.set_coalesce = Some(set_coalesce::<T>);
        ops.get_link_ksettings = Some(get_link_ksettings::<T>);
        ops.set_link_ksettings = Some(set_link_ksettings::<T>);
        Self(ops, PhantomData)
    }

    pub(crate) fn as_ptr(&'static self) -> *const bindings::ethtool_ops {
        &self.0
    }
}

fn copy_cstr(dst: &mut [u8], src: &CStr) {
    let b = src.as_bytes();
    let n = b.len().min(dst.len().saturating_sub(1));
    dst[..n].copy_from_slice(&b[..n]);
    dst[n..].fill(0);
}

/// # Safety
///
/// `dev` must be valid for the call (the ethtool core guarantees it).
unsafe fn priv_of<'a, T: EthtoolDriver>(dev: *mut bindings::net_device) -> Option<&'a T::Priv> {
    // SAFETY: `dev` is valid for the call (this function's contract), and
    // `'a` is no longer than the call.
    T::priv_of(unsafe { NetDevice::from_raw(dev) })
}

/// # Safety
///
/// Called by the ethtool core with a device of `T` and an output struct.
unsafe extern "C" fn get_drvinfo<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    info: *mut bindings::ethtool_drvinfo,
) {
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    let Some(p) = (unsafe { priv_of::<T>(dev) }) else {
        return;
    };
    let (driver, version, bus) = T::drvinfo(p);
    // SAFETY: `info` is valid and ours for the call.
    let info = unsafe { &mut *info };
    copy_cstr(&mut info.driver, driver);
    copy_cstr(&mut info.version, version);
    copy_cstr(&mut info.bus_info, bus);
}

/// # Safety
///
/// Called by the ethtool core with a device of `T`.
unsafe extern "C" fn get_msglevel<T: EthtoolDriver>(dev: *mut bindings::net_device) -> u32 {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    unsafe { priv_of::<T>(dev) }.map_or(0, |p| T::msglevel(p, &rtnl))
}

/// # Safety
///
/// Called by the ethtool core with a device of `T`.
unsafe extern "C" fn set_msglevel<T: EthtoolDriver>(dev: *mut bindings::net_device, v: u32) {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        T::set_msglevel(p, &rtnl, v);
    }
}

/// # Safety
///
/// Called by the ethtool core with a device of `T` and an output struct.
unsafe extern "C" fn get_channels<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    ch: *mut bindings::ethtool_channels,
) {
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        let (combined, max) = T::channels(p);
        // SAFETY: `ch` is valid and ours for the call.
        unsafe {
            (*ch).combined_count = combined;
            (*ch).max_combined = max;
        }
    }
}

/// # Safety
///
/// Called by the ethtool core with a device of `T` and output structs.
unsafe extern "C" fn get_coalesce<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    ec: *mut bindings::ethtool_coalesce,
    _kec: *mut bindings::kernel_ethtool_coalesce,
    _extack: *mut bindings::netlink_ext_ack,
) -> i32 {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        // SAFETY: `ec` is valid and ours for the call.
        unsafe { (*ec).rx_max_coalesced_frames = T::rx_max_frames(p, &rtnl) };
    }
    0
}

/// # Safety
///
/// Called by the ethtool core with a device of `T` and the request.
unsafe extern "C" fn set_coalesce<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    ec: *mut bindings::ethtool_coalesce,
    _kec: *mut bindings::kernel_ethtool_coalesce,
    _extack: *mut bindings::netlink_ext_ack,
) -> i32 {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        // SAFETY: `ec` is valid for the call.
        T::set_rx_max_frames(p, &rtnl, unsafe { (*ec).rx_max_coalesced_frames });
    }
    0
}

/// # Safety
///
/// Called by the ethtool core, under RTNL, with a device of `T`.
unsafe extern "C" fn get_link_ksettings<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    cmd: *mut bindings::ethtool_link_ksettings,
) -> i32 {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        // SAFETY: `cmd` is valid and ours for the call.
        unsafe { T::ksettings(p, &rtnl).write_to(cmd) };
    }
    0
}

/// # Safety
///
/// Called by the ethtool core, under RTNL, with a device of `T`.
unsafe extern "C" fn set_link_ksettings<T: EthtoolDriver>(
    dev: *mut bindings::net_device,
    cmd: *const bindings::ethtool_link_ksettings,
) -> i32 {
    // SAFETY: ethtool calls this with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    // SAFETY: The ethtool core calls with the device the request names,
    // which it holds for the call (this function's contract).
    if let Some(p) = unsafe { priv_of::<T>(dev) } {
        let mut k = LinkKsettings([0; KSETTINGS_LEN]);
        // SAFETY: `cmd` is valid for the call.
        unsafe { k.read_from(cmd) };
        T::set_ksettings(p, &rtnl, k);
    }
    0
}
