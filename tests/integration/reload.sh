#!/usr/bin/env bash
# Config hot reload: SIGHUP and `govbus-broker --config F reload` behave the
# same. A removed grant ends a live subscription at once with 403 and new
# subscribes are refused; a bad config is refused with file:line:col and
# the old policy stays in force (the live subscription goes on).
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker
cp "$T/govbus.yaml" "$T/granted.yaml"
# The same registry without the grant to health.
grep -v "to: health" "$T/granted.yaml" >"$T/revoked.yaml"
# A config that does not load: a misspelt sharing type.
sed 's/sharing: open/sharing: opne/' "$T/granted.yaml" >"$T/bad.yaml"

# wait_for 'CONDITION': poll until the shell condition holds (a hang guard,
# not a performance bound: 60 s).
reloads_logged() { grep -c "reloaded $T/govbus.yaml" "$T/broker.log" || true; }

# reload_with HOW FILE: make FILE the config and have the broker load it,
# by SIGHUP or by the reload command; wait until the broker logged it.
reload_with() {
	local how=$1 file=$2 before
	before=$(reloads_logged)
	cp "$file" "$T/govbus.yaml"
	if [ "$how" = sighup ]; then
		kill -HUP "$BROKER_PID"
	else
		"$BROKER" --config "$T/govbus.yaml" reload >"$T/reload.out" 2>&1 ||
			fail "reload command failed: $(cat "$T/reload.out")"
	fi
	wait_for '[ "$(reloads_logged)" -gt "$before" ]' || fail "$how: no reload logged"
}

publish() { # FROM TO
	seq "$1" "$2" | sed 's/^/rec-/' | gb_agent tax publish --dataset tax.invoices 2>/dev/null ||
		fail "publish $1..$2 failed"
}

published=0
for how in sighup command; do
	# A live subscription from the start.
	publish $((published + 1)) $((published + 50))
	published=$((published + 50))
	gb_agent health subscribe --dataset tax.invoices --from earliest \
		>"$T/live-$how.txt" 2>"$T/live-$how.err" &
	live=$!
	wait_for '[ "$(lines "$T/live-$how.txt")" -ge "$published" ]' ||
		fail "$how: live subscriber did not catch up"

	# A bad config: refused, the old policy stays, the subscription goes on.
	before=$(grep -c "reload refused" "$T/broker.log" || true)
	cp "$T/bad.yaml" "$T/govbus.yaml"
	if [ "$how" = sighup ]; then
		kill -HUP "$BROKER_PID"
		wait_for '[ "$(grep -c "reload refused" "$T/broker.log" || true)" -gt "$before" ]' ||
			fail "sighup: bad config was not refused"
		grep "reload refused" "$T/broker.log" | tail -n 1 |
			grep -Eq "govbus.yaml:[0-9]+:[0-9]+: .*sharing" ||
			fail "sighup: refusal lacks file:line:col: $(grep "reload refused" "$T/broker.log" | tail -n 1)"
	else
		out=$("$BROKER" --config "$T/govbus.yaml" reload 2>&1) &&
			fail "command: a bad config was accepted: $out"
		echo "$out" | grep -Eq "govbus.yaml:[0-9]+:[0-9]+: .*sharing" ||
			fail "command: refusal lacks file:line:col: $out"
	fi
	publish $((published + 1)) $((published + 10))
	published=$((published + 10))
	wait_for '[ "$(lines "$T/live-$how.txt")" -ge "$published" ]' ||
		fail "$how: the live subscription stopped after a refused reload"
	kill -0 $live 2>/dev/null || fail "$how: subscriber ended after a refused reload"

	# Revoke: the live subscription ends at once with 403.
	reload_with "$how" "$T/revoked.yaml"
	rc=0
	wait_for '! kill -0 $live 2>/dev/null' || fail "$how: revoked subscription still running"
	wait $live || rc=$?
	[ $rc -ne 0 ] || fail "$how: revoked subscriber exited 0"
	grep -q "(403)" "$T/live-$how.err" ||
		fail "$how: revoked subscriber did not report 403: $(cat "$T/live-$how.err")"
	expect_fail 403 "$how: subscribe after revocation" \
		gb_agent health subscribe --dataset tax.invoices --from earliest --count 1

	# Grant again for the next round.
	reload_with "$how" "$T/granted.yaml"
	[ "$(gb_agent health subscribe --dataset tax.invoices --from 0 --count 1)" = "rec-1" ] ||
		fail "$how: subscribe after the grant came back failed"
done
kill -0 "$BROKER_PID" || fail "broker died"
echo "PASS reload: SIGHUP and the reload command revoke at once (403) and keep the old policy on a bad config"
