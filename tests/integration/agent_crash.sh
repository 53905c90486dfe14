#!/usr/bin/env bash
# Agent crashes (DESIGN §7, dedupe): a publishing agent is killed with -9
# mid-file and run again on the same input with the same record ids. The
# broker stores every record exactly once: the rerun's records whose ids
# it stored inside broker.dedupe_seconds are skipped, also when the rerun
# batches differently (partly stored batches are cut down by the agent).
# Then the documented limits: records without ids are stored again, and
# so are ids older than the window (set by a reload).
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

N=300000
seq 1 $N | sed 's/$/ an invoice line of the same input file/' >"$T/in.txt"

# publish_killed BATCH: publish in.txt with ids and kill -9 the agent once
# some of it is stored but not all; sets STORED (the stream head then).
publish_killed() {
	local batch=$1 before head pid
	before=$(stream_head)
	# The agent itself, not a shell around it, so kill -9 hits it.
	"$AGENT" --config "$T/tax.yaml" publish --dataset tax.invoices --id-prefix inv- \
		--batch "$batch" "$T/in.txt" >"$T/killed.out" 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do
		head=$(stream_head)
		[ "$head" -gt $((before + 20000)) ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	kill -0 $pid 2>/dev/null || fail "the agent finished before it could be killed: $(cat "$T/killed.out")"
	kill -9 $pid
	wait $pid 2>/dev/null || true
	# Batches the agent sent before it died are still being stored.
	STORED=$(stream_head)
	for _ in $(seq 1 50); do
		sleep 0.3
		head=$(stream_head)
		[ "$head" -eq "$STORED" ] && break
		STORED=$head
	done
	[ "$STORED" -lt $N ] || fail "everything was stored before the kill"
	echo "killed the agent (--batch $batch) with $STORED of $N records stored"
}

# The stream head of tax.invoices: offsets the broker has stored.
stream_head() {
	gb_probe health head --dataset tax.invoices | sed -n 's/^head=//p' | grep . ||
		fail "no stream head"
}

# check_exactly_once COUNT: the stream holds exactly the first COUNT input
# lines, in order, and nothing more.
check_exactly_once() {
	local n=$1 out
	gb_agent health subscribe --dataset tax.invoices --from earliest --count "$n" \
		>"$T/replay.txt" 2>"$T/replay.err" || fail "replay: $(cat "$T/replay.err")"
	head -n "$n" "$T/in.txt" | cmp -s - "$T/replay.txt" ||
		fail "the replay is not the input exactly once: $(diff <(head -n "$n" "$T/in.txt") "$T/replay.txt" | head -n 4)"
	out=$(gb_agent health subscribe --dataset tax.invoices --from "$n" --count 1 --timeout 2 2>&1) &&
		fail "a record beyond the $n published: $out"
	return 0
}

# ------------------------------------------------ kill -9, rerun the same input
publish_killed 500
FIRST=$STORED
publish_killed 777      # the rerun batches differently: partly stored batches
[ "$STORED" -gt "$FIRST" ] || fail "the second run stored nothing new ($STORED)"
gb_agent tax publish --dataset tax.invoices --id-prefix inv- --batch 1000 "$T/in.txt" \
	>"$T/rerun.out" 2>&1 || fail "rerun failed: $(cat "$T/rerun.out")"
cat "$T/rerun.out"
SKIPPED=$(sed -n 's/^skipped \([0-9]*\) records.*/\1/p' "$T/rerun.out")
PUBLISHED=$(sed -n 's/^published \([0-9]*\) records.*/\1/p' "$T/rerun.out")
[ -n "$SKIPPED" ] && [ "$SKIPPED" -eq "$STORED" ] ||
	fail "the rerun skipped '${SKIPPED}' records, $STORED were stored"
[ "$((SKIPPED + PUBLISHED))" -eq $N ] || fail "skipped $SKIPPED + published $PUBLISHED != $N"
check_exactly_once $N
echo "agent crash: 2 kills, $N records, $SKIPPED skipped by id on the rerun, 0 duplicated"

# A rerun of the whole file now stores nothing.
gb_agent tax publish --dataset tax.invoices --id-prefix inv- "$T/in.txt" >"$T/again.out" 2>&1 ||
	fail "second rerun: $(cat "$T/again.out")"
grep -q "^skipped $N records" "$T/again.out" || fail "second rerun: $(cat "$T/again.out")"
check_exactly_once $N

# The broker's answers, as the agent sees them: an id repeated inside a
# batch, or stored before, is named (409, nothing stored); a batch of only
# known ids is acked as a duplicate and uses its seq.
out=$(gb_probe tax publish --dataset tax.open --seq next --records 3 --ids dup,other,dup 2>&1)
echo "$out" | grep -q "^error status=409 .* duplicate_records=2\$" ||
	fail "a batch repeating an id: $out"
out=$(gb_probe tax publish --dataset tax.open --seq next --records 2 --ids dup,other 2>&1)
[ "$out" = "ack offset=0 count=2 duplicate=0" ] || fail "two new ids: $out"
out=$(gb_probe tax publish --dataset tax.open --seq next --records 3 --ids new,other,x 2>&1)
echo "$out" | grep -q "^error status=409 .* duplicate_records=1\$" || fail "one known id: $out"
out=$(gb_probe tax publish --dataset tax.open --seq next --records 2 --ids other,dup 2>&1)
[ "$out" = "ack offset=1 count=2 duplicate=1 duplicate_records=2" ] || fail "only known ids: $out"
out=$(gb_probe tax publish --dataset tax.open --seq next --records 1 --ids new 2>&1)
[ "$out" = "ack offset=2 count=1 duplicate=0" ] || fail "after a used seq: $out"

# ------------------------------------------------ the documented limits
# Without ids nothing is deduplicated.
head -n 10 "$T/in.txt" >"$T/small.txt"
gb_agent tax publish --dataset tax.open "$T/small.txt" >/dev/null 2>&1 || fail "no ids 1"
gb_agent tax publish --dataset tax.open "$T/small.txt" >"$T/noid.out" 2>&1 || fail "no ids 2"
grep -q "^published 10 records" "$T/noid.out" || fail "without ids: $(cat "$T/noid.out")"
# The window is broker.dedupe_seconds, changed by a reload: after it ids
# are stored again.
sed -i "/^  key: /a\\  dedupe_seconds: 2" "$T/govbus.yaml"
gb_reload
gb_agent tax publish --dataset tax.open --id-prefix w- "$T/small.txt" >/dev/null 2>&1 || fail "window 1"
gb_agent tax publish --dataset tax.open --id-prefix w- "$T/small.txt" >"$T/w2.out" 2>&1 || fail "window 2"
grep -q "^skipped 10 records" "$T/w2.out" || fail "inside a 2 s window: $(cat "$T/w2.out")"
sleep 2.5
gb_agent tax publish --dataset tax.open --id-prefix w- "$T/small.txt" >"$T/w3.out" 2>&1 || fail "window 3"
grep -q "^published 10 records" "$T/w3.out" || fail "after the window: $(cat "$T/w3.out")"
grep -q "^skipped" "$T/w3.out" && fail "after the window ids were still skipped: $(cat "$T/w3.out")"

kill -0 "$BROKER_PID" || fail "the broker died"
gb_stop_broker
gb_verify_log tax.invoices >"$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"
grep -q "^tax.invoices: $N records" "$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"
echo "PASS agent-crash: a killed agent run again on the same input stores every record once (record ids, window 120 s); the limits hold as documented"
