#!/usr/bin/env bash
# A grant removed while the broker is down still revokes: at start the
# broker finds health holding a wrap of the current epoch it may no longer
# hold, retires the epoch, and the owner's next epoch is wrapped for the
# remaining readers only.
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

out=$(gb_probe tax publish --dataset tax.invoices --seq 1) || fail "probe: $out"
[ "$out" = "ack offset=0 count=1 duplicate=0" ] || fail "first publish: $out"
grep -q "stored 2 key wrap(s) of tax.invoices epoch 1 (new epoch)" "$T/broker.log" ||
	fail "epoch 1 was not wrapped for tax and health"

gb_kill_broker
sed -i '/dataset: tax.invoices, to: health/d' "$T/govbus.yaml"
gb_start_broker
for _ in $(seq 1 50); do
	grep -q "tax.invoices: health may no longer hold its key; retiring its current key epoch" \
		"$T/broker.log" && break
	sleep 0.1
done
grep -q "tax.invoices: health may no longer hold its key; retiring its current key epoch" \
	"$T/broker.log" || fail "a revocation made while the broker was down was not enforced"

out=$(gb_probe tax publish --dataset tax.invoices --seq 2 --epoch 1) || fail "probe: $out"
echo "$out" | grep -q "^error status=412 " || fail "epoch 1 still accepted after the revocation: $out"
out=$(gb_probe tax publish --dataset tax.invoices --seq 2) || fail "probe: $out"
[ "$out" = "ack offset=1 count=1 duplicate=0" ] || fail "publish under the new epoch: $out"
grep -q "stored 1 key wrap(s) of tax.invoices epoch 2 (new epoch)" "$T/broker.log" ||
	fail "epoch 2 was wrapped for a revoked department"
echo "PASS revoke-restart: revocation enforced at start; epoch 2 wrapped for tax only"
