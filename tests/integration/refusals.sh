#!/usr/bin/env bash
# Every refusal of the core bus: unknown key, ungranted subscribe, publish
# to another department's dataset, closed dataset, forged signature, a
# batch naming another producer. The broker stays up throughout.
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

# An unknown key is refused during the CURVE handshake (ZAP).
out=$(echo x | timeout 30 "$AGENT" --config "$T/stranger.yaml" publish --dataset tax.invoices 2>&1) &&
	fail "stranger's publish succeeded"
grep -q "refused connection: key .* is not registered" "$T/broker.log" ||
	fail "broker did not log the refused key"
echo "$out" | grep -qi "did not answer" || fail "stranger's error is unclear: $out"

expect_fail 403 "ungranted subscribe" \
	gb_agent social subscribe --dataset tax.invoices --from earliest --count 1
expect_fail 403 "subscribe to a closed dataset" \
	gb_agent health subscribe --dataset tax.closed --from earliest --count 1
expect_fail 404 "subscribe to an unknown dataset" \
	gb_agent health subscribe --dataset tax.nothing --from earliest --count 1
expect_fail 403 "publish to a dataset health does not own" \
	sh -c "echo x | \"$AGENT\" --config \"$T/health.yaml\" publish --dataset tax.invoices"

out=$(gb_probe tax publish --dataset tax.invoices --seq 1 --forge) || fail "probe: $out"
echo "$out" | grep -q "^error status=401 " || fail "forged signature not refused with 401: $out"
out=$(gb_probe health publish --dataset tax.invoices --seq 1 --producer tax) || fail "probe: $out"
echo "$out" | grep -q "^error status=403 " || fail "batch naming another producer not refused: $out"

# Nothing refused was stored: the first real batch gets offset 0.
out=$(gb_probe tax publish --dataset tax.invoices --seq 1) || fail "probe: $out"
[ "$out" = "ack offset=0 count=1 duplicate=0" ] || fail "refusals disturbed the log: $out"
kill -0 "$BROKER_PID" || fail "broker died"
echo "PASS refusals"
