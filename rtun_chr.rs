// SPDX-License-Identifier: GPL-2.0

//! `/dev/net/tun`: the misc character device through which user space
//! creates, attaches to and drives tun devices.
//!
//! Each open file is a [`TunFile`], tun.c's `struct tun_file`: the queue a
//! file becomes once attached to a device.
//!
//! Lock order: RTNL, then a queue's ring locks (taken inside `ptr_ring`).

use core::sync::atomic::{AtomicI32, Ordering};

use kernel::{bindings, ioctl::_IOC_TYPE, prelude::*};

use crate::{
    kapi::{
        error::{ebadfd, eopnotsupp},
        file::File,
        miscdevice::MiscDevice,
        net::{NetRef, Rtnl},
        user,
    },
    rtun_ring::{self, TxRing},
    rtun_uapi::*,
};

/// The state of one open `/dev/net/tun` file.
#[pin_data]
pub(crate) struct TunFile {
    /// The network namespace of the opener: new devices are created there
    /// and `SIOCGSKNS` reports it (tun.c's `sock_net(&tfile->sk)`).
    net: NetRef,
    /// The ifindex `TUNSETIFINDEX` asks the next created device to take; 0
    /// lets the kernel choose.
    ifindex: AtomicI32,
    /// Packets waiting for this queue's reader.
    #[pin]
    tx_ring: TxRing,
}

impl TunFile {
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            net: NetRef::current(),
            ifindex: AtomicI32::new(0),
            tx_ring <- rtun_ring::new_unattached(),
        })
    }

    /// `__tun_chr_ioctl`: `ifreq_len` is how much of a `struct ifreq` user
    /// space passes (less for 32-bit tasks).
    fn ioctl(&self, cmd: u32, arg: usize, ifreq_len: usize) -> Result<isize> {
        // tun.c copies the request in before looking at the command, so an
        // unreadable argument gives EFAULT even where the command would fail
        // for another reason.
        let ifr = if cmd == TUNSETIFF
            || cmd == TUNSETQUEUE
            || (_IOC_TYPE(cmd) == SOCK_IOC_TYPE && cmd != SIOCGSKNS)
        {
            IfReq::read(arg, ifreq_len)?
        } else {
            IfReq::zeroed()
        };

        match cmd {
            TUNGETFEATURES => {
                user::write(arg, &TUN_GETFEATURES)?;
                return Ok(0);
            }
            TUNSETQUEUE => return self.set_queue(&ifr),
            SIOCGSKNS => {
                if !self.net.ns_capable(bindings::CAP_NET_ADMIN) {
                    return Err(EPERM);
                }
                return self.net.open_fd();
            }
            _ => {}
        }

        let _rtnl = Rtnl::lock();
        match cmd {
            // Creating and attaching devices is the data path's (issue 3);
            // until then rtun refuses rather than pretend.
            TUNSETIFF => Err(eopnotsupp()),
            TUNSETIFINDEX => {
                let ifindex: i32 = user::read(arg)?;
                if ifindex < 0 {
                    return Err(EINVAL);
                }
                self.ifindex.store(ifindex, Ordering::Relaxed);
                Ok(0)
            }
            // Every other command needs an attached device.
            _ => Err(ebadfd()),
        }
    }

    /// `tun_set_queue`: `IFF_ATTACH_QUEUE` needs a device this file was
    /// detached from and `IFF_DETACH_QUEUE` an attached multi-queue device;
    /// a file that never attached has neither, and anything else is invalid.
    fn set_queue(&self, _ifr: &IfReq) -> Result<isize> {
        let _rtnl = Rtnl::lock();
        Err(EINVAL)
    }
}

/// The file operations of `/dev/net/tun` (tun.c's `tun_fops`).
pub(crate) struct TunChr;

#[vtable]
impl MiscDevice for TunChr {
    type Ptr = Pin<KBox<TunFile>>;

    /// tun handles `IOCB_NOWAIT` reads and writes, as tun.c declares.
    const NOWAIT: bool = true;

    fn open(_file: &File) -> Result<Self::Ptr> {
        KBox::pin_init(TunFile::new(), GFP_KERNEL)
    }

    fn ioctl(tfile: Pin<&TunFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        tfile.ioctl(cmd, arg, IFREQ_LEN)
    }

    /// `tun_chr_compat_ioctl`. tun.c passes pointer arguments through
    /// `compat_ptr()` and the rest through a `compat_ulong_t` cast; on every
    /// architecture Rust-for-Linux supports both are the same zero-extension
    /// of the low 32 bits. Kernels without `CONFIG_COMPAT` never call it.
    fn compat_ioctl(tfile: Pin<&TunFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // CAST: Truncation to 32 bits is the point: see above.
        tfile.ioctl(cmd, arg as u32 as usize, COMPAT_IFREQ_LEN)
    }
}
