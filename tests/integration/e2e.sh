#!/usr/bin/env bash
# End-to-end encryption with real processes (DESIGN §5): the broker never
# holds plaintext, and a revoked department cannot read what is published
# after the revocation, even with a raw copy of the broker's data dir.
#
#   canary      a random marker published by tax is printed by health and
#               appears nowhere in the data dir or the broker log
#   stateless   a fresh publisher process keeps the key epoch
#   waiting     police, granted while no owner agent runs, says it waits
#               for the key and completes once `govbus-agent run` starts
#   revocation  health's grant is removed mid-publish: its live
#               subscription ends (403), new subscribes are refused, the
#               publisher goes on under a new epoch; from a raw copy of the
#               data dir health decrypts epoch 1 and nothing of epoch 2
#   history     social, granted later with history all, gets wraps of every
#               epoch from the run agent and replays from offset 0; customs
#               (history none) may only subscribe live and gets no wrap of
#               older epochs
#   refusals    the broker refuses clear batches (400) and batches under a
#               retired or unknown epoch (412)
. "$(dirname "$0")/lib.sh"
gb_setup
for id in police customs; do
	"$KEYS" new --dept "$id" --out "$T/keys" >/dev/null
	gb_agent_config "$id"
done
RAWREAD="$GB_BUILD/tests/gb_rawread"
TAX_SIGN=$(gb_pub tax sign_key)

