// SPDX-License-Identifier: GPL-2.0

//! The thin layer of safe abstractions over the C objects rtun uses.
//!
//! Every `unsafe` block in rtun lives below this module; the driver logic in
//! `rtun_*.rs` is safe Rust. 6.12's `kernel` crate has no file, misc device,
//! net_device, rtnetlink or ptr_ring abstractions, so these are modelled on
//! the ones later kernels merged (`miscdevice.rs`, `fs/file.rs`) and on
//! 6.12's own `net/phy.rs`: `#[repr(transparent)]` wrappers around
//! [`Opaque`](kernel::types::Opaque) built with an unsafe `from_raw`, and C
//! vtables generated from a Rust trait.
//!
//! Most modules wrap one kernel object for any user; the two named
//! `tun_*` are tun's own: the queue socket vhost-net drives and the
//! `security_tun_dev_*` hooks.

pub(crate) mod bpf;
pub(crate) mod cred;
pub(crate) mod current;
pub(crate) mod error;
pub(crate) mod ether;
pub(crate) mod ethtool;
pub(crate) mod fasync;
pub(crate) mod file;
pub(crate) mod iov;
pub(crate) mod miscdevice;
pub(crate) mod module;
pub(crate) mod net;
pub(crate) mod netdev;
pub(crate) mod ptr_ring;
pub(crate) mod rcu;
pub(crate) mod skbuff;
pub(crate) mod spinlock;
pub(crate) mod sysfs;
pub(crate) mod time;
pub(crate) mod tun_security;
pub(crate) mod tun_socket;
pub(crate) mod user;
pub(crate) mod wait;
pub(crate) mod xdp;
pub(crate) mod zeroed;
