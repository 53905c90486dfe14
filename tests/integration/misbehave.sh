#!/usr/bin/env bash
# Misbehaving clients do not disturb others or grow the broker: while a
# normal publisher and subscriber move 20,000 records, other connections
#   - subscribe and never grant credit, or grant all credit and never read;
#   - send garbage, oversized and over-limit frames, and multi-part messages;
#   - connect and disconnect 500 times over CURVE, 500 times over bare TCP;
#   - hold 100 TCP connections open without a ZMTP handshake, and 20 that
#     stop in the middle of the greeting.
# The normal pair must finish with every record once, in order; the broker
# must live and answer; its resident memory (VmRSS, sampled before and with
# every misbehaving client still connected) must grow by less than
# RSS_BOUND_KIB (64 MiB, generous: the stream itself is about 1 MiB, so
# even an unread subscriber holding all of it in its queue stays far below).
# No time is measured.
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default) and would read as growth: keep none, so the bound means the same.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
gb_setup
gb_start_broker

N=20000
RSS_BOUND_KIB=$((64 * 1024))

# Warm up the paths the normal pair uses, then take the baseline.
seq 1 1000 | sed 's/^/warm-/' | gb_agent tax publish --dataset tax.open 2>/dev/null ||
	fail "warm-up publish failed"
gb_agent social subscribe --dataset tax.open --from earliest --count 1000 >/dev/null ||
	fail "warm-up subscribe failed"
RSS0=$(gb_rss_kib "$BROKER_PID")

# The misbehaving subscribers come first, so they see the whole stream.
for _ in 1 2 3; do
	"$PROBE" --endpoint "$ENDPOINT" --broker-key "$BROKER_KEY" --key "$T/keys/health.key" \
		--dept health craft hold-no-credit >/dev/null 2>&1 &
	"$PROBE" --endpoint "$ENDPOINT" --broker-key "$BROKER_KEY" --key "$T/keys/health.key" \
		--dept health craft hold-unread >/dev/null 2>&1 &
done
# Half-open connections: TCP only, and a ZMTP greeting cut short.
(
	for _ in $(seq 1 100); do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; done
	for _ in $(seq 1 20); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		printf '\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03' >&$fd
	done
	# Hold the descriptors; the marker file names the process for cleanup.
	touch "$T/half-open"
	exec tail -f "$T/half-open"
) 2>/dev/null &
HALF=$!

# The normal pair.
seq 1 $N | sed 's/^/rec-/' >"$T/input.txt"
gb_agent health subscribe --dataset tax.invoices --from earliest --count $N \
	>"$T/live.txt" 2>"$T/live.err" &
LIVE=$!
split -l 1000 "$T/input.txt" "$T/chunk."
for c in "$T"/chunk.*; do cat "$c"; sleep 0.1; done |
	gb_agent tax publish --dataset tax.invoices --batch 200 2>"$T/pub.err" &
PUB=$!

# Bad frames and the connect flood, while the pair runs.
for _ in $(seq 1 20); do
	for c in garbage empty oversized-frame beyond-max-message multipart unknown-oneof; do
		gb_probe tax craft $c >/dev/null 2>&1 || fail "probe $c failed"
	done
done
for _ in $(seq 1 500); do
	gb_probe social craft ping >"$T/ping.out" 2>&1 || fail "connect flood: $(cat "$T/ping.out")"
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || fail "TCP connect failed"
done

wait $PUB || fail "publisher failed: $(tail -n 5 "$T/pub.err")"
wait $LIVE || fail "subscriber failed: $(tail -n 5 "$T/live.err")"
cmp -s "$T/input.txt" "$T/live.txt" || fail "the normal subscriber lost or repeated records"

# Memory with every misbehaving client still connected.
RSS1=$(gb_rss_kib "$BROKER_PID")
kill -0 "$BROKER_PID" || fail "the broker died"
[ "$(gb_probe tax craft ping 2>&1)" = "$(printf 'silent\npong')" ] ||
	fail "the broker does not answer a ping"
kill -9 $HALF 2>/dev/null || true
pkill -9 -f -- "--key $T/keys/health.key" 2>/dev/null || true
RSS2=$(gb_rss_kib "$BROKER_PID")
echo "broker VmRSS: $RSS0 KiB before, $RSS1 KiB with misbehaving clients, $RSS2 KiB after they left (bound: +$RSS_BOUND_KIB KiB)"
[ $((RSS1 - RSS0)) -lt $RSS_BOUND_KIB ] ||
	fail "broker memory grew by $((RSS1 - RSS0)) KiB, bound $RSS_BOUND_KIB KiB"
echo "PASS misbehave"
