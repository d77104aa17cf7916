// SPDX-License-Identifier: GPL-2.0

//! A queue file's ioctls (`__tun_chr_ioctl`), in tun.c's three phases:
//! commands that need no device, those that set a device up
//! (`TUNSETIFF`, which attaches to or creates one, and `TUNSETIFINDEX`),
//! and those on the attached device; and `TUNSETQUEUE`.
//!
//! Lock order: as `rtun_chr.rs`; every command past the first phase holds
//! RTNL throughout.

use kernel::{bindings, ioctl::_IOC_TYPE, prelude::*, sync::ArcBorrow};

use super::TunFile;
use crate::{
    kapi::{
        cred, error::ebadfd, module, net::Rtnl, netdev::NetDevice, tun_security::TunSecurity,
        tun_socket::SockFprog, user,
    },
    rtun_netdev::{self, TunDev},
    rtun_uapi::*,
    rtun_vnet,
};

impl TunFile {
    /// `__tun_chr_ioctl`: `ifreq_len` is how much of a `struct ifreq` user
    /// space passes (less for 32-bit tasks). Commands are taken in tun.c's
    /// three phases: those that need no device and no RTNL, those that set
    /// a device up ([`Self::ioctl_setup`]), and those that need one
    /// attached ([`Self::ioctl_attached`]).
    pub(super) fn ioctl(
        this: ArcBorrow<'_, Self>,
        cmd: u32,
        arg: usize,
        ifreq_len: usize,
    ) -> Result<isize> {
        // tun.c copies the request in before looking at the command, so an
        // unreadable argument gives EFAULT even where the command would fail
        // for another reason.
        let mut ifr = if cmd == TUNSETIFF
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
            TUNSETQUEUE => return Self::set_queue(this, &ifr),
            SIOCGSKNS => {
                if !this.net.ns_capable(bindings::CAP_NET_ADMIN) {
                    return Err(EPERM);
                }
                return this.net.open_fd();
            }
            _ => {}
        }

