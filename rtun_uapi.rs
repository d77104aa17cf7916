// SPDX-License-Identifier: GPL-2.0

//! tun's user-space interface (`include/uapi/linux/if_tun.h`), which rtun
//! reproduces bit for bit.
//!
//! The flag values come from bindgen; the ioctl numbers are function-like
//! macros there, so they are rebuilt here with `kernel::ioctl`. [`IfReq`]
//! is `struct ifreq` as tun's ioctls exchange it.

use core::ffi::{c_int, c_uint};

use kernel::{
    bindings,
    ioctl::{_IO, _IOR, _IOW},
};

const T: u32 = b'T' as u32;

pub(crate) const TUNSETNOCSUM: u32 = _IOW::<c_int>(T, 200);
pub(crate) const TUNSETDEBUG: u32 = _IOW::<c_int>(T, 201);
pub(crate) const TUNSETIFF: u32 = _IOW::<c_int>(T, 202);
pub(crate) const TUNSETPERSIST: u32 = _IOW::<c_int>(T, 203);
pub(crate) const TUNSETOWNER: u32 = _IOW::<c_int>(T, 204);
pub(crate) const TUNSETLINK: u32 = _IOW::<c_int>(T, 205);
pub(crate) const TUNSETGROUP: u32 = _IOW::<c_int>(T, 206);
pub(crate) const TUNGETFEATURES: u32 = _IOR::<c_uint>(T, 207);
pub(crate) const TUNSETOFFLOAD: u32 = _IOW::<c_uint>(T, 208);
pub(crate) const TUNSETTXFILTER: u32 = _IOW::<c_uint>(T, 209);
pub(crate) const TUNGETIFF: u32 = _IOR::<c_uint>(T, 210);
pub(crate) const TUNGETSNDBUF: u32 = _IOR::<c_int>(T, 211);
pub(crate) const TUNSETSNDBUF: u32 = _IOW::<c_int>(T, 212);
pub(crate) const TUNATTACHFILTER: u32 = _IOW::<bindings::sock_fprog>(T, 213);
pub(crate) const TUNDETACHFILTER: u32 = _IOW::<bindings::sock_fprog>(T, 214);
pub(crate) const TUNGETVNETHDRSZ: u32 = _IOR::<c_int>(T, 215);
pub(crate) const TUNSETVNETHDRSZ: u32 = _IOW::<c_int>(T, 216);
pub(crate) const TUNSETQUEUE: u32 = _IOW::<c_int>(T, 217);
pub(crate) const TUNSETIFINDEX: u32 = _IOW::<c_uint>(T, 218);
pub(crate) const TUNGETFILTER: u32 = _IOR::<bindings::sock_fprog>(T, 219);
pub(crate) const TUNSETVNETLE: u32 = _IOW::<c_int>(T, 220);
pub(crate) const TUNGETVNETLE: u32 = _IOR::<c_int>(T, 221);
pub(crate) const TUNSETVNETBE: u32 = _IOW::<c_int>(T, 222);
pub(crate) const TUNGETVNETBE: u32 = _IOR::<c_int>(T, 223);
pub(crate) const TUNSETSTEERINGEBPF: u32 = _IOR::<c_int>(T, 224);
pub(crate) const TUNSETFILTEREBPF: u32 = _IOR::<c_int>(T, 225);
pub(crate) const TUNSETCARRIER: u32 = _IOW::<c_int>(T, 226);
pub(crate) const TUNGETDEVNETNS: u32 = _IO(T, 227);

/// `SIOCGIFHWADDR` and `SIOCSIFHWADDR`, answered for the attached device.
pub(crate) const SIOCGIFHWADDR: u32 = bindings::SIOCGIFHWADDR;
pub(crate) const SIOCSIFHWADDR: u32 = bindings::SIOCSIFHWADDR;

/// `SIOCGSKNS`, the socket ioctl tun answers itself.
pub(crate) const SIOCGSKNS: u32 = bindings::SIOCGSKNS;
/// The `_IOC_TYPE` of socket ioctls (`SIOCGIFHWADDR` and friends), whose
/// argument tun copies in as a `struct ifreq` before anything else.
pub(crate) const SOCK_IOC_TYPE: u32 = bindings::SOCK_IOC_TYPE;

