# Shared harness for integration tests: real govbus processes on 127.0.0.1
# with keys, config and LMDB data in a fresh temporary directory.
#
# Meson runs each test with GB_BUILD set to the build directory. Every test
# sources this file, calls gb_setup, then gb_start_broker, and fails with
# `fail "why"`, which prints the broker log to help whoever reads the output.
set -euo pipefail

: "${GB_BUILD:?GB_BUILD must point at the meson build directory}"
KEYS="$GB_BUILD/keys/govbus-keys"
BROKER="$GB_BUILD/broker/govbus-broker"
AGENT="$GB_BUILD/agent/govbus-agent"
PROBE="$GB_BUILD/tests/gb_probe"

T=$(mktemp -d /tmp/govbus-it.XXXXXX)
BROKER_PID=""

gb_cleanup() {
	# Every process a test starts names a file under $T on its command
	# line; background agents run in subshells, so kill by that, not by pid.
	pkill -9 -f -- "$T/" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ -z "${GB_KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T"; fi
}
trap gb_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/broker.log" ]; then
		echo "---- broker log (last 40 lines) ----" >&2
		tail -n 40 "$T/broker.log" >&2
	fi
	exit 1
}

# A TCP port on 127.0.0.1 nothing listens on right now.
gb_free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Value of KEY ("sign_key" or "box_key") in DIR/ID.pub.
gb_pub() {
	sed -n "s/^$2: \"\(.*\)\"$/\1/p" "$T/keys/$1.pub"
}

# gb_setup: keys for the broker and tax, health, social, audit; a config
# where tax owns tax.invoices (conditional, granted to health), tax.open
# (open) and tax.closed (closed); agent configs for every department.
gb_setup() {
	PORT=$(gb_free_port) || fail "no free port"
	ENDPOINT="tcp://127.0.0.1:$PORT"
	mkdir -p "$T/keys"
	for id in broker tax health social audit; do
		"$KEYS" new --dept "$id" --out "$T/keys" >/dev/null
	done
	# A department whose key the registry never hears of.
	"$KEYS" new --dept stranger --out "$T/keys" >/dev/null
	BROKER_KEY=$(gb_pub broker box_key)
	gb_write_config "$T/govbus.yaml" "2099-01-01"
	for id in tax health social audit stranger; do
		gb_agent_config "$id"
	done
}

gb_dept() { # id name [role]
	local role=""
	[ -n "${3:-}" ] && role=", role: $3"
	echo "  - { id: $1, name: \"$2\"$role, sign_key: \"$(gb_pub "$1" sign_key)\", box_key: \"$(gb_pub "$1" box_key)\" }"
}

# gb_write_config FILE GRANT_EXPIRY [extra grant lines]
gb_write_config() {
	local file=$1 expires=$2
	shift 2
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
$(gb_dept audit "National Audit Office" auditor)
datasets:
  - { id: tax.invoices, owner: tax, title: VAT invoices, sharing: conditional, classification: internal }
  - { id: tax.open, owner: tax, title: Published statistics, sharing: open, classification: public }
  - { id: tax.closed, owner: tax, title: Investigations, sharing: closed, classification: confidential }
grants:
  - { dataset: tax.invoices, to: health, rights: [subscribe, replay], purpose: "benefit checks", legal_basis: "Act 12 s.4", approved_by: "board", expires: $expires, history: all }
YAML
		for extra in "$@"; do echo "$extra"; done
	} >"$file"
}

gb_agent_config() {
	cat >"$T/$1.yaml" <<YAML
dept: $1
key: $T/keys/$1.key
broker: { endpoint: "$ENDPOINT", public_key: "$BROKER_KEY" }
YAML
}