        let rtnl = &Rtnl::lock();
        let dev = this.dev.get_rtnl(rtnl);
        if let Some(ret) =
            Self::ioctl_setup(this, rtnl, dev.is_some(), cmd, arg, &mut ifr, ifreq_len)
        {
            return ret;
        }
        // Every other command needs an attached device.
        let dev = dev.ok_or_else(ebadfd)?;
        Self::ioctl_attached(this, rtnl, &dev, cmd, arg, &mut ifr, ifreq_len)
    }

    /// The commands that set a file up before it has a device: `TUNSETIFF`
    /// and `TUNSETIFINDEX`; `None` for the others.
    fn ioctl_setup(
        this: ArcBorrow<'_, Self>,
        rtnl: &Rtnl,
        attached: bool,
        cmd: u32,
        arg: usize,
        ifr: &mut IfReq,
        ifreq_len: usize,
    ) -> Option<Result<isize>> {
        let run = || match cmd {
            TUNSETIFF => {
                if attached {
                    return Err(EEXIST);
                }
                let dev = Self::set_iff(this, rtnl, ifr)?;
                ifr.set_name(&dev.name());
                user::write_prefix(arg, ifr.as_bytes(), ifreq_len)?;
                Ok(0)
            }
            TUNSETIFINDEX => {
                if attached {
                    return Err(EPERM);
                }
                let ifindex: i32 = user::read(arg)?;
                if ifindex < 0 {
                    return Err(EINVAL);
                }
                this.ifindex.set(rtnl, ifindex);
                Ok(0)
            }
            _ => Err(ENOTTY),
        };
        matches!(cmd, TUNSETIFF | TUNSETIFINDEX).then(run)
    }

    /// The commands on a file attached to `dev`.
    fn ioctl_attached(
        this: ArcBorrow<'_, Self>,
        rtnl: &Rtnl,
        dev: &TunDev,
        cmd: u32,
        arg: usize,
        ifr: &mut IfReq,
        ifreq_len: usize,
    ) -> Result<isize> {
        let tun = dev.priv_();
        match cmd {
            TUNGETIFF => {
                let mut out = IfReq::zeroed();
                out.set_name(&dev.name());
                let detached = if this.is_detached(rtnl) {
                    IFF_DETACH_QUEUE
                } else {
                    0
                };
                let nofilter = if this.sock.has_filter() {
                    0
                } else {
                    IFF_NOFILTER
                };
                out.set_flags(tun.iff_flags() | nofilter | detached);
                user::write_prefix(arg, out.as_bytes(), ifreq_len)?;
                Ok(0)
            }
            // tun.c ignores it ("[unimplemented]").
            TUNSETNOCSUM => Ok(0),
            TUNSETPERSIST => {
                let flags = tun.flags();
                if arg != 0 && flags & IFF_PERSIST == 0 {
                    tun.set_flags(rtnl, flags | IFF_PERSIST);
                    module::get(&crate::THIS_MODULE);
                    dev.state_change(rtnl);
                } else if arg == 0 && flags & IFF_PERSIST != 0 {
                    tun.set_flags(rtnl, flags & !IFF_PERSIST);
                    module::put(&crate::THIS_MODULE);
                    dev.state_change(rtnl);
                }
                Ok(0)
            }
            TUNSETOWNER | TUNSETGROUP => {
                // CAST: tun.c passes the argument as a `uid_t`/`gid_t`.
                let id = arg as u32;
                let kid = if cmd == TUNSETOWNER {
                    cred::make_kuid(id)
                } else {
                    cred::make_kgid(id)
                };
                if kid == cred::INVALID_ID {
                    return Err(EINVAL);
                }
                if cmd == TUNSETOWNER {
                    tun.set_owner(rtnl, kid);
                } else {
                    tun.set_group(rtnl, kid);
                }
                dev.state_change(rtnl);
                Ok(0)
            }
            TUNSETLINK => {
                // CAST: tun.c stores `(int) arg` into the `unsigned short`.
                let type_ = arg as u16;
                dev.set_link_type(rtnl, type_, link_addr_len(type_))?;
                Ok(0)
            }
            TUNSETDEBUG => {
                // CAST: tun.c keeps `(u32)arg`.
                tun.set_msg_enable(rtnl, arg as u32);
                Ok(0)
            }
            TUNSETOFFLOAD => {
                tun.set_offload(rtnl, dev, arg)?;
                Ok(0)
            }
            SIOCGIFHWADDR => {
                let mut sa = ifr.hwaddr();
                dev.get_mac_address(&mut sa)?;
                ifr.set_hwaddr(&sa);
                user::write_prefix(arg, ifr.as_bytes(), ifreq_len)?;
                Ok(0)
            }
            SIOCSIFHWADDR => {
                let mut sa = ifr.hwaddr();
                dev.set_mac_address(rtnl, &mut sa)?;
                Ok(0)
            }
            // Socket filters are for TAP devices only.
            TUNATTACHFILTER | TUNDETACHFILTER | TUNGETFILTER
                if tun.flags() & TUN_TYPE_MASK != IFF_TAP =>
            {
                Err(EINVAL)
            }
            TUNATTACHFILTER => {
                tun.attach_filter(rtnl, SockFprog::read(arg)?)?;
                Ok(0)
            }
            TUNDETACHFILTER => {
                tun.detach_filter(rtnl, tun.numqueues());
                Ok(0)
            }
            TUNGETFILTER => {
                tun.fprog(rtnl).write(arg)?;
                Ok(0)
            }
            TUNSETSTEERINGEBPF | TUNSETFILTEREBPF => {
                tun.set_ebpf(rtnl, cmd == TUNSETSTEERINGEBPF, user::read(arg)?)?;
                Ok(0)
            }
            TUNGETSNDBUF => {
                user::write(arg, &this.sock.sndbuf())?;
                Ok(0)
            }
            TUNSETSNDBUF => {
                let sndbuf: i32 = user::read(arg)?;
                if sndbuf <= 0 {
                    return Err(EINVAL);
                }
                tun.for_each_queue(rtnl, |q| q.sock.set_sndbuf(sndbuf));
                Ok(0)
            }
            TUNGETVNETHDRSZ | TUNSETVNETHDRSZ | TUNGETVNETLE | TUNSETVNETLE | TUNGETVNETBE
            | TUNSETVNETBE => rtun_vnet::ioctl(tun, rtnl, cmd, arg),
            TUNSETCARRIER => {
                let carrier: i32 = user::read(arg)?;
                tun.change_carrier(dev, carrier != 0)?;
                Ok(0)
            }
            TUNGETDEVNETNS => dev.open_net_fd(),
            TUNSETTXFILTER => {
                if tun.flags() & TUN_TYPE_MASK != IFF_TAP {
                    return Err(EINVAL);
                }
                tun.txflt.update(rtnl, arg)
            }
            // Filters and eBPF programs (issue 5) and unknown commands.
            _ => Err(EINVAL),
        }
    }

    /// `tun_set_iff`: attach to the named device, or create it.
    fn set_iff(this: ArcBorrow<'_, Self>, rtnl: &Rtnl, ifr: &mut IfReq) -> Result<TunDev> {
        let flags = ifr.flags();
        if this.is_detached(rtnl) {
            return Err(EINVAL);
        }
        if flags & IFF_NAPI_FRAGS != 0 {
            // In the initial namespace: a user namespace's root may not.
            if !cred::capable(bindings::CAP_NET_ADMIN) {
                return Err(EPERM);
            }
            if flags & IFF_NAPI == 0 || flags & TUN_TYPE_MASK != IFF_TAP {
                return Err(EINVAL);
            }
        }
        let name = ifr.name();
        let dev = match NetDevice::get_by_name(rtnl, &this.net, name) {
            Some(dev) => {
                if flags & IFF_TUN_EXCL != 0 {
                    return Err(EBUSY);
                }
                // Either type flag may name the device's own type: with
                // both set, the existing device decides.
                let dev = (flags & IFF_TUN != 0)
                    .then(|| TunDev::of::<rtun_netdev::Tun>(dev))
                    .flatten()
                    .or_else(|| {
                        (flags & IFF_TAP != 0)
                            .then(|| TunDev::of::<rtun_netdev::Tap>(dev))
                            .flatten()
                    })
                    .ok_or(EINVAL)?;
                let tun = dev.priv_();
                if (flags & IFF_MULTI_QUEUE != 0) != (tun.flags() & IFF_MULTI_QUEUE != 0) {
                    return Err(EINVAL);
                }
                if !tun.permitted(&dev) {
                    return Err(EPERM);
                }
                tun.security().may_open(rtnl)?;
                tun.attach(
                    rtnl,
                    &dev,
                    this.into(),
                    flags & IFF_NOFILTER != 0,
                    flags & (IFF_NAPI | IFF_NAPI_FRAGS),
                )?;
                this.dev.set(rtnl, dev.clone());
                if tun.flags() & IFF_MULTI_QUEUE != 0
                    && tun.numqueues().saturating_add(tun.numdisabled()) > 1
                {
                    dev.state_change(rtnl);
                    return Ok(dev);
                }
                tun.set_flags(rtnl, (tun.flags() & !TUN_FEATURES) | (flags & TUN_FEATURES));
                dev.state_change(rtnl);
                dev
            }
            None => {
                if !this.net.ns_capable(bindings::CAP_NET_ADMIN) {
                    return Err(EPERM);
                }
                TunSecurity::may_create(rtnl)?;
                let dev = rtun_netdev::create(rtnl, this.into(), name, flags)?;
                this.dev.set(rtnl, dev.clone());
                dev
            }
        };
        dev.set_carrier(flags & IFF_NO_CARRIER == 0);
        // Persistent devices must not stay stuck in xoff.
        if dev.is_running() {
            dev.wake_all_queues();
        }
        Ok(dev)
    }

    /// `tun_set_queue`: `IFF_ATTACH_QUEUE` re-enables a queue this file
    /// detached; `IFF_DETACH_QUEUE` disables an attached queue of a
    /// multi-queue device.
    fn set_queue(this: ArcBorrow<'_, Self>, ifr: &IfReq) -> Result<isize> {
        let rtnl = &Rtnl::lock();
        let flags = ifr.flags();
        let dev = this.dev.get_rtnl(rtnl).ok_or(EINVAL)?;
        let tun = dev.priv_();
        if flags & IFF_ATTACH_QUEUE != 0 {
            if !this.is_detached(rtnl) {
                return Err(EINVAL);
            }
            tun.security().may_attach_queue(rtnl)?;
            tun.attach(
                rtnl,
                &dev,
                this.into(),
                false,
                tun.flags() & (IFF_NAPI | IFF_NAPI_FRAGS),
            )?;
        } else if flags & IFF_DETACH_QUEUE != 0 {
            if tun.flags() & IFF_MULTI_QUEUE == 0 || this.is_detached(rtnl) {
                return Err(EINVAL);
            }
            tun.detach(rtnl, &dev, &this);
        } else {
            return Err(EINVAL);
        }
        dev.state_change(rtnl);
        Ok(0)
    }
}

