// SPDX-License-Identifier: GPL-2.0

//! The per-queue transmit ring: packets the stack sends through the device,
//! and frames XDP queues, wait here for the queue's reader (`read(2)` or
//! vhost-net).
//!
//! tun.c's `tfile->tx_ring`. It starts empty with no slots; attaching to a
//! device sizes it to the device's `tx_queue_len`.

use kernel::prelude::*;

use crate::kapi::{ptr_ring::PtrRing, tun_socket::RingEntry};

/// A queue's ring of packets waiting to be read.
pub(crate) type TxRing = PtrRing<RingEntry>;

/// A ring for a file that is not attached to a device yet.
pub(crate) fn new_unattached() -> impl PinInit<TxRing, Error> {
    TxRing::new(0)
}
