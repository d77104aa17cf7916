// SPDX-License-Identifier: GPL-2.0

//! Two network namespaces whose only link is two TAP devices joined by a
//! userspace forwarder copying frames between them: TCP from one namespace
//! to the other crosses both devices' read and write paths each way. Used
//! by `traffic.rs` and by the benchmark's TCP cases.

use std::{
    fs::File,
    io::{Read, Write},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
};

use crate::sys::{enter_netns, ip_script};

/// The largest frame a TAP hands out: a 64 KiB GSO super-packet, its
/// Ethernet header and a virtio-net header.
const FRAME_MAX: usize = 65536 + 14 + 12;

/// Namespaces `ns[0]` and `ns[1]`, each holding one of two TAP devices,
/// addressed `NET.1/24` and `NET.2/24`; deleted on drop.
pub struct Namespaces([&'static str; 2]);

impl Namespaces {
    /// Moves the devices `devs` into fresh namespaces `ns`, addresses them
    /// and brings them and each namespace's loopback up.
    pub fn new(devs: [&str; 2], ns: [&'static str; 2], net: &str) -> Result<Self, String> {
        for n in ns {
            let _ = ip_script(None, &format!("netns del {n}\n"));
        }
        ip_script(None, &format!("netns add {}\nnetns add {}\n", ns[0], ns[1]))?;
        let this = Self(ns);
        ip_script(
            None,
            &format!(
                "link set {} netns {}\nlink set {} netns {}\n",
                devs[0], ns[0], devs[1], ns[1]
            ),
        )?;
        for (i, (dev, n)) in devs.iter().zip(ns).enumerate() {
            ip_script(
                Some(n),
                &format!(
                    "addr add {net}.{}/24 dev {dev}\nlink set {dev} up\nlink set lo up\n",
                    i + 1
                ),
            )?;
        }
        Ok(this)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = ip_script(
            None,
            &format!("netns del {}\nnetns del {}\n", self.0[0], self.0[1]),
        );
    }
}

/// A stream of bytes both ends can check: position-dependent, not
/// periodic at any small stride.
pub fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Copies frames between two TAP files, as they come, until `stop`; the
/// number of frames copied.
pub fn forward(a: File, b: File, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut fds = [a.as_raw_fd(), b.as_raw_fd()].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        let mut buf = vec![0u8; FRAME_MAX];
        let mut frames = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: Two valid pollfds.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, 50) } <= 0 {
                continue;
            }
            for (i, (from, to)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
                if fds[i].revents & libc::POLLIN != 0 {
                    if let Ok(n) = (&*from).read(&mut buf) {
                        if (&*to).write(&buf[..n]).is_ok() {
                            frames += 1;
                        }
                    }
                }
            }
        }
        frames
    })
}

/// Runs the calling thread in the named namespace (`ip netns`).
pub fn enter(ns: &str) -> Result<(), String> {
    enter_netns(std::path::Path::new(&format!("/var/run/netns/{ns}")))
}
