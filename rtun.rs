// SPDX-License-Identifier: GPL-2.0

//! rtun: the universal TUN/TAP device driver (`drivers/net/tun.c`) in Rust.
//!
//! A drop-in replacement for `tun.ko`: the same `/dev/net/tun` misc device,
//! link kind, ioctls and wire formats.

use kernel::{c_str, prelude::*};

// Every `unsafe` block is in `kapi`; the compiler holds the driver logic
// to that.
mod kapi;
#[deny(unsafe_code)]
mod rtun_chr;
#[deny(unsafe_code)]
mod rtun_flows;
#[deny(unsafe_code)]
mod rtun_netdev;
#[deny(unsafe_code)]
mod rtun_ring;
#[deny(unsafe_code)]
mod rtun_sock;
#[deny(unsafe_code)]
mod rtun_txfilter;
#[deny(unsafe_code)]
mod rtun_uapi;
#[deny(unsafe_code)]
mod rtun_vnet;

use kapi::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    net::LinkRegistration,
};
use rtun_chr::TunChr;
use rtun_netdev::TunLink;

module! {
    type: Rtun,
    name: "rtun",
    author: "rtun developers",
    description: "Universal TUN/TAP device driver",
    license: "GPL",
    // tun.ko's aliases: the misc minor and the devtmpfs node, so that
    // opening /dev/net/tun loads whichever of the two is installed.
    alias: ["char-major-10-200", "devname:net/tun"],
}

/// The module: what `tun_init` registers.
struct Rtun {
    // Fields drop in declaration order, which is `tun_cleanup`'s: the misc
    // device goes first so no new file can reach a vanishing link type.
    _misc: Pin<KBox<MiscDeviceRegistration<TunChr>>>,
    _link: LinkRegistration<TunLink>,
}

impl kernel::Module for Rtun {
    fn init(module: &'static ThisModule) -> Result<Self> {
        pr_info!("Universal TUN/TAP device driver, 1.6\n");

        let link = LinkRegistration::register(&rtun_netdev::TUN_LINK)
            .inspect_err(|_| pr_err!("Can't register link_ops\n"))?;
        let misc = KBox::pin_init(
            MiscDeviceRegistration::<TunChr>::register(
                MiscDeviceOptions {
                    name: c_str!("tun"),
                    // CAST: TUN_MINOR is 200.
                    minor: kernel::bindings::TUN_MINOR as i32,
                    nodename: Some(c_str!("net/tun")),
                },
                module,
            ),
            GFP_KERNEL,
        )
        .inspect_err(|_| pr_err!("Can't register misc device 200\n"))?;

        Ok(Rtun {
            _misc: misc,
            _link: link,
        })
    }
}
