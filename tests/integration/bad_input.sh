#!/usr/bin/env bash
# The bad-input catalog: every kind of malformed, forged or out-of-order
# input a department can send, each against a real broker. For every case:
# the exact status (or silence) the broker answers with, the broker still up
# (the process lives and answers a Ping on the same connection), and the
# stream untouched (the next good publish lands at exactly the expected
# offset, so nothing was added or lost). At the end the log is replayed and
# verified offline. Cases are crafted by `gb_probe craft` (see
# tests/gb_probe_cases.c, `gb_probe --help` lists them).
. "$(dirname "$0")/lib.sh"
gb_setup
gb_start_broker

cases=0 passed=0
next_seq=1 next_offset=0

# One good batch of tax.invoices: must land at next_offset.
good_publish() {
	local out
	out=$(gb_probe tax publish --dataset tax.invoices --seq $next_seq 2>&1) ||
		fail "good publish (seq $next_seq): $out"
	[ "$out" = "ack offset=$next_offset count=1 duplicate=0" ] ||
		fail "after '$1' the stream moved: seq $next_seq got '$out', wanted offset $next_offset"
	next_seq=$((next_seq + 1))
	next_offset=$((next_offset + 1))
}

# check NAME AS EXPECT [gb_probe craft options]: run case NAME as
# department AS. EXPECT is the answer's first line up to the message
# ("error status=400", "silent", ...); a second expected line may follow
# after '|' (for cases that subscribe first).
check() {
	local name=$1 dept=$2 expect=$3 out got
	shift 3
	cases=$((cases + 1))
	out=$(gb_probe "$dept" craft "$name" --seq $next_seq "$@" 2>&1) ||
		fail "$name: probe failed: $out"
	got=$(echo "$out" | sed 's/ message=.*//' | grep -vx pong | paste -sd '|')
	[ "$got" = "$expect" ] || fail "$name: expected '$expect', got: $out"
	[ "$(echo "$out" | tail -n 1)" = pong ] ||
		fail "$name: the connection stopped answering: $out"
	kill -0 "$BROKER_PID" || fail "$name: the broker died"
	good_publish "$name"
	passed=$((passed + 1))
	printf 'ok %2d %-22s %s\n' "$cases" "$name" "$expect"
}

good_publish start

# Frames the codec refuses before anything else reads them.
check garbage tax "error status=400"
check empty tax "error status=400"
check unknown-oneof tax "error status=400"
check wrong-wire-type tax "error status=400"
check oversized-frame tax "error status=413"
check hello-long-agent tax "error status=400"
check sub-invalid-dataset tax "error status=400"
check sub-bad-durable tax "error status=400"
check sub-long-durable tax "error status=400"
check sub-credit-above tax "error status=400"
check sub-unknown-start tax "error status=400"
check signed-batch-empty tax "error status=400"
check signed-batch-too-big tax "error status=413"
# Dropped without an answer: ZeroMQ ends the connection of a message over
# ZMQ_MAXMSGSIZE (2 x GB_MAX_FRAME) before the broker sees it, and agents
# send one frame per message, so extra parts are dropped whole.
check beyond-max-message tax "silent"
check multipart tax "silent"
# hello.agent is informational and never logged or stored; protobuf-c does
# not check UTF-8, so a non-UTF-8 name is accepted (Welcome).
check hello-non-utf8 tax "frame 1"

# Signed batches, refused in the broker's order: parse (size, fields),
# producer, signature, policy, key epoch, created_at.
check signed-batch-garbage tax "error status=400"
check header-undecodable tax "error status=400"
check signature-short tax "error status=401"
check ciphertext-empty tax "error status=400"
check invalid-dataset-id tax "error status=400"
check non-utf8-producer tax "error status=400"
check seq-zero tax "error status=400"
check zero-records tax "error status=400"
check too-many-records tax "error status=413"
check forged-signature tax "error status=401"
# The signature covers the ciphertext: one flipped byte is a forgery.
check tampered-ciphertext tax "error status=401"
check wrong-signer tax "error status=401" --signer-key "$T/keys/health.key"
check producer-other health "error status=403"
check publish-plain health "error status=403"
check unknown-dataset tax "error status=404"
check clear-epoch tax "error status=400"
check unknown-epoch tax "error status=412"
check wrong-key tax "error status=412"
check created-in-future tax "error status=400"

