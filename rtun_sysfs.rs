// SPDX-License-Identifier: GPL-2.0

//! The sysfs attributes of tun and tap devices, as `tun_attr_group`:
//! `tun_flags`, `owner` and `group`, and rtun's opt-in `rtun_lossless`.

use core::fmt::Write;

use kernel::{c_str, prelude::*};

use super::TunStruct;
use crate::kapi::{
    cred::{self, INVALID_ID},
    sysfs::{AttrGroup, AttrList, RoAttr},
};

/// `/sys/class/net/<dev>/tun_flags`: what `TUNGETIFF` reports, and what
/// `ip tuntap show` reads.
static TUN_FLAGS_ATTR: RoAttr = RoAttr::new(c_str!("tun_flags"), |dev, out| {
    let flags = TunStruct::of(dev).map_or(0, TunStruct::iff_flags);
    writeln!(out, "0x{flags:x}")
});

/// `owner`: the uid set with `TUNSETOWNER` as the reader sees it, or -1.
static OWNER_ATTR: RoAttr = RoAttr::new(c_str!("owner"), |dev, out| {
    match TunStruct::of(dev).map(TunStruct::owner) {
        Some(id) if id != INVALID_ID => writeln!(out, "{}", cred::uid_for_caller(id)),
        _ => writeln!(out, "-1"),
    }
});

/// `group`: as `owner`, for `TUNSETGROUP`.
static GROUP_ATTR: RoAttr = RoAttr::new(c_str!("group"), |dev, out| {
    match TunStruct::of(dev).map(TunStruct::group) {
        Some(id) if id != INVALID_ID => writeln!(out, "{}", cred::gid_for_caller(id)),
        _ => writeln!(out, "-1"),
    }
});

/// `rtun_lossless` (rtun only): 1 turns on lossless mode, 0 (the default)
/// keeps tun.c's drop-when-full behaviour.
static LOSSLESS_ATTR: RoAttr = RoAttr::read_write(
    c_str!("rtun_lossless"),
    |dev, out| {
        let on = TunStruct::of(dev).is_some_and(TunStruct::lossless);
        writeln!(out, "{}", u8::from(on))
    },
    |dev, data| {
        let tun = TunStruct::of(dev).ok_or(EINVAL)?;
        let on = match data.strip_suffix(b"\n").unwrap_or(data) {
            b"1" => true,
            b"0" => false,
            _ => return Err(EINVAL),
        };
        tun.set_lossless(dev, on);
        Ok(())
    },
);

static TUN_ATTRS: AttrList<4> =
    AttrList::new([&TUN_FLAGS_ATTR, &OWNER_ATTR, &GROUP_ATTR, &LOSSLESS_ATTR]);

/// tun.c's `tun_attr_group`.
pub(super) static TUN_ATTR_GROUP: AttrGroup = AttrGroup::new(&TUN_ATTRS);
