#!/usr/bin/env bash
# Disk faults (DESIGN §7): a full disk and a failing fsync each make a
# publish fail with a 5xx error and a full LMDB map is grown; nothing
# partial is acked or
# stored, acked data stays intact and readable, reads keep working, and
# once the fault is gone the same batch is stored exactly once.
#
#   1. ENOSPC: the data dir on an 8 MiB tmpfs with a filler file; publish
#      until 507, then delete the filler.
#   2. MDB_MAP_FULL: broker.map_size of 1 MiB; the broker grows the map
#      while a live subscriber reads, and every batch is acked.
#   3. fsync fails: an LD_PRELOAD shim (tests/fail_fsync.c) makes fsync and
#      fdatasync fail while a trigger file exists; the publish gets 500.
#
# Needs root to mount the tmpfs; skipped (77) where mount is not permitted.
. "$(dirname "$0")/lib.sh"
gb_setup

mkdir -p "$T/fs"
if ! mount -t tmpfs -o size=8m tmpfs "$T/fs" 2>/dev/null; then
	echo "SKIP disk-full: cannot mount a tmpfs here (needs root)"
	exit 77
fi
# Unmount after the processes are gone (gb_cleanup kills them first).
trap 'gb_cleanup_fs' EXIT
gb_cleanup_fs() {
	pkill -9 -f -- "$T/" 2>/dev/null || true
	wait 2>/dev/null || true
	umount "$T/fs" 2>/dev/null || umount -l "$T/fs" 2>/dev/null || true
	gb_cleanup
}

# use_data_dir DIR [MAP_SIZE]: point the broker config at DIR.
use_data_dir() {
	sed -i "s|^  data_dir: .*|  data_dir: $1|; /^  map_size:/d" "$T/govbus.yaml"
	[ -z "${2:-}" ] || sed -i "/^  key: /a\\  map_size: $2" "$T/govbus.yaml"
}

# publish_until_full DATASET: publish 1000-record batches (seq 1, 2, ...)
# until one is refused; sets ACKED (records acked), FULL_SEQ (the refused
# seq) and FULL_OUT (its answer).
publish_until_full() {
	local ds=$1 out
	ACKED=0 FULL_SEQ=0 FULL_OUT=""
	for s in $(seq 1 400); do
		out=$(gb_probe tax publish --dataset "$ds" --seq "$s" --records 1000 2>&1) ||
			fail "$ds: probe failed at seq $s: $out"
		if [ "$out" != "ack offset=$ACKED count=1000 duplicate=0" ]; then
			FULL_SEQ=$s FULL_OUT=$out
			return 0
		fi
		ACKED=$((ACKED + 1000))
	done
	fail "$ds: 400 batches stored and still not full"
}

# check_intact DATASET RECORDS: a replay returns exactly RECORDS records
# (each batch's records probe-SEQ-0..999, in order) and nothing beyond.
check_intact() {
	local ds=$1 n=$2
	gb_agent health subscribe --dataset "$ds" --from earliest --count "$n" \
		>"$T/replay.txt" 2>"$T/replay.err" ||
		fail "$ds: reading acked data failed: $(cat "$T/replay.err")"
	for b in $(seq 1 $((n / 1000))); do seq 0 999 | sed "s/^/probe-$b-/"; done |
		cmp -s - "$T/replay.txt" || fail "$ds: acked records differ from what was published"
	out=$(gb_agent health subscribe --dataset "$ds" --from "$n" --count 1 --timeout 2 2>&1) &&
		fail "$ds: a record beyond the acked ones: $out"
	return 0
}

# ------------------------------------------------------------ 1. ENOSPC
mkdir "$T/fs/data"
use_data_dir "$T/fs/data"
# The filler takes most of the space, so the log fills it in a few batches.
dd if=/dev/zero of="$T/fs/filler" bs=1M count=5 status=none
gb_start_broker
publish_until_full tax.invoices
echo "$FULL_OUT" | grep -q "^error status=507 " ||
	fail "a full disk did not give 507 at seq $FULL_SEQ: $FULL_OUT"
[ $ACKED -gt 0 ] || fail "nothing was stored before the disk filled"
echo "ENOSPC: $ACKED records acked, then 507 at seq $FULL_SEQ"
kill -0 "$BROKER_PID" || fail "the broker died when the disk filled"
# Reads keep working on the full disk, and the refused batch is not there.
check_intact tax.invoices $ACKED
out=$(gb_probe tax publish --dataset tax.invoices --seq $FULL_SEQ --records 1000 2>&1)
echo "$out" | grep -q "^error status=507 " || fail "still full, expected 507 again: $out"
# Free space: the same batch is stored now, once, right after the acked ones.
rm "$T/fs/filler"
out=$(gb_probe tax publish --dataset tax.invoices --seq $FULL_SEQ --records 1000 2>&1)
[ "$out" = "ack offset=$ACKED count=1000 duplicate=0" ] ||
	fail "after freeing space seq $FULL_SEQ: $out"
