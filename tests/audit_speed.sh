#!/usr/bin/env bash
# Offline verification speed: the log bench/publish writes —
# 100,000 records of 300 bytes published by the real agent (sealed,
# signed) in batches of 1,000 — exported with govbus-audit export, then
# verified with govbus-audit verify three times on one core. Prints each
# run's records/s (wall clock) and per CPU second, and the best of each.
# Target: >= 500,000 records/s.
#
#   GB_BUILD=build bash tests/audit_speed.sh [--records N] [--size B] [--batch N]
#
# GB_KEEP_ARCHIVE=FILE keeps the archive for profiling.
set -euo pipefail
. "$(dirname "$0")/integration/lib.sh"

N=100000 SIZE=300 BATCH=1000
while [ $# -gt 0 ]; do
	case $1 in
	--records) N=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--batch) BATCH=$2; shift 2 ;;
	*) echo "audit_speed: unknown argument $1" >&2; exit 2 ;;
	esac
done

gb_setup
gb_start_broker
awk -v n="$N" -v size="$SIZE" 'BEGIN {
	pad = sprintf("%*s", size, ""); gsub(/ /, "x", pad)
	for (i = 0; i < n; i++) { s = sprintf("rec-%09d-", i); print s substr(pad, 1, size - length(s)) }
}' >"$T/input.txt"
gb_agent tax publish --dataset tax.invoices --batch "$BATCH" "$T/input.txt"
gb_stop_broker
"$GB_BUILD/audit/govbus-audit" export --data-dir "$T/data" \
	--dataset tax.invoices --out "$T/log.arch"
ls -l "$T/log.arch" | awk '{ printf "archive: %.1f MB\n", $5 / 1e6 }'
best=0 best_cpu=0
for run in 1 2 3; do
	out=$(taskset -c 0 "$GB_BUILD/audit/govbus-audit" verify \
		--broker-key "$(gb_pub broker sign_key)" "$T/log.arch" 2>/dev/null)
	echo "run $run: $out"
	rate=$(echo "$out" | sed -n 's/.* \([0-9]*\) records\/s (.*/\1/p')
	cpu=$(echo "$out" | sed -n "s/.*(\([0-9]*\) per CPU second)$/\1/p")
	[ "$rate" -gt "$best" ] && best=$rate
	[ "$cpu" -gt "$best_cpu" ] && best_cpu=$cpu
done
echo "best: $best records/s wall clock, $best_cpu records per CPU second (target 500000)"
[ -n "${GB_KEEP_ARCHIVE:-}" ] && cp "$T/log.arch" "$GB_KEEP_ARCHIVE" && echo "archive kept in $GB_KEEP_ARCHIVE (broker key $(gb_pub broker sign_key))"
