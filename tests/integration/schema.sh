#!/usr/bin/env bash
# Schemas and JSON records with the real broker and agents.
#
#   json          tax publishes business registrations as JSON lines; health
#                 subscribes with --format json and gets them back in the
#                 proto3 JSON mapping, which publishes again unchanged
#   bad-file      a file with one bad line in the middle: the agent exits
#                 non-zero naming the line and the field, and the dataset's
#                 stream stays empty
#   bad-stdin     the same on a pipe with --batch 3: the batches before the
#                 bad record's are stored, nothing of its own
#   wire          a delimited protobuf record of the wrong wire type, an
#                 unknown field, a bad enum name are refused by field path
#   no-schema     publish --format json to a dataset without a schema is an
#                 error; subscribe --format json keeps metadata + base64
#   catalog       agents without a pinned schema get it from the broker's
#                 catalog, to convert records and to check them
. "$(dirname "$0")/lib.sh"
gb_setup
DESC="$GB_BUILD/config/examples/schemas/business.desc"
TYPE=govbus.examples.BusinessRegistration
[ -f "$DESC" ] || fail "no $DESC: build the example schema first"

cat >"$T/govbus.yaml" <<YAML
broker:
  listen: "$ENDPOINT"
  data_dir: $T/data
  key: $T/keys/broker.key
departments:
$(gb_dept tax "Tax Bureau")
$(gb_dept health "Health Authority")
$(gb_dept social "Social Security")
$(gb_dept audit "National Audit Office" auditor)
schemas: [$DESC]
datasets:
  - { id: tax.registrations, owner: tax, title: Business registrations, sharing: conditional, classification: internal, schema: $TYPE }
  - { id: tax.staged, owner: tax, title: Staged registrations, sharing: open, classification: public, schema: $TYPE }
  - { id: tax.plain, owner: tax, title: Plain text, sharing: open, classification: public }
grants:
  - { dataset: tax.registrations, to: health, rights: [subscribe, replay], purpose: "checks", legal_basis: "Act 1", approved_by: "board", expires: 2099-01-01 }
  - { dataset: tax.registrations, to: social, rights: [subscribe, replay], purpose: "checks", legal_basis: "Act 1", approved_by: "board", expires: 2099-01-01 }
YAML
# tax and health pin the schema offline; social relies on the catalog.
for id in tax health; do
	cat >>"$T/$id.yaml" <<YAML
schemas:
  tax.registrations: { type: $TYPE, descriptor_set: $DESC }
  tax.staged: { type: $TYPE, descriptor_set: $DESC }
YAML
done
"$BROKER" --config "$T/govbus.yaml" --check-config >/dev/null ||
	fail "the registry with schemas was refused"
gb_start_broker

reg() { # N [extra JSON members]: one registration as a JSON line
	echo "{\"registration_id\":\"MR-$1\",\"name\":\"Firm $1\",\"legal_form\":\"LIMITED_COMPANY\",\"registered_on\":\"2026-03-14\",\"capital_cents\":\"${1}00\",\"address\":{\"street\":\"$1 Quay Road\",\"city\":\"Portsmouth\",\"postcode\":\"PO1 3AB\"},\"activities\":[\"46.19\"],\"owners\":[{\"name\":\"A. Marsh\",\"share_percent\":60},{\"name\":\"J. Okafor\",\"share_percent\":40}],\"flags\":{\"vat_registered\":true}${2:-}}"
}
expect_empty() { # DATASET FROM: nothing at FROM within 2 s
	if gb_agent tax subscribe --dataset "$1" --from "$2" --timeout 2 \
		>"$T/empty.out" 2>"$T/empty.err"; then
		fail "$1 has records from $2: $(cat "$T/empty.out")"
	fi
	grep -q "no record of $1 arrived within 2 s" "$T/empty.err" ||
		fail "subscribe to $1 failed otherwise: $(cat "$T/empty.err")"
	[ ! -s "$T/empty.out" ] || fail "$1 printed records: $(cat "$T/empty.out")"
}

# ---------------------------------------------------------------- bad-file
{ reg 1; reg 2; reg 3 | sed 's/"capital_cents":"300"/"capital_cents":"lots"/'
  reg 4; reg 5; } >"$T/bad.jsonl"
if gb_agent tax publish --dataset tax.registrations --format json --batch 2 \
	"$T/bad.jsonl" 2>"$T/bad.err"; then
	fail "a file with a bad line was published"
