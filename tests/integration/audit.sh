#!/usr/bin/env bash
# Tamper evidence and audit. A real broker and agents make a log:
# records published under two policies, a replay, a refusal, a reload and a
# refused reload, checkpoints every few batches and one on request. The
# untouched log verifies clean online (govbus-agent audit verify, as an
# auditor pinning the broker key) and offline (govbus-audit export, then
# verify with nothing but the archive). Then each tamper of gb_tamper is
# applied to a fresh copy of the stopped broker's data dir; for each,
# offline verification must fail naming the right offset, and a broker
# started on the copy must stay up while online verification fails naming
# the same offset.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

AUDIT="$GB_BUILD/audit/govbus-audit"
TAMPER="$GB_BUILD/tests/gb_tamper"

gb_setup
# Small intervals so the log holds several checkpoints.
sed -i "s|^  key: \(.*\)$|  key: \1\n  checkpoint_batches: 4\n  checkpoint_seconds: 1|" \
	"$T/govbus.yaml"
cp "$T/govbus.yaml" "$T/govbus.orig.yaml"
BROKER_SIGN=$(gb_pub broker sign_key)
# The auditor pins the broker's checkpoint key.
cat >"$T/auditor.yaml" <<YAML
dept: audit
key: $T/keys/audit.key
broker: { endpoint: "$ENDPOINT", public_key: "$BROKER_KEY", sign_key: "$BROKER_SIGN" }
YAML

# A malformed pin is refused with the place it is at.
sed "s|sign_key: \"[^\"]*\"|sign_key: \"not-a-key\"|" "$T/auditor.yaml" >"$T/badpin.yaml"
out=$("$AGENT" --config "$T/badpin.yaml" audit verify --dataset tax.invoices 2>&1) &&
	fail "a malformed broker.sign_key was accepted"
echo "$out" | grep -q "broker.sign_key: not a base64 Ed25519" ||
	fail "malformed broker.sign_key: $out"

# expect_problem WHAT WANT CMD...: CMD must exit 1 (a problem found, not a
# usage error or a crash) and its output must contain WANT.
expect_problem() {
	local what=$1 want=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "$what: exit status $rc, expected 1: $out"
	echo "$out" | grep -qF -- "$want" || fail "$what: expected \"$want\" in: $out"
	echo "  $what: $(echo "$out" | grep -F -- "$want" | head -1)"
}

GB_WAIT_TENTHS=100 # wait_for (lib.sh): 10 s

gb_start_broker
grep -q "checkpoints signed by broker sign key $BROKER_SIGN" "$T/broker.log" ||
	fail "the start line does not print the broker's sign key"

# ---------------------------------------------------------------- a real log

seq 1 40 | gb_agent tax publish --dataset tax.invoices --batch 4 2>"$T/pub1.err" ||
	fail "publish: $(cat "$T/pub1.err")"
gb_agent health subscribe --dataset tax.invoices --count 40 >/dev/null 2>"$T/sub.err" ||
	fail "health replay: $(cat "$T/sub.err")"
expect_fail 403 "social without a grant" \
	gb_agent social subscribe --dataset tax.invoices --count 1

# A reload (second policy), then a refused one.
gb_write_config "$T/govbus.yaml" "2099-01-01" \
	"  - { dataset: tax.invoices, to: social, rights: [subscribe], purpose: \"fraud\", legal_basis: \"Act 3\", approved_by: \"board\", expires: 2099-01-01, history: none }"
sed -i "s|^  key: \(.*\)$|  key: \1\n  checkpoint_batches: 4\n  checkpoint_seconds: 1|" \
	"$T/govbus.yaml"
kill -HUP "$BROKER_PID"
wait_for 'grep -q "^govbus-broker: reloaded" "$T/broker.log"' || fail "no reload"
cp "$T/govbus.yaml" "$T/govbus.second.yaml"
echo "grants: [ {" >>"$T/govbus.yaml"
kill -HUP "$BROKER_PID"
wait_for 'grep -q "reload refused" "$T/broker.log"' || fail "bad config not refused"
cp "$T/govbus.second.yaml" "$T/govbus.yaml"

seq 41 60 | gb_agent tax publish --dataset tax.invoices --batch 4 2>"$T/pub2.err" ||
	fail "second publish: $(cat "$T/pub2.err")"

