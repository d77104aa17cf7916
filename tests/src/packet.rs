// SPDX-License-Identifier: GPL-2.0

//! IPv4 ICMP packets for the tests and the demo's responder.

/// The Internet checksum of `data`.
pub fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request.
pub fn echo_request(src: [u8; 4], dst: [u8; 4], seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// Whether `pkt` is the echo reply to `echo_request(src, dst, seq, ..)`
/// with a valid checksum.
pub fn is_echo_reply(pkt: &[u8], src: [u8; 4], dst: [u8; 4], seq: u16) -> bool {
    pkt.len() >= 28
        && pkt[0] >> 4 == 4
        && pkt[9] == 1
        && pkt[12..16] == dst
        && pkt[16..20] == src
        && pkt[20] == 0
        && pkt[26..28] == seq.to_be_bytes()
        && csum(&pkt[20..]) == 0
        && csum(&pkt[..20]) == 0
}

/// The echo reply to an IPv4 ICMP echo request, or `None` for anything
/// else: what a userspace responder behind a TUN device sends back.
pub fn echo_reply_for(req: &[u8]) -> Option<Vec<u8>> {
    if req.len() < 28 || req[0] != 0x45 || req[9] != 1 || req[20] != 8 {
        return None;
    }
    let mut rep = req.to_vec();
    rep[12..16].copy_from_slice(&req[16..20]);
    rep[16..20].copy_from_slice(&req[12..16]);
    rep[20] = 0;
    rep[22..24].copy_from_slice(&[0, 0]);
    let c = csum(&rep[20..]);
    rep[22..24].copy_from_slice(&c.to_be_bytes());
    rep[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&rep[..20]);
    rep[10..12].copy_from_slice(&c.to_be_bytes());
    Some(rep)
}

/// An ICMPv6 echo request from `src` to `dst` (IPv6 header included).
pub fn echo6_request(src: [u8; 16], dst: [u8; 16], seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![128, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = icmp6_csum(src, dst, &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[58, 64]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&icmp);
    ip
}

/// The ICMPv6 checksum over the pseudo-header and `icmp`.
pub fn icmp6_csum(src: [u8; 16], dst: [u8; 16], icmp: &[u8]) -> u16 {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(icmp);
    csum(&pseudo)
}

/// Whether `pkt` is the ICMPv6 echo reply to `echo6_request(src, dst,
/// seq, ..)`, with a valid checksum.
pub fn is_echo6_reply(pkt: &[u8], src: [u8; 16], dst: [u8; 16], seq: u16) -> bool {
    pkt.len() >= 48
        && pkt[0] >> 4 == 6
        && pkt[6] == 58
        && pkt[8..24] == dst
        && pkt[24..40] == src
        && pkt[40] == 129
        && pkt[46..48] == seq.to_be_bytes()
        && icmp6_csum(dst, src, &pkt[40..]) == 0
}
