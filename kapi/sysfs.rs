// SPDX-License-Identifier: GPL-2.0

//! Read-only sysfs attributes of network devices (`dev->sysfs_groups`), as
//! `static`s: an [`RoAttr`] per file, an [`AttrList`] of them, and the
//! [`AttrGroup`] a device points at.
//!
//! C header: [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h)

use core::{fmt, mem::offset_of};

use kernel::{bindings, prelude::*};

use super::netdev::NetDevice;

/// How an attribute prints its value.
pub(crate) type ShowFn = fn(&NetDevice, &mut ShowBuf) -> fmt::Result;

/// How a writable attribute takes a value (the bytes written).
pub(crate) type StoreFn = fn(&NetDevice, &[u8]) -> Result;

/// A read-only device attribute (`DEVICE_ATTR_RO`).
///
/// # Invariants
///
/// `attr` is the first field (`repr(C)`), so the `device_attribute` sysfs
/// hands to `show_callback` is the start of an `RoAttr`.
#[repr(C)]
pub(crate) struct RoAttr {
    attr: bindings::device_attribute,
    show: ShowFn,
    store: Option<StoreFn>,
}

// SAFETY: Immutable after construction; sysfs only reads it.
unsafe impl Sync for RoAttr {}

impl RoAttr {
    pub(crate) const fn new(name: &'static CStr, show: ShowFn) -> Self {
        // SAFETY: All-zero is a valid `device_attribute` (NULL pointers, no
        // lockdep key: static attributes need none).
        let mut attr: bindings::device_attribute =
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        attr.attr.name = name.as_char_ptr();
        attr.attr.mode = 0o444;
        attr.show = Some(show_callback);
        Self {
            attr,
            show,
            store: None,
        }
    }

    /// An attribute root may also write (mode 0644).
    pub(crate) const fn read_write(name: &'static CStr, show: ShowFn, store: StoreFn) -> Self {
        let mut a = Self::new(name, show);
        a.attr.attr.mode = 0o644;
        a.attr.store = Some(store_callback);
        a.store = Some(store);
        a
    }
}

/// A NULL-terminated array of attributes.
#[repr(C)]
pub(crate) struct AttrList<const N: usize> {
    attrs: [*const bindings::attribute; N],
    end: *const bindings::attribute,
}

// SAFETY: Immutable pointers to immutable statics.
unsafe impl<const N: usize> Sync for AttrList<N> {}

impl<const N: usize> AttrList<N> {
    pub(crate) const fn new(attrs: [&'static RoAttr; N]) -> Self {
        let mut list = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            list[i] = &attrs[i].attr.attr;
            i += 1;
        }
        Self {
            attrs: list,
            end: core::ptr::null(),
        }
    }
}

/// An attribute group (`struct attribute_group`) without a directory.
pub(crate) struct AttrGroup(bindings::attribute_group);

// SAFETY: Immutable; sysfs only reads it.
unsafe impl Sync for AttrGroup {}

impl AttrGroup {
    pub(crate) const fn new<const N: usize>(list: &'static AttrList<N>) -> Self {
        // SAFETY: All-zero is a valid `attribute_group`.
        let mut group: bindings::attribute_group =
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        // CAST: `AttrList` is `repr(C)`: its arrays are a NULL-terminated
        // `struct attribute *[]`, which sysfs does not write.
        group.attrs = (list as *const AttrList<N>).cast_mut().cast();
        Self(group)
    }

    pub(crate) fn as_ptr(&'static self) -> *const bindings::attribute_group {
        &self.0
    }
}

/// The page sysfs gives a `show` callback, written as text.
pub(crate) struct ShowBuf {
    buf: *mut u8,
    len: usize,
}

impl fmt::Write for ShowBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = bindings::PAGE_SIZE.saturating_sub(self.len);
        let n = s.len().min(room);
        // SAFETY: `buf` is the page sysfs handed us; `len + n` stays within
        // it.
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len).cast(), n);
        }
        // At most the page (`n` is at most the room left).
        self.len = self.len.saturating_add(n);
        if n < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// `to_net_dev`.
///
/// # Safety
///
/// `dev` must be the `struct device` of a valid net device.
unsafe fn net_dev<'a>(dev: *mut bindings::device) -> &'a NetDevice {
    // SAFETY: Per the contract, stepping back by the field offset yields the
    // net device.
    unsafe {
        NetDevice::from_raw(
            dev.cast::<u8>()
                .sub(offset_of!(bindings::net_device, dev))
                .cast(),
        )
    }
}

/// # Safety
///
/// Called by sysfs with the device of a net device, one of our writable
/// [`RoAttr`]s and the `count` bytes written.
unsafe extern "C" fn store_callback(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const u8,
    count: usize,
) -> isize {
    // SAFETY: `attr` starts an `RoAttr` (type invariant of `RoAttr`).
    let ra = unsafe { &*attr.cast::<RoAttr>() };
    // SAFETY: sysfs passes `count` readable bytes.
    let data = unsafe { core::slice::from_raw_parts(buf, count) };
    // SAFETY: The group is installed only on net devices.
    let ndev = unsafe { net_dev(dev) };
    match ra.store.map_or(Err(EINVAL), |store| store(ndev, data)) {
        // CAST: `count` is at most a page.
        Ok(()) => count as isize,
        // CAST: An errno widens losslessly.
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs with the device of a net device, one of our [`RoAttr`]s
/// and a page-sized buffer.
unsafe extern "C" fn show_callback(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `attr` starts an `RoAttr` (type invariant of `RoAttr`).
    let ra = unsafe { &*attr.cast::<RoAttr>() };
    // SAFETY: The attribute group is installed only on net devices.
    let ndev = unsafe { net_dev(dev) };
    let mut out = ShowBuf { buf, len: 0 };
    let _ = (ra.show)(ndev, &mut out);
    // CAST: At most PAGE_SIZE.
    out.len as isize
}