# A checkpoint on request covers the head.
out=$(gb_agent auditor audit checkpoint --dataset tax.invoices 2>&1) ||
	fail "checkpoint request: $out"
echo "$out" | grep -q "checkpoint at offset 60 (15 batches)" ||
	fail "checkpoint on request: $out"
echo "$out" | grep -q "(pinned)" || fail "checkpoint key not pinned: $out"
expect_fail 403 "checkpoint of a dataset social may not read" \
	gb_agent social audit checkpoint --dataset tax.closed
expect_fail 504 "an unregistered key" \
	gb_agent stranger audit checkpoint --dataset tax.open

# ---------------------------------------------------------------- online, clean

for stream in tax.invoices _audit; do
	out=$(gb_agent auditor audit verify --dataset "$stream" 2>&1) ||
		fail "online verify of clean $stream: $out"
	echo "$out" | grep -q "$stream: verified" || fail "verify $stream: $out"
	echo "$out" | grep -q "(pinned)" || fail "verify $stream not pinned: $out"
done
echo "$out" | grep -q "policy snapshots" || fail "no snapshots: $out"
out=$(gb_agent auditor audit verify --dataset tax.invoices 2>&1)
echo "$out" | grep -q "verified 15 batches, 60 records" || fail "counts: $out"
echo "$out" | grep -q "2 policy snapshots" || fail "two policies expected: $out"
# The owner may verify too (with the keys registered now); a department
# whose grant does not reach back may not.
gb_agent tax audit verify --dataset tax.invoices >/dev/null 2>&1 ||
	fail "the owner cannot verify its dataset"
expect_fail 403 "trail for a non-auditor" gb_agent health audit trail
expect_fail 403 "social verifies without replay" \
	gb_agent social audit verify --dataset tax.invoices

# ---------------------------------------------------------------- the trail

gb_agent auditor audit trail >"$T/trail.json" 2>"$T/trail.err" ||
	fail "trail: $(cat "$T/trail.err")"
head -1 "$T/trail.json" | grep -q '^{"offset":0,' || fail "trail is not JSON lines in a pipe"
grep -q '"kind":"denied","dept":"social","dataset":"tax.invoices","action":"subscribe","status":403,"detail":"no grant"' \
	"$T/trail.json" || fail "the denial of social is not in the trail"
grep -q '"kind":"replay","dept":"health","dataset":"tax.invoices"' "$T/trail.json" ||
	fail "health's replay is not in the trail"
grep -q '"kind":"connect","dept":"tax"' "$T/trail.json" || fail "no connect event"
grep -q '"kind":"key-wraps","dept":"tax","dataset":"tax.invoices"' "$T/trail.json" ||
	fail "no key-wrap event"
[ "$(grep -c '"kind":"policy-load"' "$T/trail.json")" -eq 2 ] ||
	fail "expected two policy loads in the trail"
grep -q '"kind":"policy-rejected".*YAML' "$T/trail.json" || fail "no rejected reload"
grep -q '"kind":"denied","dept":"social","dataset":"tax.closed","action":"checkpoint"' \
	"$T/trail.json" || fail "the refused checkpoint request is not in the trail"
grep -q '"kind":"key-refused".*is not registered' "$T/trail.json" ||
	fail "the refused CURVE key is not in the trail"
gb_agent auditor audit trail --dept social --format json >"$T/social.json"
[ -s "$T/social.json" ] && ! grep -v '"dept":"social"' "$T/social.json" >/dev/null ||
	fail "--dept social shows other departments"
gb_agent auditor audit trail --dataset tax.invoices --since 2000-01-01T00:00:00Z \
	--format table >"$T/trail.txt" 2>/dev/null || fail "trail --since"
head -1 "$T/trail.txt" | grep -q "^TIME" || fail "no table header"

gb_stop_broker
grep -q "stopped" "$T/broker.log" || fail "broker did not stop cleanly"

# ---------------------------------------------------------------- offline, clean

for stream in tax.invoices _audit; do
	"$AUDIT" export --data-dir "$T/data" --dataset "$stream" \
		--out "$T/$stream.arch" 2>"$T/export.err" ||
		fail "export $stream: $(cat "$T/export.err")"
	out=$("$AUDIT" verify --broker-key "$BROKER_SIGN" "$T/$stream.arch" 2>&1) ||
		fail "offline verify of clean $stream: $out"
	echo "$out" | grep -q "broker key $BROKER_SIGN (pinned)" || fail "key: $out"
