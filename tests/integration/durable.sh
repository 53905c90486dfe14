#!/usr/bin/env bash
# Durable cursors: `subscribe --durable NAME` killed with -9 mid-stream and
# started again resumes just after the last acknowledged record. Across
# every restart there is no gap, and the records that come again are at most
# the unacknowledged window the agent documents in its --help.
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

N=30000
KILLS=3
# The window, from the agent's own help ("up to W records may come again").
WINDOW=$("$AGENT" --config "$T/health.yaml" subscribe --help 2>&1 |
	tr -s ' \n' '  ' | sed -n 's/.*up to \([0-9][0-9]*\) records may come again.*/\1/p')
[ -n "$WINDOW" ] || fail "subscribe --help no longer states the unacked window"

GB_WAIT_TENTHS=1200 # wait_for (lib.sh): a hang guard of 120 s, not a bound
# out_lines: records every subscriber has written so far.
out_lines() { cat "$T"/out.* 2>/dev/null | wc -l; }

# The publisher runs throughout, in paced chunks, so kills land mid-stream.
seq 1 $N | sed 's/^/rec-/' >"$T/input.txt"
split -l 1000 "$T/input.txt" "$T/chunk."
for c in "$T"/chunk.*; do cat "$c"; sleep 0.15; done |
	gb_agent tax publish --dataset tax.invoices --batch 100 2>"$T/pub.err" &
PUB=$!

run=0
start_sub() {
	run=$((run + 1))
	# The agent itself, not a shell function around it, so that $! is the
	# process the kills must hit.
	"$AGENT" --config "$T/health.yaml" subscribe --dataset tax.invoices \
		--from earliest --durable replica-1 >"$T/out.$run" 2>"$T/err.$run" &
	SUB=$!
}
start_sub
for k in $(seq 1 $KILLS); do
	target=$((k * N / (KILLS + 2)))
	wait_for '[ "$(out_lines)" -ge "$target" ]' || fail "subscriber stalled before $target records"
	sleep "0.$((RANDOM % 3))" # land the kill anywhere between two flushes
	kill -9 $SUB
	wait $SUB 2>/dev/null || true
	start_sub
done
wait $PUB || fail "publisher failed: $(cat "$T/pub.err")"
wait_for 'grep -qx "rec-$N" "$T/out.$run"' || fail "the last run never reached rec-$N"
kill -TERM $SUB
wait $SUB || fail "last subscriber did not stop cleanly: $(cat "$T/err.$run")"

# Each run's output, less a last line cut short by the kill, is a run of
# consecutive records; join the runs and count gaps and repeats.
gaps=0 dups=0 max_dup=0 prev_last=0
for r in $(seq 1 $run); do
	f="$T/out.$r"
	[ -z "$(tail -c 1 "$f")" ] || sed -i '$d' "$f" # partial last line
	[ -s "$f" ] || continue
	first=$(sed -n '1s/^rec-//p' "$f")
	last=$(sed -n '$s/^rec-//p' "$f")
	awk '{ n = substr($0, 5) + 0 } NR > 1 && n != p + 1 { bad = 1 } { p = n }
	     END { exit bad }' "$f" ||
		fail "run $r is not a run of consecutive records ($first..$last)"
	if [ "$first" -gt $((prev_last + 1)) ]; then
		gaps=$((gaps + first - prev_last - 1))
	else
		d=$((prev_last - first + 1))
		dups=$((dups + d))
		[ $d -le $max_dup ] || max_dup=$d
	fi
	[ "$last" -le "$prev_last" ] || prev_last=$last
done
echo "durable: $KILLS kills, $run runs, $N records, gaps $gaps, repeated $dups (largest after one restart $max_dup, window $WINDOW)"
[ $prev_last -eq $N ] || fail "output ends at rec-$prev_last, not rec-$N"
[ $gaps -eq 0 ] || fail "$gaps records were skipped across restarts"
[ $max_dup -le "$WINDOW" ] || fail "$max_dup records came again after one restart, more than the window of $WINDOW"

# A clean stop committed the cursor: a new run starts after the last record.
out=$(gb_agent health subscribe --dataset tax.invoices --durable replica-1 --timeout 2 --count 1 2>&1) &&
	fail "a run after a clean stop got a record again: $out"
echo "$out" | grep -q "(504)" || fail "unexpected error after a clean stop: $out"
echo "PASS durable"
