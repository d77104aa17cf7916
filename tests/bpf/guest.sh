#!/usr/bin/env bash
# In a guest with the driver under test loaded (tests/run.sh): the kernel's
# BPF selftests that open tun devices, run as upstream runs test_progs, from
# the directory of its BPF objects (lwt_* load theirs by file name).
#
#   tests/bpf/guest.sh DIR      DIR from tests/bpf/build.sh
#
# By default it runs flow_dissector (a TAP with IFF_NAPI|IFF_NAPI_FRAGS,
# 5 s) and lwt_reroute (routes into a TUN read back from its fd, 40 s),
# which fit CI's 90 minutes. Each `ip` command costs about 1.5 s in the
# debug kernel under TCG: lwt_redirect (TUN and TAP, 150 s) and
# tc_redirect's tc_redirect_peer_l3 (180 s) run with
# RTUN_BPF_TESTS=flow_dissector,lwt_redirect,lwt_reroute,tc_redirect/tc_redirect_peer_l3,
# and RTUN_BPF_TESTS=flow_dissector,tc_redirect,lwt_redirect,lwt_reroute
# runs the four tests whole (tc_redirect's other subtests use veth and
# netkit only and would not tell the drivers apart).
#
# Prints test_progs' own lines, then `bpf: N passed, M failed`, counting
# subtests: each `#T/S name:OK` passes, as does `#T name:OK` of a test
# without subtests; each `:FAIL` line, of a test or a subtest, fails; a run
# that exits non-zero with no FAIL line fails once.
set -uo pipefail
dir=${1:?usage: tests/bpf/guest.sh DIR}
cd "$dir" || exit 1
tests=${RTUN_BPF_TESTS:-flow_dissector,lwt_reroute}
out=$(./test_progs -t "$tests" 2>&1)
rc=$?
echo "$out"
# A test without subtests passes as one.
pass=$(awk '$1 ~ /^#[0-9]+\/[0-9]+$/ { sub(/\/.*/, "", $1); has[$1] = 1; if ($2 ~ /:OK$/) n++ }
	$1 ~ /^#[0-9]+$/ && $2 ~ /:OK$/ { top[$1] = 1 }
	END { for (t in top) if (!(t in has)) n++; print n + 0 }' <<<"$out")
fail=$(grep -cE '^#[0-9]+(/[0-9]+)? +[^ ]+:FAIL$' <<<"$out")
[ "$rc" -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
[ "$pass" -gt 0 ] || [ "$fail" -gt 0 ] || fail=1
echo "bpf: $pass passed, $fail failed"
