#!/usr/bin/env bash
# Live expiry (DESIGN §8): a grant stops working at its expiry
# instant, also for a subscription already running. The grant of
# tax.invoices to health expires a few seconds after the broker starts (an
# RFC 3339 instant computed now: the loader refuses grants already expired
# at load). health subscribes and receives records; at the expiry its
# subscriber exits non-zero saying "grant expired" (410), a new subscribe
# is refused the same way, the catalog shows the dataset without rights,
# and health may ask for the grant again. No timing is asserted beyond
# "it ended".
. "$(dirname "$0")/lib.sh"
gb_setup
EXPIRES=$(date -u -d '+6 seconds' +%Y-%m-%dT%H:%M:%SZ)
gb_write_config "$T/govbus.yaml" "$EXPIRES"
gb_start_broker

seq 1 20 | sed 's/^/inv-/' | gb_agent tax publish --dataset tax.invoices 2>"$T/pub.err" ||
	fail "publish failed: $(cat "$T/pub.err")"

gb_agent health subscribe --dataset tax.invoices --from earliest \
	>"$T/live.txt" 2>"$T/live.err" &
live=$!
for _ in $(seq 1 600); do
	[ "$(lines "$T/live.txt")" -ge 20 ] && break
	kill -0 $live 2>/dev/null || break
	sleep 0.1
done
[ "$(lines "$T/live.txt")" -ge 20 ] ||
	fail "the subscriber got $(lines "$T/live.txt") of 20 records before the grant expired at $EXPIRES: $(cat "$T/live.err")"

# At the expiry the subscription ends (hang guard: 60 s after it).
for _ in $(seq 1 660); do
	kill -0 $live 2>/dev/null || break
	sleep 0.1
done
if kill -0 $live 2>/dev/null; then
	fail "the subscription outlived its grant (expired at $EXPIRES)"
fi
rc=0
wait $live || rc=$?
[ "$rc" -ne 0 ] || fail "the subscriber exited 0 when its grant expired"
grep -q "(410).*grant expired" "$T/live.err" ||
	fail "the subscriber did not say \"grant expired\" (410): $(cat "$T/live.err")"
[ "$(date -u +%s)" -ge "$(date -u -d "$EXPIRES" +%s)" ] ||
	fail "the subscription ended before its grant expired"

# New subscriptions are refused the same way.
expect_fail 410 "subscribe after expiry" \
	gb_agent health subscribe --dataset tax.invoices --from latest --count 1
out=$(gb_agent health subscribe --dataset tax.invoices --from latest --count 1 2>&1 || true)
echo "$out" | grep -q "grant expired" || fail "refusal says: $out"

# The catalog shows no rights, and the expired grant may be asked for again.
gb_agent health catalog | grep -F '{"id":"tax.invoices",' | grep -qF '"rights":[]' ||
	fail "catalog after expiry: $(gb_agent health catalog)"
gb_agent health request --dataset tax.invoices --purpose "benefit checks" \
	--legal-basis "Act 12 s.4" >"$T/renew.json" 2>/dev/null ||
	fail "a renewal request was refused"
grep -qF '"status":"pending"' "$T/renew.json" || fail "renewal: $(cat "$T/renew.json")"
# The expired grant does not approve it (the broker decides after storing).
sleep 1
gb_agent health requests | grep -qF '"status":"pending"' ||
	fail "the renewal was decided by the expired grant: $(gb_agent health requests)"
grep -q "ended subscription of health to tax.invoices: grant expired" "$T/broker.log" ||
	fail "the broker did not log the end"
echo "expiry: live subscription ended with 410 at $EXPIRES, new subscribe refused"
