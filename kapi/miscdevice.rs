// SPDX-License-Identifier: GPL-2.0

//! Misc character devices.
//!
//! Modelled on `rust/kernel/miscdevice.rs` of later kernels, with what tun
//! needs beyond it: a fixed minor and a node name, `fops.owner` so that an
//! open file pins the module (as `tun_fops` does), and `FMODE_NOWAIT`.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use core::{
    ffi::c_int,
    ffi::c_uint,
    marker::PhantomData,
    ptr::addr_of,
    sync::atomic::{AtomicPtr, Ordering},
};

use kernel::{
    bindings,
    error::{to_result, VTABLE_DEFAULT_ERROR},
    init::pin_init_from_closure,
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

use super::{
    file::File,
    iov::{IovIter, Kiocb},
    wait::PollTable,
};

/// `FMODE_NOWAIT` from `include/linux/fs.h`; its macro carries a cast that
/// bindgen cannot fold.
const FMODE_NOWAIT: bindings::fmode_t = 1 << 27;

/// Where and how to register a misc device.
pub(crate) struct MiscDeviceOptions {
    /// The device name (`/sys/class/misc/<name>`).
    pub(crate) name: &'static CStr,
    /// The minor number (`MISC_DYNAMIC_MINOR` for any).
    pub(crate) minor: c_int,
    /// The node below `/dev`, when it differs from `name`.
    pub(crate) nodename: Option<&'static CStr>,
}

/// A `seq_file` being written (`/proc` output).
pub(crate) struct SeqFile<'a> {
    m: *mut bindings::seq_file,
    _p: PhantomData<&'a mut bindings::seq_file>,
}

impl SeqFile<'_> {
    /// Appends `data` (`seq_write`); output that does not fit is dropped
    /// and retried by the seq_file core with a bigger buffer.
    pub(crate) fn write(&mut self, data: &[u8]) {
        // SAFETY: `m` is the seq_file of the current `show`, ours for the
        // call; `data` is valid for reads of its length.
        unsafe { bindings::seq_write(self.m, data.as_ptr().cast(), data.len()) };
    }
}

/// The file operations of a misc device.
#[vtable]
pub(crate) trait MiscDevice: Sized {
    /// What `open` makes and the other operations borrow.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Whether the operations handle `IOCB_NOWAIT` (sets `FMODE_NOWAIT`).
    const NOWAIT: bool = false;

    /// Where the registration publishes its operations, for types whose
    /// files others look up ([`file_data`]).
    fn fops_id() -> Option<&'static FopsId> {
        None
    }

    /// Called when the device node is opened.
    fn open(file: &File) -> Result<Self::Ptr>;

    /// Called when the last reference to the file goes away.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// Handles `read(2)` and `readv(2)`.
    fn read_iter(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _kiocb: &Kiocb,
        _to: &mut IovIter,
    ) -> Result<usize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `write(2)` and `writev(2)`.
    fn write_iter(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _kiocb: &Kiocb,
        _from: &mut IovIter,
    ) -> Result<usize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `poll(2)` and friends: returns the ready `EPOLL*` mask.
    fn poll(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _table: &PollTable,
    ) -> u32 {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `fcntl(F_SETFL, O_ASYNC)` (`on`) and its removal.
    fn fasync(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _fd: i32,
        _on: bool,
    ) -> Result {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Adds lines to `/proc/<pid>/fdinfo/<fd>`.
    fn show_fdinfo(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _m: &mut SeqFile<'_>,
    ) {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `ioctl(2)`.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `ioctl(2)` from a 32-bit task on a 64-bit kernel.
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }
}

/// A registered misc device.
///
/// # Invariants
///
/// `misc` is registered with the misc core and points at `fops`, until drop.
/// Both live in this pinned allocation, which outlives every open file:
/// `fops.owner` makes each open file hold a reference on the module, and the
/// module owns the registration.
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: The registration only holds C objects that the misc core and the
// VFS access under their own locking; moving ownership between threads is
// fine.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}

// SAFETY: `&MiscDeviceRegistration` exposes no methods that touch the C
// objects.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device whose files are served by `T`.
    pub(crate) fn register(
        opts: MiscDeviceOptions,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        let fops = bindings::file_operations {
            owner: module.as_ptr(),
            ..Vtable::<T>::FOPS
        };
        let closure = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes; the fields are `Opaque`, so
            // raw pointers to them may be formed while uninitialised.
            let (fops_ptr, misc_ptr) = unsafe {
                (
                    Opaque::raw_get(addr_of!((*slot).fops)),
                    Opaque::raw_get(addr_of!((*slot).misc)),
                )
            };
            // SAFETY: Both pointers are valid for writes (see above).
            unsafe {
                fops_ptr.write(fops);
                misc_ptr.write(bindings::miscdevice {
                    minor: opts.minor,
                    name: opts.name.as_char_ptr(),
                    nodename: opts.nodename.map_or(core::ptr::null(), |n| n.as_char_ptr()),
                    fops: fops_ptr,
                    ..Default::default()
                });
            }
            // Published first: a file may be opened as soon as the device
            // is registered.
            if let Some(id) = T::fops_id() {
                id.0.store(fops_ptr, Ordering::Release);
            }
            // SAFETY: `misc_ptr` is initialised and pinned; it stays valid
            // until `misc_deregister` in `drop`.
            to_result(unsafe { bindings::misc_register(misc_ptr) }).inspect_err(|_| {
                if let Some(id) = T::fops_id() {
                    id.0.store(core::ptr::null_mut(), Ordering::Release);
                }
            })
        };
        // SAFETY: On success the closure has initialised every field (the
        // `PhantomData` needs none). On failure nothing was registered, so the
        // slot may be freed without cleanup.
        unsafe { pin_init_from_closure(closure) }
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant `misc` is registered.
        unsafe { bindings::misc_deregister(self.misc.get()) };
        if let Some(id) = T::fops_id() {
            id.0.store(core::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// The operations `T` implements, as a constant so that only the callbacks
/// `T` provides are ever instantiated (the others would reach the
/// `build_error` of the trait's defaults).
struct Vtable<T>(PhantomData<T>);

impl<T: MiscDevice> Vtable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        open: Some(open_callback::<T>),
        release: Some(release_callback::<T>),
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(ioctl_callback::<T>)
        } else {
            None
        },
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(compat_ioctl_callback::<T>)
        } else {
            None
        },
        read_iter: if T::HAS_READ_ITER {
            Some(read_iter_callback::<T>)
        } else {
            None
        },
        write_iter: if T::HAS_WRITE_ITER {
            Some(write_iter_callback::<T>)
        } else {
            None
        },
        fasync: if T::HAS_FASYNC {
            Some(fasync_callback::<T>)
        } else {
            None
        },
        show_fdinfo: if T::HAS_SHOW_FDINFO {
            Some(show_fdinfo_callback::<T>)
        } else {
            None
        },
        poll: if T::HAS_POLL {
            Some(poll_callback::<T>)
        } else {
            None
        },
        // SAFETY: All-zero is a valid `file_operations`: NULL pointers and
        // no flags.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };
}