# e2e_config GRANT...: the registry with these grants (lines from grant).
e2e_config() {
	{
		cat <<YAML
broker:
  listen: "$ENDPOINT"
  data_dir: $T/data
  key: $T/keys/broker.key
departments:
$(gb_dept tax "Tax Bureau")
$(gb_dept health "Health Authority")
$(gb_dept social "Social Security")
$(gb_dept police "Police")
$(gb_dept customs "Customs")
$(gb_dept audit "National Audit Office" auditor)
datasets:
  - { id: tax.invoices, owner: tax, title: VAT invoices, sharing: conditional, classification: internal }
YAML
		if [ $# -eq 0 ]; then echo "grants: []"; else echo "grants:"; fi
		for g in "$@"; do echo "$g"; done
	} >"$T/govbus.yaml"
}
grant() { # DEPT HISTORY
	echo "  - { dataset: tax.invoices, to: $1, rights: [subscribe, replay], purpose: \"e2e\", legal_basis: \"Act 1\", approved_by: \"board\", expires: 2099-01-01, history: $2 }"
}
reload() { # GRANT...: make these the grants and wait for the reload
	local before
	before=$(grep -c "reloaded " "$T/broker.log" || true)
	e2e_config "$@"
	kill -HUP "$BROKER_PID"
	wait_for '[ "$(grep -c "reloaded " "$T/broker.log" || true)" -gt "$before" ]' ||
		fail "reload not logged"
}
# rawread DEPT: what DEPT decrypts from a copy of the data dir, taken with
# the broker stopped (agents reconnect by themselves), into $raw. Not for
# $(...): the broker must be restarted by this shell.
rawread() {
	gb_stop_broker
	rm -rf "$T/copy"
	cp -a "$T/data" "$T/copy"
	gb_start_broker
	"$RAWREAD" --data "$T/copy" --dataset tax.invoices --dept "$1" \
		--key "$T/keys/$1.key" --owner-sign-key "$TAX_SIGN" >"$T/raw.txt" 2>&1 ||
		fail "gb_rawread: $(cat "$T/raw.txt")"
	raw=$(cat "$T/raw.txt")
}
publish() { # FIRST LAST [agent options]: records inv-FIRST..inv-LAST
	local first=$1 last=$2
	shift 2
	seq "$first" "$last" | sed "s/^/inv-/" |
		gb_agent tax publish --dataset tax.invoices "$@"
}

e2e_config "$(grant health all)"
gb_start_broker

# ---------------------------------------------------------------- canary
MARK="canary-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
seq 1 50 | sed "s/^/inv-/; s/\$/ $MARK/" >"$T/canary.txt"
gb_agent tax publish --dataset tax.invoices "$T/canary.txt" 2>"$T/pub1.err" ||
	fail "canary publish: $(cat "$T/pub1.err")"
grep -q "^tax.invoices: opened key epoch 1 for 2 readers" "$T/pub1.err" ||
	fail "the first publish did not open epoch 1 for tax and health: $(cat "$T/pub1.err")"
gb_agent health subscribe --dataset tax.invoices --count 50 >"$T/canary.out" 2>"$T/sub1.err" ||
	fail "health could not read: $(cat "$T/sub1.err")"
cmp -s "$T/canary.txt" "$T/canary.out" || fail "health did not read the canary records back"
[ -n "$(ls -A "$T/data")" ] || fail "no data dir"
if grep -r -a -F -q "$MARK" "$T/data"; then fail "the canary is in the broker's data dir"; fi
if grep -a -F -q "$MARK" "$T/broker.log"; then fail "the canary is in the broker's log"; fi
echo "ok canary: printed by health, absent from $(du -sk "$T/data" | cut -f1) KiB of broker data and its log"

# ---------------------------------------------------------------- stateless
publish 51 100 2>"$T/pub2.err" || fail "second publish: $(cat "$T/pub2.err")"
if grep -q "opened key epoch" "$T/pub2.err"; then
	fail "a fresh publisher opened a new epoch: $(cat "$T/pub2.err")"
fi
echo "ok stateless: a fresh publisher recovered epoch 1 from its own wrap"

# ---------------------------------------------------------------- waiting
# No owner agent is connected: police's wrap cannot be made yet.
reload "$(grant health all)" "$(grant police all)"
gb_agent police subscribe --dataset tax.invoices --count 100 >"$T/police.out" 2>"$T/police.err" &
POLICE=$!
wait_for 'grep -q "waiting for key epoch 1 of tax.invoices from owner tax" "$T/police.err"' ||
	fail "police did not say it waits: $(cat "$T/police.err")"
sleep 2.5 # it asks again every second, and says so once
[ "$(grep -c "waiting for key" "$T/police.err")" -eq 1 ] ||
	fail "the wait was reported more than once: $(cat "$T/police.err")"
[ "$(lines "$T/police.out")" -eq 0 ] || fail "police printed records without a key"
# Not through gb_agent (a function): $! must be the agent itself.
"$AGENT" --config "$T/tax.yaml" run >"$T/run.out" 2>"$T/run.log" &
RUN=$!
wait_for 'grep -q "doing the key work" "$T/run.log"' || fail "run did not start: $(cat "$T/run.log")"
grep -q "^tax.invoices: wrapped epoch 1 for police" "$T/run.log" ||
	fail "run did not wrap epoch 1 for police: $(cat "$T/run.log")"
wait $POLICE || fail "police did not complete: $(cat "$T/police.err")"
seq 1 100 | sed 's/^/inv-/' >"$T/expect100.txt"
cut -d' ' -f1 "$T/police.out" | cmp -s - "$T/expect100.txt" || fail "police read the wrong records"
echo "ok waiting: police waited for its key, then read every record"

# ---------------------------------------------------------------- revocation
gb_agent health subscribe --dataset tax.invoices --from 100 >"$T/live.out" 2>"$T/live.err" &
LIVE=$!
split -l 100 <(seq 101 2100 | sed 's/^/inv-/') "$T/chunk."
for c in "$T"/chunk.*; do cat "$c"; sleep 0.1; done |
	gb_agent tax publish --dataset tax.invoices --batch 50 2>"$T/pub3.err" &
PUB=$!
sleep 0.8
kill -0 $PUB 2>/dev/null || fail "the publisher finished before the revocation"
reload "$(grant police all)"
wait $PUB || fail "the publisher did not survive the revocation: $(cat "$T/pub3.err")"
grep -q "tax.invoices: health may no longer hold its key; retiring its current key epoch" "$T/broker.log" ||
	fail "the broker did not retire epoch 1"
grep -q "opened key epoch 2 for 2 readers (tax, police)" "$T/pub3.err" "$T/run.log" ||
	fail "nobody opened epoch 2 for tax and police: $(cat "$T/pub3.err" "$T/run.log")"
wait $LIVE && fail "health's live subscription went on after the revocation"
grep -q "(403)" "$T/live.err" || fail "health's subscription did not end with 403: $(cat "$T/live.err")"
expect_fail 403 "subscribe after revocation" \
	gb_agent health subscribe --dataset tax.invoices --from earliest --count 1
gb_agent tax subscribe --dataset tax.invoices --count 2100 >"$T/all.out" 2>"$T/tax.err" ||
	fail "tax could not read its own dataset: $(cat "$T/tax.err")"
seq 1 2100 | sed 's/^/inv-/' | cmp -s - <(cut -d' ' -f1 "$T/all.out") ||
	fail "records lost or duplicated across the rotation"
gb_agent police subscribe --dataset tax.invoices --count 2100 >"$T/police2.out" 2>&1 ||
	fail "police could not read both epochs: $(tail -n 3 "$T/police2.out")"
rawread health
echo "$raw" | grep -Eq "^epoch=1 batches=[0-9]+ records=([0-9]+) decrypted=\1$" ||
	fail "health could not decrypt all of epoch 1 from the raw log: $raw"
echo "$raw" | grep -Eq "^epoch=2 batches=[0-9]+ records=[1-9][0-9]* decrypted=0 why=no key for epoch 2" ||
	fail "health decrypted records published after its revocation: $raw"
epochs=$(echo "$raw" | grep -c "^epoch=")
[ "$epochs" -eq 2 ] || fail "expected epochs 1 and 2 only (a fresh publisher must keep the epoch): $raw"
echo "ok revocation: $(echo "$raw" | tr '\n' ';')"

# ---------------------------------------------------------------- history
reload "$(grant police all)" "$(grant social all)"
wait_for 'grep -q "^tax.invoices: wrapped epoch 2 for social" "$T/run.log"' ||
	fail "run did not wrap epoch 2 for social: $(cat "$T/run.log")"
grep -q "^tax.invoices: wrapped epoch 1 for social" "$T/run.log" ||
	fail "run did not wrap epoch 1 for social: $(cat "$T/run.log")"
gb_agent social subscribe --dataset tax.invoices --from 0 --count 2100 >"$T/social.out" 2>"$T/social.err" ||
	fail "social could not replay: $(cat "$T/social.err")"
cmp -s "$T/all.out" "$T/social.out" || fail "social's replay differs from the log"
echo "ok history all: social replayed 2100 records of epochs 1 and 2"

reload "$(grant police all)" "$(grant social all)" "$(grant customs none)"
wait_for 'grep -q "^tax.invoices: wrapped epoch 2 for customs" "$T/run.log"' ||
	fail "run did not wrap the current epoch for customs: $(cat "$T/run.log")"
if grep -q "wrapped epoch 1 for customs" "$T/run.log"; then
	fail "customs (history none) got a wrap of epoch 1"
fi
expect_fail 403 "replay with history none" \
	gb_agent customs subscribe --dataset tax.invoices --from earliest --count 1
gb_agent customs subscribe --dataset tax.invoices --from latest --count 5 >"$T/customs.out" 2>"$T/customs.err" &
CUSTOMS=$!
sleep 0.5
publish 2101 2105 2>"$T/pub4.err" || fail "publish for customs: $(cat "$T/pub4.err")"
wait $CUSTOMS || fail "customs did not read live: $(cat "$T/customs.err")"
[ "$(cat "$T/customs.out")" = "$(seq 2101 2105 | sed 's/^/inv-/')" ] ||
	fail "customs read the wrong records: $(cat "$T/customs.out")"
rawread customs
echo "$raw" | grep -q "^epoch=1 .* decrypted=0 why=no key for epoch 1" ||
	fail "customs could decrypt epoch 1: $raw"
echo "ok history none: customs reads live only, no key of epoch 1"

# ---------------------------------------------------------------- refusals
out=$(gb_probe tax publish --dataset tax.invoices --seq 999999 --clear) || fail "probe: $out"
echo "$out" | grep -q "^error status=400 " || fail "a clear batch was not refused with 400: $out"
out=$(gb_probe tax publish --dataset tax.invoices --seq next --epoch 1) || fail "probe: $out"
echo "$out" | grep -q "^error status=412 " || fail "a batch under retired epoch 1 was not refused with 412: $out"
out=$(gb_probe tax publish --dataset tax.invoices --seq next --epoch 99) || fail "probe: $out"
echo "$out" | grep -q "^error status=412 " || fail "a batch under unknown epoch 99 was not refused with 412: $out"

# The run agent stops cleanly.
kill -TERM $RUN
wait $RUN || fail "run did not exit 0 on SIGTERM: $(tail -n 3 "$T/run.log")"
kill -0 "$BROKER_PID" || fail "broker died"
echo "PASS e2e"
