/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Forced into every compilation of tools/virtio's vhost_net_test (see
 * tests/run.sh). Debian's 6.12.y carries stable backports in
 * drivers/virtio/virtio_ring.c (MODULE_DESCRIPTION, data_race) that
 * tools/virtio's stand-in kernel headers never caught up with; these
 * stand-ins fill the gap so that the test and the ring code build
 * unmodified.
 */
#define MODULE_DESCRIPTION(desc)
#ifndef data_race
#define data_race(expr) (expr)
#endif