// CAST: The IFF_* flags are small positive constants that fit the
// `short ifr_flags` of `struct ifreq`; tun.c keeps them in an int.
pub(crate) const IFF_TUN: u32 = bindings::IFF_TUN;
pub(crate) const IFF_TAP: u32 = bindings::IFF_TAP;
pub(crate) const IFF_NAPI: u32 = bindings::IFF_NAPI;
pub(crate) const IFF_NAPI_FRAGS: u32 = bindings::IFF_NAPI_FRAGS;
pub(crate) const IFF_NO_CARRIER: u32 = bindings::IFF_NO_CARRIER;
pub(crate) const IFF_NO_PI: u32 = bindings::IFF_NO_PI;
pub(crate) const IFF_ONE_QUEUE: u32 = bindings::IFF_ONE_QUEUE;
pub(crate) const IFF_VNET_HDR: u32 = bindings::IFF_VNET_HDR;
pub(crate) const IFF_TUN_EXCL: u32 = bindings::IFF_TUN_EXCL;
pub(crate) const IFF_MULTI_QUEUE: u32 = bindings::IFF_MULTI_QUEUE;
pub(crate) const IFF_ATTACH_QUEUE: u32 = bindings::IFF_ATTACH_QUEUE;
pub(crate) const IFF_DETACH_QUEUE: u32 = bindings::IFF_DETACH_QUEUE;
pub(crate) const IFF_PERSIST: u32 = bindings::IFF_PERSIST;
pub(crate) const IFF_NOFILTER: u32 = bindings::IFF_NOFILTER;

/// `TUN_TYPE_MASK`: the device type bits, four of them (`0x000f`), not
/// just `IFF_TUN | IFF_TAP`: `IFF_NAPI_FRAGS` refuses a request with an
/// undefined type bit (`0x4`, `0x8`) set beside `IFF_TAP`.
pub(crate) const TUN_TYPE_MASK: u32 = bindings::TUN_TYPE_MASK;

/// `MAX_TAP_QUEUES`: queues of a multi-queue device.
pub(crate) const MAX_TAP_QUEUES: u32 = 256;

/// `TUN_PKT_STRIP` in `struct tun_pi`'s flags: the packet was truncated.
// CAST: 1 fits `tun_pi.flags`.
pub(crate) const TUN_PKT_STRIP: u16 = bindings::TUN_PKT_STRIP as u16;

/// `ETH_HLEN`: an Ethernet header, the least a tap frame has.
// CAST: 14 fits any integer type.
pub(crate) const ETH_HLEN: usize = bindings::ETH_HLEN as usize;
/// `VLAN_HLEN`: an 802.1Q tag.
// CAST: 4 fits any integer type.
pub(crate) const VLAN_HLEN: usize = bindings::VLAN_HLEN as usize;

/// `sizeof(struct tun_pi)`: `__u16 flags; __be16 proto;`.
pub(crate) const TUN_PI_LEN: usize = 4;

/// Where `gso_type` sits in a `struct virtio_net_hdr` (after `flags`);
/// `VIRTIO_NET_HDR_GSO_NONE` is 0.
pub(crate) const VNET_GSO_TYPE: usize = core::mem::offset_of!(bindings::virtio_net_hdr, gso_type);

/// The per-device features a file may set with `TUNSETIFF`.
pub(crate) const TUN_FEATURES: u32 =
    IFF_NO_PI | IFF_ONE_QUEUE | IFF_VNET_HDR | IFF_MULTI_QUEUE | IFF_NAPI | IFF_NAPI_FRAGS;

/// What `TUNGETFEATURES` reports: every flag `TUNSETIFF` understands.
pub(crate) const TUN_GETFEATURES: u32 = IFF_TUN | IFF_TAP | IFF_NO_CARRIER | TUN_FEATURES;

/// `IFNAMSIZ`.
pub(crate) const IFNAMSIZ: usize = bindings::IFNAMSIZ as usize;