fi
grep -q "input rejected (400): $T/bad.jsonl: line 3: capital_cents: \"lots\" is not a whole number (int64); nothing was published" "$T/bad.err" ||
	fail "the refusal does not name line 3 and the field: $(cat "$T/bad.err")"
expect_empty tax.registrations earliest
echo "ok bad-file: line 3 refused by field, the stream stayed empty"

# ---------------------------------------------------------------- json
{ reg 1; reg 2; reg 3; } >"$T/good.jsonl"
gb_agent tax publish --dataset tax.registrations --format json "$T/good.jsonl" \
	2>"$T/good.err" || fail "good JSON publish: $(cat "$T/good.err")"
grep -q "published 3 records in 1 batches to tax.registrations (offsets 0..2)" "$T/good.err" ||
	fail "unexpected summary: $(cat "$T/good.err")"
gb_agent health subscribe --dataset tax.registrations --count 3 --format json \
	>"$T/health.jsonl" 2>"$T/health.err" || fail "health subscribe: $(cat "$T/health.err")"
want='{"registrationId":"MR-2","name":"Firm 2","legalForm":"LIMITED_COMPANY","registeredOn":"2026-03-14","capitalCents":"200","address":{"street":"2 Quay Road","city":"Portsmouth","postcode":"PO1 3AB"},"activities":["46.19"],"owners":[{"name":"A. Marsh","sharePercent":60.0},{"name":"J. Okafor","sharePercent":40.0}],"flags":{"vat_registered":true}}'
[ "$(sed -n 2p "$T/health.jsonl")" = "$want" ] ||
	fail "health's JSON differs: $(sed -n 2p "$T/health.jsonl")"
# the output is input again: published to tax.staged and read back equal
gb_agent tax publish --dataset tax.staged --format json "$T/health.jsonl" \
	2>"$T/again.err" || fail "republishing the JSON output: $(cat "$T/again.err")"
gb_agent tax subscribe --dataset tax.staged --count 3 --format json >"$T/again.jsonl" \
	2>"$T/again-sub.err" || fail "reading tax.staged: $(cat "$T/again-sub.err")"
cmp -s "$T/health.jsonl" "$T/again.jsonl" || fail "the JSON round trip changed records"
echo "ok json: 3 records in as JSON, out as proto3 JSON, and round trip unchanged"

# ---------------------------------------------------------------- bad-stdin
# --batch 3: records 4..6 are published, 7 and 8 share line 9's batch.
for n in 4 5 6 7 8; do reg "$n"; done >"$T/pipe.jsonl"
reg 9 | sed 's/LIMITED_COMPANY/GMBH/' >>"$T/pipe.jsonl"
reg 10 >>"$T/pipe.jsonl"
if cat "$T/pipe.jsonl" | gb_agent tax publish --dataset tax.registrations \
	--format json --batch 3 2>"$T/pipe.err"; then
	fail "a pipe with a bad record was published"
fi
grep -q "published 3 records in 1 batches to tax.registrations (offsets 3..5)" "$T/pipe.err" ||
	fail "the batch before the bad record was not published alone: $(cat "$T/pipe.err")"
grep -q 'standard input: line 6: legal_form: "GMBH" is not a value of govbus.examples.LegalForm' "$T/pipe.err" ||
	fail "the refusal does not name line 6 and the field: $(cat "$T/pipe.err")"
grep -q "the 2 records before it in its batch were not published" "$T/pipe.err" ||
	fail "the dropped batch is not reported: $(cat "$T/pipe.err")"
gb_agent health subscribe --dataset tax.registrations --from 3 --count 3 --format json \
	>"$T/pipe.out" 2>"$T/pipe-sub.err" || fail "reading offsets 3..5: $(cat "$T/pipe-sub.err")"
[ "$(grep -c '"registrationId":"MR-[456]"' "$T/pipe.out")" -eq 3 ] ||
	fail "offsets 3..5 are not records 4..6: $(cat "$T/pipe.out")"
expect_empty tax.registrations 6
echo "ok bad-stdin: the batch before line 6 was stored, nothing of its own"

# ---------------------------------------------------------------- wire
# delimited protobuf: capital_cents (5) sent length-delimited
printf '\x03\x2a\x01x' >"$T/wire.bin"
if gb_agent tax publish --dataset tax.staged --format delimited "$T/wire.bin" 2>"$T/wire.err"; then
	fail "a record of the wrong wire type was published"