done
out=$("$AUDIT" verify --broker-key "$BROKER_SIGN" "$T/tax.invoices.arch" 2>&1)
echo "$out" | grep -q "verified 15 batches, 60 records (offsets 0..59)" ||
	fail "offline counts: $out"
# Without a pin the key used is said to come from the archive.
out=$("$AUDIT" verify "$T/tax.invoices.arch" 2>&1) || fail "unpinned verify: $out"
echo "$out" | grep -q "NOT pinned" || fail "an unpinned verify does not say so"
# Another key, pinned, fails at the first checkpoint.
WRONG=$(gb_pub tax sign_key)
expect_problem "wrong pinned key" "signature does not verify under the broker key $WRONG" \
	"$AUDIT" verify --broker-key "$WRONG" "$T/tax.invoices.arch"
# A cut archive is noticed.
head -c $(( $(stat -c %s "$T/tax.invoices.arch") / 2 )) "$T/tax.invoices.arch" >"$T/cut.arch"
expect_problem "cut archive" "offset" "$AUDIT" verify --broker-key "$BROKER_SIGN" "$T/cut.arch"

# ---------------------------------------------------------------- tampering

# tamper NAME STREAM WANT GB_TAMPER-ARGS...: on a fresh copy of the data
# dir, offline and online verification of STREAM must fail with WANT.
tamper() {
	local name=$1 stream=$2 want=$3 copy="$T/case-$1"
	shift 3
	rm -rf "$copy"
	cp -a "$T/data" "$copy"
	rm -f "$copy/broker.lock"
	"$TAMPER" --data-dir "$copy" "$@" >"$T/tamper.out" 2>&1 ||
		fail "$name: gb_tamper failed: $(cat "$T/tamper.out")"
	"$AUDIT" export --data-dir "$copy" --dataset "$stream" \
		--out "$T/$name.arch" --broker-key "$BROKER_SIGN" 2>"$T/export.err" ||
		fail "$name: export failed: $(cat "$T/export.err")"
	expect_problem "$name (offline)" "$want" \
		"$AUDIT" verify --broker-key "$BROKER_SIGN" "$T/$name.arch"
	# A broker on the tampered copy: up, and caught online.
	sed "s|^  data_dir: .*|  data_dir: $copy|" "$T/govbus.second.yaml" >"$T/govbus.yaml"
	gb_start_broker
	expect_problem "$name (online)" "$want" \
		gb_agent auditor audit verify --dataset "$stream"
	kill -0 "$BROKER_PID" 2>/dev/null || fail "$name: the broker died"
	if [ "$name" = flip ]; then
		# A plain subscriber refuses the altered batch too.
		expect_problem "$name (subscriber)" "offset 20" \
			gb_agent health subscribe --dataset tax.invoices --count 60
	fi
	kill -0 "$BROKER_PID" 2>/dev/null || fail "$name: the broker died"
	gb_stop_broker
	echo "ok: $name caught ($want)"
}

tamper flip tax.invoices "offset 20:" flip --dataset tax.invoices --offset 20
tamper delete tax.invoices "offset 20:" delete --dataset tax.invoices --offset 20
tamper swap tax.invoices "offset 8:" swap --dataset tax.invoices --offset 8 --with 24
tamper truncate tax.invoices "offset 52:" truncate --dataset tax.invoices --batches 2
tamper forge tax.invoices "offset 60:" forge-checkpoint --dataset tax.invoices
tamper event _audit "offset 5:" alter-event --offset 5
# A forger who also recomputes the chain is caught by the first checkpoint
# the broker signed after the altered event.
first_cp=$("$TAMPER" --data-dir "$T/data" list --dataset _audit |
	awk '$1 == "checkpoint" && $2 > 5 { print $2; exit }')
[ -n "$first_cp" ] || fail "no audit-trail checkpoint after offset 5"
tamper rechain _audit "offset $first_cp: the chain does not match the checkpoint" \
	alter-event --offset 5 --rechain

cp "$T/govbus.orig.yaml" "$T/govbus.yaml"
echo "audit: ok"