/// Size of `struct ifreq` on this kernel.
pub(crate) const IFREQ_LEN: usize = core::mem::size_of::<bindings::ifreq>();

/// Size of `struct compat_ifreq`: the name plus a 16-byte union for 32-bit
/// tasks.
pub(crate) const COMPAT_IFREQ_LEN: usize = IFNAMSIZ + 16;

/// Where `struct ifreq`'s name and union are: the union holds the
/// `short ifr_flags` and the `struct sockaddr ifr_hwaddr` tun uses.
const IFR_NAME: usize = core::mem::offset_of!(bindings::ifreq, ifr_ifrn);
const IFR_IFRU: usize = core::mem::offset_of!(bindings::ifreq, ifr_ifru);
const SOCKADDR_LEN: usize = core::mem::size_of::<bindings::sockaddr>();

/// A `struct ifreq` as tun's ioctls exchange it, kept as its bytes: tun
/// copies in a prefix (less for 32-bit tasks) and copies back what it
/// read, so nothing else of it may change on the way.
#[derive(Clone, Copy)]
pub(crate) struct IfReq([u8; IFREQ_LEN]);

impl IfReq {
    /// An all-zero request (tun.c's `memset(&ifr, 0, sizeof(ifr))`).
    pub(crate) const fn zeroed() -> Self {
        Self([0; IFREQ_LEN])
    }

    /// Copies the first `len` bytes (`sizeof(struct ifreq)` or of the compat
    /// one) from user space.
    pub(crate) fn read(arg: usize, len: usize) -> kernel::error::Result<Self> {
        crate::kapi::user::read_prefix(arg, len).map(Self)
    }

    /// The bytes to copy back to user space.
    pub(crate) fn as_bytes(&self) -> &[u8; IFREQ_LEN] {
        &self.0
    }

    /// `ifr_name`, NUL-terminated as tun.c forces (`ifr_name[IFNAMSIZ-1] =
    /// '\0'`), so it is a valid C string.
    pub(crate) fn name(&mut self) -> &kernel::str::CStr {
        let name = &mut self.0[IFR_NAME..IFR_NAME + IFNAMSIZ];
        name[IFNAMSIZ - 1] = 0;
        let len = name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ - 1);
        // The slice ends at its first NUL (forced above).
        kernel::str::CStr::from_bytes_with_nul(&name[..=len]).unwrap_or(kernel::c_str!(""))
    }

    /// Sets `ifr_name` (`strcpy` of a device name).
    pub(crate) fn set_name(&mut self, name: &[u8; IFNAMSIZ]) {
        self.0[IFR_NAME..IFR_NAME + IFNAMSIZ].copy_from_slice(name);
    }

    /// Sets `ifr_flags`, truncated to the C `short` as tun.c's assignment.
    pub(crate) fn set_flags(&mut self, flags: u32) {
        // CAST: Truncation to `short` is what C does.
        let f = flags as u16;
        self.0[IFR_IFRU..IFR_IFRU + 2].copy_from_slice(&f.to_ne_bytes());
    }

    /// `ifr_hwaddr`, a `struct sockaddr`.
    pub(crate) fn hwaddr(&self) -> [u8; SOCKADDR_LEN] {
        let mut sa = [0u8; SOCKADDR_LEN];
        sa.copy_from_slice(&self.0[IFR_IFRU..IFR_IFRU + SOCKADDR_LEN]);
        sa
    }

    /// Sets `ifr_hwaddr`.
    pub(crate) fn set_hwaddr(&mut self, sa: &[u8; SOCKADDR_LEN]) {
        self.0[IFR_IFRU..IFR_IFRU + SOCKADDR_LEN].copy_from_slice(sa);
    }

    /// `ifr_flags`, widened as tun.c's `int` use of it.
    pub(crate) fn flags(&self) -> u32 {
        // CAST: `ifr_flags` is a C `short`; tun.c reads it into int
        // arithmetic with sign extension, and so do we.
        i16::from_ne_bytes([self.0[IFR_IFRU], self.0[IFR_IFRU + 1]]) as i32 as u32
    }
}