ACKED=$((ACKED + 1000))
check_intact tax.invoices $ACKED
gb_stop_broker
gb_verify_log tax.invoices >"$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"
grep -q "^tax.invoices: $ACKED records" "$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"

# ------------------------------------------------------------ 2. MDB_MAP_FULL
# A 1 MiB map is full after a few batches. The broker grows it (doubling,
# while a live subscriber keeps reading) and every publish is acked.
use_data_dir "$T/data2" 1048576
gb_start_broker
N2=100000
seq 1 $N2 | sed 's/$/ a record long enough that a hundred thousand of them fill several maps/' >"$T/in2.txt"
gb_agent health subscribe --dataset tax.invoices --from earliest \
	--count $N2 --timeout 120 >"$T/live2.txt" 2>"$T/live2.err" &
LIVE2=$!
sleep 0.5
gb_agent tax publish --dataset tax.invoices "$T/in2.txt" >"$T/pub2.out" 2>&1 ||
	fail "full map: publishing failed: $(cat "$T/pub2.out")"
grep -q "^published $N2 records" "$T/pub2.out" || fail "full map: $(cat "$T/pub2.out")"
wait $LIVE2 || fail "the live subscriber failed while the map grew: $(cat "$T/live2.err")"
cmp -s "$T/in2.txt" "$T/live2.txt" || fail "the live subscriber saw other records than were published"
grep -q "the LMDB map was full: grew it from 1 to 2 MiB" "$T/broker.log" ||
	fail "the map did not grow: $(tail -n 5 "$T/broker.log")"
GROWN=$(grep -c "the LMDB map was full" "$T/broker.log")
[ "$GROWN" -ge 3 ] || fail "the map grew only $GROWN times"
SIZE2=$(stat -c %s "$T/data2/data.mdb")
echo "MDB_MAP_FULL: $N2 records acked in a map configured at 1 MiB; grew $GROWN times, data.mdb $SIZE2 bytes"
# A restart with the same small map_size keeps the grown file.
gb_stop_broker
gb_start_broker
out=$(gb_probe tax publish --dataset tax.invoices --seq next --records 1000 2>&1)
[ "$out" = "ack offset=$N2 count=1000 duplicate=0" ] ||
	fail "after a restart with the small map: $out"
gb_agent health subscribe --dataset tax.invoices --from earliest --count $((N2 + 1000)) \
	>"$T/replay2.txt" 2>"$T/replay2.err" || fail "replay after restart: $(cat "$T/replay2.err")"
head -n $N2 "$T/replay2.txt" | cmp -s - "$T/in2.txt" || fail "replay after restart differs"
[ "$(wc -l <"$T/replay2.txt")" -eq $((N2 + 1000)) ] || fail "replay after restart: wrong count"
gb_stop_broker
gb_verify_log tax.invoices >"$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"

# ------------------------------------------------------------ 3. fsync fails
use_data_dir "$T/data3"
SHIM="$GB_BUILD/tests/libfail_fsync.so"
[ -f "$SHIM" ] || fail "no $SHIM"
# Under ASan the shim is preloaded before the ASan runtime: allow it.
LD_PRELOAD="$SHIM" GB_FAIL_FSYNC_TRIGGER="$T/fail-fsync" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" gb_start_broker
out=$(gb_probe tax publish --dataset tax.open --seq 1 --records 1000 2>&1)
[ "$out" = "ack offset=0 count=1000 duplicate=0" ] || fail "publish before the fault: $out"
touch "$T/fail-fsync"
out=$(gb_probe tax publish --dataset tax.open --seq 2 --records 1000 2>&1)
echo "$out" | grep -q "^error status=500 " || fail "a failed fsync was not a 500: $out"
out=$(gb_probe tax publish --dataset tax.open --seq 2 --records 1000 2>&1)
echo "$out" | grep -q "^error status=500 " || fail "a second failed fsync was not a 500: $out"
kill -0 "$BROKER_PID" || fail "the broker died on a failed fsync"
rm "$T/fail-fsync"
# Never acked, so never stored: the retry is new, right after seq 1.
out=$(gb_probe tax publish --dataset tax.open --seq 2 --records 1000 2>&1)
[ "$out" = "ack offset=1000 count=1000 duplicate=0" ] || fail "after the fault: $out"
out=$(gb_agent social subscribe --dataset tax.open --from earliest --count 2000 2>&1 | tail -n 1)
[ "$out" = "probe-2-999" ] || fail "tax.open after the fault ends with '$out'"
gb_stop_broker
gb_verify_log tax.open >"$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"
grep -q "^tax.open: 2000 records" "$T/verify.txt" || fail "verify: $(cat "$T/verify.txt")"

echo "PASS disk-full: ENOSPC gives 507, a full map grows, a failed fsync gives 500; nothing partial stored, reads go on, retries store once"