# Start the broker and wait until it listens. The log is appended to across
# restarts, so wait for one more "listening on" line than it held before.
gb_start_broker() {
	local before attempt old
	before=$(grep -c "listening on" "$T/broker.log" 2>/dev/null || true)
	for attempt in 1 2 3 4 5; do
		"$BROKER" --config "$T/govbus.yaml" >>"$T/broker.log" 2>&1 &
		BROKER_PID=$!
		for _ in $(seq 1 100); do
			if [ "$(grep -c "listening on" "$T/broker.log" 2>/dev/null || true)" -gt "${before:-0}" ]; then
				return 0
			fi
			kill -0 "$BROKER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$BROKER_PID" 2>/dev/null && fail "broker did not start listening"
		# A test running in parallel may have bound the port between
		# gb_free_port and our bind. On the first start no agent knows the
		# port yet, so move this test's configs to another one.
		if [ "${before:-0}" -eq 0 ] && grep -q "cannot listen" "$T/broker.log"; then
			old=$PORT
			PORT=$(gb_free_port) || fail "no free port"
			ENDPOINT="tcp://127.0.0.1:$PORT"
			sed -i "s/127\.0\.0\.1:$old/127.0.0.1:$PORT/" "$T"/*.yaml
			continue
		fi
		fail "broker exited at start"
	done
	fail "broker could not find a free port"
}

gb_kill_broker() {
	kill -9 "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || true
	BROKER_PID=""
}

# Stop the broker cleanly (SIGTERM) and wait for it.
gb_stop_broker() {
	kill -TERM "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || true
	BROKER_PID=""
}

# Resident memory of process $1 in KiB (VmRSS).
gb_rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Anonymous resident memory of process $1 in KiB (RssAnon): heap and
# queues, without the LMDB file pages a reader maps (those count in VmRSS
# and grow with the data read, not with leaks).
gb_rss_anon_kib() {
	awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

# gb_chunk_publisher DATASET CHUNK MORE_CMD: publish chunks of CHUNK records
# "DATASET-K-I" to DATASET as tax, one agent process per chunk, while
# MORE_CMD succeeds. Each chunk K is kept as $T/DATASET.chunk.K and its
# outcome appended to $T/DATASET.chunks: "K ok FIRST LAST" (the agent exited
# 0, so every record was acked, at offsets FIRST..LAST by its summary line)
# or "K failed". Used by scripts/crash and scripts/soak.
gb_chunk_publisher() {
	local ds=$1 chunk=$2 more=$3 k=0 f
	while eval "$more"; do
		k=$((k + 1))
		f="$T/$ds.chunk.$k"
		seq 1 "$chunk" | sed "s/^/$ds-$k-/" >"$f"
		if "$AGENT" --config "$T/tax.yaml" publish --dataset "$ds" \
			--batch 250 "$f" 2>"$f.err"; then
			echo "$k ok $(sed -n 's/.*(offsets \([0-9]*\)\.\.\([0-9]*\)).*/\1 \2/p' "$f.err")"
		else
			echo "$k failed"
		fi >>"$T/$ds.chunks"
	done
}

