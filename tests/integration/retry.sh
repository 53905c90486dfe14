#!/usr/bin/env bash
# A retried batch (same producer_seq) is acked with its original offset and
# stored once, also after a broker restart. Only the next seq may be stored:
# a gap or a stale seq that was never stored is a conflict, so a pipelined
# batch can never overtake one that failed.
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

out=$(gb_probe tax publish --dataset tax.invoices --seq 1 --records 5 --twice) || fail "probe: $out"
[ "$out" = "ack offset=0 count=5 duplicate=0
ack offset=0 count=5 duplicate=1" ] || fail "retry not idempotent: $out"

out=$(gb_probe tax publish --dataset tax.invoices --seq 3) || fail "probe: $out"
echo "$out" | grep -q "^error status=409 " || fail "a seq gap was not refused: $out"
out=$(gb_probe tax publish --dataset tax.invoices --seq 2 --records 2) || fail "probe: $out"
[ "$out" = "ack offset=5 count=2 duplicate=0" ] || fail "next batch not at offset 5: $out"

# The same retry after a broker restart is still recognised.
gb_kill_broker
gb_start_broker
out=$(gb_probe tax publish --dataset tax.invoices --seq 1 --records 5) || fail "probe: $out"
[ "$out" = "ack offset=0 count=5 duplicate=1" ] || fail "retry after restart: $out"
out=$(gb_probe tax publish --dataset tax.invoices --seq 3) || fail "probe: $out"
[ "$out" = "ack offset=7 count=1 duplicate=0" ] || fail "log grew on retries: $out"
echo "PASS retry"