fi
grep -q "record 1: capital_cents: expected int64 (varint), found length-delimited" "$T/wire.err" ||
	fail "wrong wire type not named: $(cat "$T/wire.err")"
reg 11 ', "colour":"blue"' >"$T/unknown.jsonl"
if gb_agent tax publish --dataset tax.staged --format json "$T/unknown.jsonl" 2>"$T/unknown.err"; then
	fail "an unknown JSON field was published"
fi
grep -q 'line 1: colour: unknown field (not in govbus.examples.BusinessRegistration)' "$T/unknown.err" ||
	fail "unknown field not named: $(cat "$T/unknown.err")"
echo '{"owners":[{"name":"x","share_percent":"much"}]}' >"$T/nested.jsonl"
if gb_agent tax publish --dataset tax.staged --format json "$T/nested.jsonl" 2>"$T/nested.err"; then
	fail "a bad nested value was published"
fi
grep -q 'line 1: owners\[0\].share_percent: "much" is not a number (double)' "$T/nested.err" ||
	fail "nested path not named: $(cat "$T/nested.err")"
expect_empty tax.staged 3
echo "ok wire: wrong wire type, unknown field and nested errors refused by path"

# ---------------------------------------------------------------- no-schema
if echo '{"a":1}' | gb_agent tax publish --dataset tax.plain --format json 2>"$T/plain.err"; then
	fail "JSON was published to a dataset without a schema"
fi
grep -q "publish refused (400): tax.plain has no schema" "$T/plain.err" ||
	fail "unclear error for JSON without a schema: $(cat "$T/plain.err")"
echo 'plain text' | gb_agent tax publish --dataset tax.plain 2>/dev/null ||
	fail "plain publish failed"
gb_agent health subscribe --dataset tax.plain --count 1 --format json >"$T/plain.json" \
	2>"$T/plain-sub.err" || fail "plain subscribe: $(cat "$T/plain-sub.err")"
grep -q '"dataset":"tax.plain","offset":0,.*"payload_base64":"cGxhaW4gdGV4dA=="' "$T/plain.json" ||
	fail "JSON without a schema changed: $(cat "$T/plain.json")"
echo "ok no-schema: JSON input refused, JSON output is metadata and base64"

# ---------------------------------------------------------------- catalog
gb_agent social catalog --format json >"$T/catalog.jsonl" 2>"$T/catalog.err" ||
	fail "social's catalog: $(cat "$T/catalog.err")"
grep -q "\"id\":\"tax.registrations\".*\"schema\":\"$TYPE\"" "$T/catalog.jsonl" ||
	fail "the catalog does not name the schema: $(cat "$T/catalog.jsonl")"
gb_agent social subscribe --dataset tax.registrations --count 3 --format json \
	>"$T/social.jsonl" 2>"$T/social.err" || fail "social subscribe: $(cat "$T/social.err")"
cmp -s "$T/health.jsonl" "$T/social.jsonl" ||
	fail "the catalog's schema converted differently: $(cat "$T/social.jsonl")"
# tax without its pin: the publisher checks against the catalog's schema
sed '/^schemas:/,$d' "$T/tax.yaml" >"$T/tax-catalog.yaml"
reg 12 | sed 's/"capital_cents":"1200"/"capital_cents":1.5/' >"$T/cat-bad.jsonl"
if "$AGENT" --config "$T/tax-catalog.yaml" publish --dataset tax.staged --format json \
	"$T/cat-bad.jsonl" 2>"$T/cat-bad.err"; then
	fail "a bad record was published with the catalog's schema"
fi
grep -q "line 1: capital_cents: 1.5 is not a whole number (int64)" "$T/cat-bad.err" ||
	fail "the catalog's schema did not name the field: $(cat "$T/cat-bad.err")"
reg 12 | "$AGENT" --config "$T/tax-catalog.yaml" publish --dataset tax.staged \
	--format json 2>"$T/cat-good.err" || fail "catalog publish: $(cat "$T/cat-good.err")"
grep -q "(offsets 3..3)" "$T/cat-good.err" || fail "unexpected: $(cat "$T/cat-good.err")"
echo "ok catalog: social converted and tax checked records with the catalog's schema"

kill -0 "$BROKER_PID" || fail "broker died"
echo "PASS schema"