# gb_account DATASET: replay DATASET (its stored count from gb_verify_log's
# report in $T/verify.txt) and compare it with the chunks of
# gb_chunk_publisher. Prints one line and sets ACC_STORED, ACC_ACKED,
# ACC_LOST (acked, not in the log), ACC_DUP (in the log more than once),
# ACC_UNACKED (stored though its agent failed) and ACC_MOVED (acked chunks
# not exactly at the offsets their agent reported).
gb_account() {
	local ds=$1 k status first last failed
	ACC_STORED=$(sed -n "s/^$ds: \([0-9]*\) records.*/\1/p" "$T/verify.txt")
	gb_agent tax subscribe --dataset "$ds" --from earliest --count "$ACC_STORED" \
		>"$T/$ds.log" 2>"$T/$ds.replay.err" ||
		fail "replay of $ds: $(cat "$T/$ds.replay.err")"
	: >"$T/$ds.acked"
	while read -r k status first last; do
		[ "$status" != ok ] || cat "$T/$ds.chunk.$k" >>"$T/$ds.acked"
	done <"$T/$ds.chunks"
	# One pass over the log: the lines at FIRST..LAST of each acked chunk
	# (chunks of one publisher are in offset order) must be the chunk.
	ACC_MOVED=$(awk -v pre="$T/$ds.chunk." '
		NR == FNR { if ($2 == "ok") { n++; K[n] = $1; F[n] = $3; L[n] = $4 }
			    next }
		FNR == 1 { c = 1 }
		{
			off = FNR - 1
			while (c <= n && off > L[c]) { finish(c); c++ }
			if (c <= n && off >= F[c] &&
			    ((getline line < (pre K[c])) <= 0 || line != $0))
				bad[c] = 1
		}
		function finish(i) {
			if ((getline line < (pre K[i])) > 0) bad[i] = 1
			close(pre K[i])
		}
		END {
			if (!c) c = 1
			for (; c <= n; c++) # a chunk past the end of the log is bad
				if (L[c] <= off) finish(c); else bad[c] = 1
			for (i in bad) moved++
			print moved + 0
		}' "$T/$ds.chunks" "$T/$ds.log")
	sort -u "$T/$ds.acked" >"$T/$ds.acked.sorted"
	sort "$T/$ds.log" >"$T/$ds.log.sorted"
	ACC_ACKED=$(wc -l <"$T/$ds.acked")
	ACC_LOST=$(sort -u "$T/$ds.log.sorted" | comm -23 "$T/$ds.acked.sorted" - | wc -l)
	ACC_DUP=$(uniq -d "$T/$ds.log.sorted" | wc -l)
	ACC_UNACKED=$(sort -u "$T/$ds.log.sorted" | comm -13 "$T/$ds.acked.sorted" - | wc -l)
	failed=$(grep -c failed "$T/$ds.chunks" || true)
	printf '   %-13s %8d stored, %8d acked, %d lost, %d duplicated, %d unacked stored (%d failed chunks)\n' \
		"$ds" "$ACC_STORED" "$ACC_ACKED" "$ACC_LOST" "$ACC_DUP" "$ACC_UNACKED" "$failed"
}

# Check the stopped broker's log offline (tests/gb_verify_log.c): dense
# offsets and the hash chain of every stream. Prints its report.
gb_verify_log() {
	"$GB_BUILD/tests/gb_verify_log" --config "$T/govbus.yaml" "$@"
}

# wait_for 'CONDITION' [TENTHS]: poll CONDITION every 0.1 s until it holds;
# 1 after TENTHS polls (default $GB_WAIT_TENTHS, else 600). A hang guard,
# never a performance bound.
wait_for() {
	for _ in $(seq 1 "${2:-${GB_WAIT_TENTHS:-600}}"); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

# lines FILE: its line count, 0 while it does not exist.
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# gb_reload: have the running broker reload $T/govbus.yaml with the reload
# command and wait until it logged the reload.
gb_reload() {
	local before
	before=$(grep -c "reloaded $T/govbus.yaml" "$T/broker.log" || true)
	"$BROKER" --config "$T/govbus.yaml" reload >"$T/reload.out" 2>&1 ||
		fail "reload command failed: $(cat "$T/reload.out")"
	wait_for '[ "$(grep -c "reloaded $T/govbus.yaml" "$T/broker.log" || true)" -gt "$before" ]' ||
		fail "no reload logged"
}

# Run the agent CLI as department $1 with the remaining arguments.
gb_agent() {
	local dept=$1
	shift
	"$AGENT" --config "$T/$dept.yaml" "$@"
}

gb_probe() {
	local dept=$1
	shift
	"$PROBE" --endpoint "$ENDPOINT" --broker-key "$BROKER_KEY" \
		--key "$T/keys/$dept.key" --dept "$dept" "$@"
}

# expect_fail STATUS DESCRIPTION CMD...: CMD must exit non-zero and its
# stderr must mention "(STATUS)" or "status=STATUS".
expect_fail() {
	local status=$1 what=$2
	shift 2
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: succeeded, expected a $status refusal"
	echo "$out" | grep -Eq "\($status\)|status=$status" ||
		fail "$what: expected status $status, got: $out"
}