# Sequence numbers: a retry of a stored seq is acked with its original
# offset and stores nothing; any seq but the next is a conflict.
cases=$((cases + 1))
out=$(gb_probe tax publish --dataset tax.invoices --seq 1 2>&1)
[ "$out" = "ack offset=0 count=1 duplicate=1" ] || fail "retry of seq 1: $out"
good_publish retry
passed=$((passed + 1))
printf 'ok %2d %-22s %s\n' $cases retry-stored-seq "ack offset=0 duplicate=1"
for gap in 2 1000; do
	cases=$((cases + 1))
	out=$(gb_probe tax publish --dataset tax.invoices --seq $((next_seq + gap)) 2>&1)
	echo "$out" | grep -q "^error status=409 " || fail "seq gap of $gap: $out"
	good_publish "seq gap"
	passed=$((passed + 1))
	printf 'ok %2d %-22s %s\n' $cases "seq-gap-$gap" "error status=409"
done

# Subscriptions.
check sub-unknown-dataset tax "error status=404"
check sub-plain social "error status=403"
check sub-duplicate-id tax "subscribed id=7 start=$next_offset head=$next_offset|error status=409"
check credit-above tax "subscribed id=1 start=$next_offset head=$next_offset|error status=400"
check credit-unknown tax "silent"
check ack-beyond tax "subscribed id=1 start=$next_offset head=$next_offset|error status=400"
check ack-unknown tax "error status=404"
check ack-not-durable tax "subscribed id=1 start=$next_offset head=$next_offset|error status=404"
check unsubscribe-unknown tax "silent"

# A key the registry does not know is refused in the CURVE handshake (ZAP):
# no frame is ever read from it.
cases=$((cases + 1))
out=$(gb_probe stranger craft ping 2>&1) && fail "unregistered key got an answer: $out"
[ "$out" = timeout ] || fail "unregistered key: $out"
grep -q "refused connection: key .* is not registered" "$T/broker.log" ||
	fail "unregistered key: the broker did not log the refusal"
good_publish unregistered-key
passed=$((passed + 1))
printf 'ok %2d %-22s %s\n' $cases unregistered-key "refused by ZAP"

# Nothing refused reached the log: a replay holds exactly the good batches,
# in order, and nothing beyond them; offline, the chain verifies.
gb_agent health subscribe --dataset tax.invoices --from earliest --count $next_offset \
	>"$T/replay.txt" 2>"$T/replay.err" || fail "replay: $(cat "$T/replay.err")"
seq 1 $((next_seq - 1)) | sed 's/.*/probe-&-0/' | cmp -s - "$T/replay.txt" ||
	fail "the replay is not exactly the good batches"
out=$(gb_agent health subscribe --dataset tax.invoices --from $next_offset --count 1 --timeout 2 2>&1) &&
	fail "a record beyond the good ones: $out"

# record_count larger than the batch holds: sealed records are opaque to
# the broker, so it cannot tell and stores the batch (owner-signed, so the
# lie is attributable); every subscriber refuses it when it opens it. Run
# on tax.open so tax.invoices stays exact.
cases=$((cases + 1))
out=$(gb_probe tax craft count-lie --dataset tax.open --seq 1 2>&1)
[ "$(echo "$out" | head -n 1)" = "ack offset=0 count=5 duplicate=0" ] ||
	fail "count-lie: $out"
out=$(gb_agent social subscribe --dataset tax.open --from earliest --count 1 --timeout 10 2>&1) &&
	fail "a subscriber accepted a batch whose record_count lies: $out"
echo "$out" | grep -qi "record_count\|count" || fail "count-lie: subscriber's refusal is unclear: $out"
passed=$((passed + 1))
printf 'ok %2d %-22s %s\n' $cases count-lie "stored (opaque), refused by subscribers"

gb_stop_broker
gb_verify_log >"$T/verify.txt" || fail "log verification: $(cat "$T/verify.txt")"
grep -qx "tax.invoices: $next_offset records in $next_offset batches, chain ok" "$T/verify.txt" ||
	fail "verified log: $(cat "$T/verify.txt")"
echo "bad-input catalog: $cases cases, $passed passed"
[ "$cases" -eq "$passed" ] || fail "not every case passed"
echo "PASS bad-input"
