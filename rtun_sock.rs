// SPDX-License-Identifier: GPL-2.0

//! A queue as vhost-net sees it: tun.c's `tun_socket_ops` (`tun_sendmsg`
//! with its batches of XDP buffers, `tun_recvmsg`, `tun_peek_len`) and the
//! exported `tun_get_socket`, `tun_get_tx_ring` and `tun_ptr_free`, which
//! `vhost_net.ko` links against: loaded instead of `tun.ko`, rtun serves it.
//!
//! vhost consumes a queue's packets straight from its ring and hands each
//! to `recvmsg`; it sends a guest's packets as batches of page-fragment
//! buffers that become skbs without a copy.
//!
//! Lock order: as `rtun_chr.rs`. vhost calls in holding its virtqueue mutex,
//! which ranks before all of rtun's locks.

use kernel::{bindings, prelude::*, sync::ArcBorrow};

use crate::{
    kapi::{
        error::ebadfd,
        iov::IovIter,
        ptr_ring::PtrRing,
        rcu,
        skbuff::BhOff,
        tun_socket::{self, RecvMsg, RingEntry, Sent, Socket, SocketOps, Ubuf, XdpBuff},
        xdp::{NetCtx, XdpPacket, XdpRxq},
    },
    rtun_chr::{TunChr, TunFile},
    rtun_netdev::{
        xdp::{self, Acted},
        TunDev,
    },
    rtun_uapi::{ETH_HLEN, VLAN_HLEN, VNET_GSO_TYPE},
};

tun_socket::export_vhost_api!(TunChr);

/// The `recvmsg` flags tun.c accepts.
const RECV_FLAGS: u32 = bindings::MSG_DONTWAIT | bindings::MSG_TRUNC | bindings::MSG_ERRQUEUE;

#[vtable]
impl SocketOps for TunChr {
    /// The device a batch goes to, held across it (`tun_get`).
    type Batch = TunDev;

    /// Bound to a device, including a queue disabled with `TUNSETQUEUE`.
    fn attached(this: &ArcBorrow<'_, TunFile>) -> bool {
        this.device().is_some()
    }

    fn socket<'a>(this: &'a ArcBorrow<'_, TunFile>) -> &'a Socket {
        this.socket()
    }

    fn tx_ring<'a>(this: &'a ArcBorrow<'_, TunFile>) -> &'a PtrRing<RingEntry> {
        this.tx_ring()
    }

    fn begin_batch(this: &ArcBorrow<'_, TunFile>) -> Result<TunDev> {
        this.device().ok_or_else(ebadfd)
    }

    fn send_xdp(
        this: &ArcBorrow<'_, TunFile>,
        dev: &TunDev,
        buf: XdpBuff,
        ctx: &NetCtx<'_>,
        bh: &BhOff,
    ) -> Sent {
        // Like tun.c, a batch reports no per-buffer errors: vhost has
        // already returned the buffers to the guest.
        xdp_one(this, dev, buf, ctx, bh).unwrap_or(Sent::Done)
    }

    fn send(
        this: ArcBorrow<'_, TunFile>,
        from: &mut IovIter,
        noblock: bool,
        more: bool,
        ubuf: Option<Ubuf>,
    ) -> Result<usize> {
        this.write_packet(from, noblock, more, ubuf)
    }

    /// `tun_recvmsg`. A packet vhost took from the ring is freed on every
    /// error path, as tun.c's `tun_ptr_free` calls do. Inlined into the C
    /// entry point: vhost-net calls it for every packet.
    #[inline]
    fn recv(this: ArcBorrow<'_, TunFile>, mut msg: RecvMsg<'_>) -> Result<usize> {
        let pending = msg.pending.take();
        // tun.c checks for a device before the flags; `read_packet` checks
        // for it itself, so only the rare paths before it look it up here
        // (not a second device reference per packet on vhost's path).
        if msg.flags & (!RECV_FLAGS | bindings::MSG_ERRQUEUE) != 0 {
            if this.device().is_none() {
                return Err(ebadfd());
            }
            if msg.flags & !RECV_FLAGS != 0 {
                return Err(EINVAL);
            }
            return msg.recv_errqueue();
        }
        let nonblock = msg.flags & bindings::MSG_DONTWAIT != 0;
        let n = this.read_packet(msg.iter(), nonblock, pending)?;
        if n > msg.len {
            msg.set_truncated();
            if msg.flags & bindings::MSG_TRUNC == 0 {
                return Ok(msg.len);
            }
        }
        Ok(n)
    }

    /// `tun_peek_len`: what a reader of the next packet gets, VLAN tag
    /// included (`__skb_array_len_with_tag`).
    fn peek_len(this: ArcBorrow<'_, TunFile>) -> usize {
        if this.device().is_none() {
            return 0;
        }
        this.tx_ring()
            .peek_with(|entry| match entry {
                // CAST: An skb length is at most 64 KiB plus headers.
                RingEntry::Skb(skb) => {
                    skb.len() as usize
                        + if skb.vlan_tag().is_some() {
                            VLAN_HLEN
                        } else {
                            0
                        }
                }
                RingEntry::Frame(frame) => frame.data().len(),
            })
            .unwrap_or(0)
    }
}

/// `tun_xdp_one`: one buffer of a guest's batch, through the device's XDP
/// program if it has one (a GSO packet meets it in the generic hook, once
/// an skb), into the stack or queued for NAPI. Dropped buffers free their
/// page.
fn xdp_one(
    tfile: &TunFile,
    dev: &TunDev,
    buf: XdpBuff,
    ctx: &NetCtx<'_>,
    bh: &BhOff,
) -> Result<Sent> {
    let tun = dev.priv_();
    let len = buf.len();
    if len < ETH_HLEN {
        return Err(EINVAL);
    }
    let gso = buf.vnet_hdr();
    let guard = rcu::read_lock();
    // Each arm makes its own packet: one that meets no program is never
    // built in memory for a program to see.
    let (mut skb, generic) = match tun.xdp_prog(&guard) {
        Some(prog) if gso[VNET_GSO_TYPE] == 0 => {
            let rxq = XdpRxq::new(dev, tfile.rx_queue());
            let mut pkt = XdpPacket::from_vhost(buf);
            let verdict = pkt.run(prog, &rxq, ctx);
            let passed = match xdp::act(dev, prog, pkt, verdict, ctx, &guard, bh) {
                Acted::Pass(passed) => passed.into_skb()?,
                Acted::Redirected => return Ok(Sent::Redirected),
                Acted::Done => return Ok(Sent::Done),
            };
            (passed, false)
        }
        prog => (XdpPacket::from_vhost(buf).into_skb()?, prog.is_some()),
    };
    if let Err(e) = skb.apply_vnet_hdr(&gso, tun.little_endian()) {
        tun.frame_error();
        return Err(e);
    }
    // tun.c parses an Ethernet header whatever the device type: vhost
    // drives tap devices.
    let skb = skb.eth_type_trans(dev)?;
    let Some(skb) = tfile.prepare_rx(tun, skb, generic, bh) else {
        return Ok(Sent::Done);
    };
    // CAST: Checked against ETH_HLEN; a buffer fits a page.
    Ok(match tfile.deliver(tun, skb, len as u32, None, None, bh)? {
        Some(_) => Sent::Queued,
        None => Sent::Done,
    })
}
