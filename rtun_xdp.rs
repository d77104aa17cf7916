// SPDX-License-Identifier: GPL-2.0

//! XDP on tap devices: installing a program (`tun_xdp_set`), carrying out
//! its verdicts on what the queues write (`tun_xdp_act`, `tun_xdp_tx`), and
//! queueing frames for readers (`tun_xdp_xmit`), for the device's own
//! `XDP_TX` and for other devices that `XDP_REDIRECT` into it. Where the
//! program runs is the writers' business: `rtun_chr.rs` (`tun_build_skb`,
//! `do_xdp_generic`) and `rtun_sock.rs` (`tun_xdp_one`).
//!
//! tun devices have neither `ndo_bpf` nor `ndo_xdp_xmit`, as in tun.c: a
//! program attached to one runs in the core's generic hook.

use kernel::prelude::*;

use super::{TunDev, TunStruct};
use crate::kapi::{
    error::eoverflow,
    net::Rtnl,
    netdev::NetDevice,
    rcu,
    skbuff::BhOff,
    xdp::{self, NetCtx, Verdict, XdpPacket, XdpProg, XdpProgRef, XmitFrames},
};
use crate::rtun_chr::TunFile;

impl TunStruct {
    /// `tun_xdp_set`: installs `prog` (or none), and tells every queue's
    /// socket, enabled or not, so vhost-net builds buffers with XDP
    /// headroom.
    pub(crate) fn xdp_set(&self, rtnl: &Rtnl, prog: Option<XdpProg>) {
        let on = prog.is_some();
        self.xdp_prog.replace(rtnl, prog);
        for list in [&self.queues, &self.disabled] {
            list.for_each(rtnl, |q| q.socket().set_xdp(on));
        }
    }

    /// Whether a program is installed (`tun_attach` marks new queues).
    pub(crate) fn has_xdp(&self, rtnl: &Rtnl) -> bool {
        self.xdp_prog.is_set(rtnl)
    }

    /// The program, for the read section.
    pub(crate) fn xdp_prog<'a>(&'a self, guard: &'a rcu::Guard) -> Option<XdpProgRef<'a>> {
        self.xdp_prog.get(guard)
    }

    /// The queue that frames queued on this CPU go to: the CPU number
    /// modulo the attached queues; `ENXIO` if there are none.
    fn xdp_queue<'a>(&'a self, guard: &'a rcu::Guard, bh: &BhOff) -> Result<&'a TunFile> {
        loop {
            let n = self.numqueues();
            if n == 0 {
                return Err(ENXIO);
            }
            // A queue detached since `n` was read: look again
            // (`resample`).
            if let Some(q) = self.queue(bh.cpu() % n, guard) {
                return Ok(q);
            }
        }
    }
}

/// `tun_xdp_xmit`: frames into this CPU's queue until its ring is full
/// (each ring-full stop counted as a transmit drop); the reader is woken
/// on `flush`, whether any frame went in or not.
pub(crate) fn xmit(
    dev: &NetDevice,
    tun: &TunStruct,
    frames: XmitFrames<'_>,
    flush: bool,
    guard: &rcu::Guard,
    bh: &BhOff,
) -> Result<u32> {
    let q = tun.xdp_queue(guard, bh)?;
    let ring = q.tx_ring();
    let kept =
        frames.queue_while(|frame| ring.produce_frame(frame).inspect_err(|_| dev.tx_dropped()));
    if flush {
        q.packet_ready();
    }
    Ok(kept)
}

/// `tun_xdp_tx`: the packet back out of the device as a frame in this
/// CPU's queue. A packet without room for the frame, or a device without
/// queues, is an error; a full ring is not (the frame is dropped and
/// counted by `xmit`'s rule), as in tun.c.
fn xdp_tx(
    dev: &NetDevice,
    tun: &TunStruct,
    pkt: XdpPacket<'_>,
    guard: &rcu::Guard,
    bh: &BhOff,
) -> Result {
    let frame = pkt.into_frame().ok_or_else(eoverflow)?;
    let q = tun.xdp_queue(guard, bh)?;
    if q.tx_ring().produce_frame(frame).is_err() {
        dev.tx_dropped();
    }
    q.packet_ready();
    Ok(())
}

/// What became of a packet the program ran on.
pub(crate) enum Acted<'r> {
    /// `XDP_PASS`: on to the stack.
    Pass(XdpPacket<'r>),
    /// Redirected: the caller flushes the context before leaving it.
    Redirected,
    /// Transmitted, dropped or failed: nothing left to do.
    Done,
}

/// `tun_xdp_act`: carries out `verdict`, counting a redirected or
/// transmitted packet as received and anything else that is not passed
/// as a receive drop.
pub(crate) fn act<'r>(
    dev: &TunDev,
    prog: XdpProgRef<'_>,
    pkt: XdpPacket<'r>,
    verdict: Verdict,
    ctx: &NetCtx<'_>,
    guard: &rcu::Guard,
    bh: &BhOff,
) -> Acted<'r> {
    let len = pkt.len();
    match verdict {
        Verdict::Pass => return Acted::Pass(pkt),
        Verdict::Redirect => {
            if pkt.redirect(dev, prog, ctx).is_ok() {
                dev.rx_add(len, bh);
                return Acted::Redirected;
            }
            dev.rx_dropped();
        }
        Verdict::Tx => {
            if xdp_tx(dev, dev.priv_(), pkt, guard, bh).is_ok() {
                dev.rx_add(len, bh);
            } else {
                dev.rx_dropped();
            }
        }
        Verdict::Invalid(_) | Verdict::Aborted | Verdict::Drop => {
            if let Verdict::Invalid(_) = verdict {
                xdp::warn_invalid_action(dev, prog, verdict);
            }
            if verdict != Verdict::Drop {
                xdp::trace_exception(dev, prog, verdict);
            }
            dev.rx_dropped();
        }
    }
    Acted::Done
}