/// # Safety
///
/// Called by the VFS through `misc_open` with a valid inode and file.
unsafe extern "C" fn open_callback<T: MiscDevice>(
    _inode: *mut bindings::inode,
    raw_file: *mut bindings::file,
) -> c_int {
    // SAFETY: The VFS passes a file that is valid during the call.
    let file = unsafe { File::from_raw(raw_file) };
    let ptr = match T::open(file) {
        Ok(ptr) => ptr,
        Err(err) => return err.to_errno(),
    };
    // SAFETY: The file is still being opened: no other thread can see it, so
    // writing `private_data` and `f_mode` does not race. `private_data` now
    // holds the foreign pointer that `release_callback` reclaims.
    unsafe {
        (*raw_file).private_data = ptr.into_foreign().cast_mut();
        if T::NOWAIT {
            (*raw_file).f_mode |= FMODE_NOWAIT;
        }
    }
    0
}

/// # Safety
///
/// Called by the VFS once, with the file `open_callback` set up.
unsafe extern "C" fn release_callback<T: MiscDevice>(
    _inode: *mut bindings::inode,
    raw_file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` holds what `open_callback` stored, and release
    // runs once, after every other file operation has returned.
    let ptr = unsafe { T::Ptr::from_foreign((*raw_file).private_data) };
    // SAFETY: The file is valid during the call.
    T::release(ptr, unsafe { File::from_raw(raw_file) });
    0
}

/// The handler behind both ioctl entry points.
type IoctlFn<T> = fn(
    <<T as MiscDevice>::Ptr as ForeignOwnable>::Borrowed<'_>,
    &File,
    u32,
    usize,
) -> Result<isize>;

/// # Safety
///
/// `raw_file` must be an open file of this device, for the call.
unsafe fn do_ioctl<T: MiscDevice>(
    raw_file: *mut bindings::file,
    cmd: c_uint,
    arg: usize,
    f: IoctlFn<T>,
) -> isize {
    // SAFETY: `private_data` holds what `open_callback` stored, and
    // `release_callback` cannot run while this call holds the file.
    let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
    // SAFETY: The file is valid during the call.
    let file = unsafe { File::from_raw(raw_file) };
    match f(device, file, cmd, arg) {
        Ok(ret) => ret,
        // CAST: An errno widens losslessly to `long`.
        Err(err) => err.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS with an open file of this device.
unsafe extern "C" fn ioctl_callback<T: MiscDevice>(
    raw_file: *mut bindings::file,
    cmd: c_uint,
    arg: usize,
) -> isize {
    // SAFETY: As the VFS promises.
    unsafe { do_ioctl::<T>(raw_file, cmd, arg, T::ioctl) }
}

/// # Safety
///
/// Called by the VFS with an open file of this device.
unsafe extern "C" fn compat_ioctl_callback<T: MiscDevice>(
    raw_file: *mut bindings::file,
    cmd: c_uint,
    arg: usize,
) -> isize {
    // SAFETY: As the VFS promises.
    unsafe { do_ioctl::<T>(raw_file, cmd, arg, T::compat_ioctl) }
}

/// The handler behind both `read_iter` and `write_iter`.
type RwFn<T> = fn(
    <<T as MiscDevice>::Ptr as ForeignOwnable>::Borrowed<'_>,
    &Kiocb,
    &mut IovIter,
) -> Result<usize>;

/// # Safety
///
/// `kiocb` must be a valid kiocb on an open file of this device and `iter`
/// a valid iterator, both for the call.
unsafe fn do_rw<T: MiscDevice>(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
    f: RwFn<T>,
) -> isize {
    // SAFETY: The kiocb is valid for the call.
    let kiocb = unsafe { Kiocb::from_raw(kiocb) };
    // SAFETY: As in `do_ioctl`: the file is open for the call.
    let device = unsafe { T::Ptr::borrow((*kiocb.file().as_raw()).private_data) };
    // SAFETY: The iterator is valid and ours for the call.
    let iter = unsafe { IovIter::from_raw(iter) };
    match f(device, kiocb, iter) {
        // CAST: A byte count of one call fits `ssize_t`.
        Ok(n) => n as isize,
        // CAST: An errno widens losslessly.
        Err(err) => err.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS with a valid kiocb on an open file of this device and
/// a valid iterator.
unsafe extern "C" fn read_iter_callback<T: MiscDevice>(
    kiocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: As the VFS promises.
    unsafe { do_rw::<T>(kiocb, to, T::read_iter) }
}

/// # Safety
///
/// As for `read_iter_callback`.
unsafe extern "C" fn write_iter_callback<T: MiscDevice>(
    kiocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: As the VFS promises.
    unsafe { do_rw::<T>(kiocb, from, T::write_iter) }
}

/// # Safety
///
/// Called by the VFS with an open file of this device and a valid (possibly
/// NULL) poll table.
unsafe extern "C" fn poll_callback<T: MiscDevice>(
    raw_file: *mut bindings::file,
    table: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: As in `ioctl_callback`.
    let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
    // SAFETY: The file is valid during the call.
    let file = unsafe { File::from_raw(raw_file) };
    T::poll(device, file, &PollTable(table))
}

/// # Safety
///
/// Called by the VFS with an open file of this device (also from `__fput`,
/// before `release`, to unsubscribe).
unsafe extern "C" fn fasync_callback<T: MiscDevice>(
    fd: c_int,
    raw_file: *mut bindings::file,
    on: c_int,
) -> c_int {
    // SAFETY: As in `ioctl_callback`.
    let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
    // SAFETY: The file is valid during the call.
    let file = unsafe { File::from_raw(raw_file) };
    match T::fasync(device, file, fd, on != 0) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// # Safety
///
/// Called by procfs with a seq_file and an open file of this device.
unsafe extern "C" fn show_fdinfo_callback<T: MiscDevice>(
    m: *mut bindings::seq_file,
    raw_file: *mut bindings::file,
) {
    // SAFETY: As in `do_ioctl`: the file is open for the call.
    let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
    // SAFETY: The file is valid during the call.
    let file = unsafe { File::from_raw(raw_file) };
    T::show_fdinfo(device, file, &mut SeqFile { m, _p: PhantomData });
}

/// Where a registration publishes its `file_operations`, so that its files
/// can be recognised later: tun.c compares `file->f_op` with `&tun_fops`,
/// and rtun's operations live in the registration, not in a static.
pub(crate) struct FopsId(AtomicPtr<bindings::file_operations>);

impl FopsId {
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(core::ptr::null_mut()))
    }
}

/// The data `T` keeps for `file`: `EINVAL` if `file` is not one of `T`'s
/// (tun.c's `file->f_op != &tun_fops` check), `EBADFD` if it has none.
///
/// # Safety
///
/// `file` must be a valid file that stays open for `'a`.
pub(crate) unsafe fn file_data<'a, T: MiscDevice>(
    file: *mut bindings::file,
) -> Result<<T::Ptr as ForeignOwnable>::Borrowed<'a>> {
    // SAFETY: The caller passes a valid file.
    let f_op = unsafe { (*file).f_op };
    let ours = T::fops_id().map(|id| id.0.load(Ordering::Acquire));
    if ours != Some(f_op.cast_mut()) || f_op.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: The file is one of `T`'s, so `private_data` holds what
    // `open_callback` stored, until release, which cannot run while the
    // caller keeps the file open.
    let data = unsafe { (*file).private_data };
    if data.is_null() {
        return Err(super::error::ebadfd());
    }
    // SAFETY: See above.
    Ok(unsafe { T::Ptr::borrow(data) })
}
