# Shared by bench/publish and bench/compare: build the benchmark tree,
# a temporary directory that goes away at exit with every process started
# here, free ports, and a govbus broker with keys and a config in it.
#
# Source from the repository root after `set -euo pipefail`; then call
# bench_init once.

. scripts/lib/common.sh

# A release build of its own, so the normal build/ keeps its options.
BENCH_BUILD=${BENCH_BUILD:-$PWD/build-bench}
BENCH_PIDS=()
BENCH_DIR=""

# bench_build [meson options]: configure build-bench (release, -O2: the
# agent does not build warning-free at -O3 with -Werror) and build it.
bench_build() {
	if [ -f "$BENCH_BUILD/build.ninja" ] && [ $# -gt 0 ]; then
		meson configure "$BENCH_BUILD" "$@" >/dev/null
	fi
	gb_build "$BENCH_BUILD" --buildtype=release -Doptimization=2 "$@"
}

# Stop every process started with bench_spawn (TERM, then KILL after 5 s)
# and remove the temporary directory unless BENCH_KEEP is set.
bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	BENCH_PIDS=()
	if [ -n "$BENCH_DIR" ]; then
		if [ -n "${BENCH_KEEP:-}" ]; then
			echo "kept $BENCH_DIR" >&2
		else
			rm -rf "$BENCH_DIR"
		fi
	fi
}

# bench_init: make BENCH_DIR and arrange the cleanup.
bench_init() {
	BENCH_DIR=$(mktemp -d /tmp/govbus-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# bench_spawn LOG CMD...: start CMD in the background, stdout and stderr to
# LOG, remembered for cleanup; its pid is left in SPAWNED.
bench_spawn() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	SPAWNED=$!
	BENCH_PIDS+=("$SPAWNED")
}

# bench_stop PID: stop one process started with bench_spawn and wait for it.
bench_stop() {
	local pid=$1 p keep=()
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${BENCH_PIDS[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	BENCH_PIDS=("${keep[@]}")
}

# A TCP port on 127.0.0.1 nothing listens on right now.
bench_free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port" >&2
	return 1
}

# bench_wait_port PORT: wait up to 10 s until something listens on PORT.
bench_wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# bench_wait_idle SECS: wait up to SECS seconds until the CPUs are at
# least 90 % idle over 2 s (other builds and tests share the two cores).
# Returns 1, after saying so, if they never were.
bench_wait_idle() {
	local deadline=$((SECONDS + $1)) a b
	while :; do
		a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
		sleep 2
		b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
		if awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
			busy = y[1] - x[1]; idle = y[2] - x[2];
			exit !(busy + idle > 0 && busy / (busy + idle) < 0.1) }'; then
			return 0
		fi
		if [ $SECONDS -ge "$deadline" ]; then
			echo "bench: the machine stayed busy for $1 s; measuring anyway" >&2
			return 1
		fi
	done
}

# bench_vmrss PID: resident set size in KiB (VmRSS of /proc/PID/status).
bench_vmrss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ------------------------------------------------------------ govbus

# bench_govbus_setup DIR DATASET...: keys for broker, tax and social in
# DIR/keys; DIR/govbus.yaml where tax owns each DATASET (conditional,
# granted to social for subscribe and replay) with the log in DIR/data;
# agent configs DIR/pub.yaml (tax) and DIR/sub.yaml (social). Sets
# GOVBUS_PORT.
bench_govbus_setup() {
	local dir=$1 id ds
	shift
	local keys="$BENCH_BUILD/keys/govbus-keys"
	mkdir -p "$dir/keys"
	for id in broker tax social; do
		"$keys" new --dept $id --out "$dir/keys" >/dev/null
	done
	GOVBUS_PORT=$(bench_free_port)
	pub() { sed -n "s/^$2: \"\(.*\)\"$/\1/p" "$dir/keys/$1.pub"; }
	{
		echo "broker: { listen: \"tcp://127.0.0.1:$GOVBUS_PORT\", data_dir: $dir/data, key: $dir/keys/broker.key }"
		echo "departments:"
		for id in tax social; do
			echo "  - { id: $id, name: $id, sign_key: \"$(pub $id sign_key)\", box_key: \"$(pub $id box_key)\" }"
		done
		echo "datasets:"
		for ds in "$@"; do
			echo "  - { id: $ds, owner: tax, title: bench, sharing: conditional, classification: internal }"
		done
		echo "grants:"
		for ds in "$@"; do
			echo "  - { dataset: $ds, to: social, rights: [subscribe, replay], purpose: bench, legal_basis: bench, approved_by: bench, expires: 2099-12-31 }"
		done
	} >"$dir/govbus.yaml"
	for id in tax social; do
		cat >"$dir/$([ $id = tax ] && echo pub || echo sub).yaml" <<YAML
dept: $id
key: $dir/keys/$id.key
broker: { endpoint: "tcp://127.0.0.1:$GOVBUS_PORT", public_key: "$(pub broker box_key)", timeout: 30 }
YAML
	done
}

# bench_govbus_start DIR: start the broker of DIR/govbus.yaml and wait
# until it listens. Sets GOVBUS_PID.
bench_govbus_start() {
	local dir=$1
	# Many idle agents need many descriptors.
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	bench_spawn "$dir/broker.log" "$BENCH_BUILD/broker/govbus-broker" --config "$dir/govbus.yaml"
	GOVBUS_PID=$SPAWNED
	for _ in $(seq 100); do
		grep -q "listening on" "$dir/broker.log" && return 0
		kill -0 "$GOVBUS_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "govbus-broker did not start:" >&2
	cat "$dir/broker.log" >&2
	bench_stop "$GOVBUS_PID"
	return 1
}