/// `tun_get_addr_len`: the hardware address length of a link type.
fn link_addr_len(type_: u16) -> u8 {
    use bindings::{
        ARPHRD_6LOWPAN, ARPHRD_ETHER, ARPHRD_FDDI, ARPHRD_HIPPI, ARPHRD_IEEE802, ARPHRD_IEEE802154,
        ARPHRD_IEEE802154_MONITOR, ARPHRD_IP6GRE, ARPHRD_IPGRE, ARPHRD_LOCALTLK, ARPHRD_NETROM,
        ARPHRD_ROSE, ARPHRD_SIT, ARPHRD_TUNNEL, ARPHRD_TUNNEL6,
    };
    match u32::from(type_) {
        ARPHRD_IP6GRE | ARPHRD_TUNNEL6 => 16,
        ARPHRD_IPGRE | ARPHRD_TUNNEL | ARPHRD_SIT => 4,
        ARPHRD_ETHER => 6,
        ARPHRD_IEEE802154 | ARPHRD_IEEE802154_MONITOR => 8,
        // EUI64_ADDR_LEN
        ARPHRD_6LOWPAN => 8,
        ARPHRD_FDDI | ARPHRD_HIPPI | ARPHRD_IEEE802 => 6,
        // ROSE_ADDR_LEN
        ARPHRD_ROSE => 5,
        // AX25_ADDR_LEN
        ARPHRD_NETROM => 7,
        // LTALK_ALEN
        ARPHRD_LOCALTLK => 1,
        // ARPHRD_PHONET_PIPE, ARPHRD_PPP, ARPHRD_NONE and the rest.
        _ => 0,
    }
}
