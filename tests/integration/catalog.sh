#!/usr/bin/env bash
# The catalog as each department sees it, through
# `govbus-agent catalog` in a pipe (JSON lines): the owner sees its own
# datasets, closed ones too, with every right; a grantee sees the
# conditional dataset with its grant's rights and details; a department
# without a grant still sees it, with no rights (what it may request); no
# one but the owner and auditors sees a closed dataset; an auditor sees
# everything. Catalog metadata from the config comes along. `--format
# table` and `govbus-broker registry` are checked too.
. "$(dirname "$0")/lib.sh"
gb_setup
# Catalog metadata on tax.invoices.
sed -i 's/{ id: tax.invoices, owner: tax, title: VAT invoices,/{ id: tax.invoices, owner: tax, title: VAT invoices, description: "Every invoice as filed", conditions: "Statutory checks only", format: protobuf, contact: "data@tax.example", available_since: 2024-01-01,/' \
	"$T/govbus.yaml"
grep -q 'available_since: 2024-01-01' "$T/govbus.yaml" || fail "could not add catalog metadata"
gb_start_broker

for d in tax health social audit; do
	gb_agent "$d" catalog >"$T/cat-$d.json" 2>"$T/cat-$d.err" ||
		fail "$d: catalog failed: $(cat "$T/cat-$d.err")"
done

# entry DEPT DATASET: the JSON line of DATASET in DEPT's catalog ("" if none).
entry() { grep -F "{\"id\":\"$2\"," "$T/cat-$1.json" || true; }
# expect_entry DEPT DATASET FRAGMENT...: listed, with every fragment.
expect_entry() {
	local dept=$1 ds=$2 line
	shift 2
	line=$(entry "$dept" "$ds")
	[ -n "$line" ] || fail "$dept: $ds is not in its catalog: $(cat "$T/cat-$dept.json")"
	for frag in "$@"; do
		echo "$line" | grep -qF -- "$frag" ||
			fail "$dept: $ds lacks $frag: $line"
	done
}
expect_absent() {
	[ -z "$(entry "$1" "$2")" ] || fail "$1: $2 is listed but must not be: $(entry "$1" "$2")"
}
count() { wc -l <"$T/cat-$1.json"; }

all='"rights":["publish","subscribe","replay","read-content"]'
readable='"rights":["subscribe","replay","read-content"]'

# The owner: all three, every right.
[ "$(count tax)" -eq 3 ] || fail "tax: expected 3 datasets, got $(cat "$T/cat-tax.json")"
expect_entry tax tax.invoices "$all" '"sharing":"conditional"'
expect_entry tax tax.open "$all"
expect_entry tax tax.closed "$all" '"sharing":"closed"'

# The grantee: the grant's rights and details; the closed one is hidden.
[ "$(count health)" -eq 2 ] || fail "health: expected 2 datasets, got $(cat "$T/cat-health.json")"
expect_entry health tax.invoices "$readable" '"grant_purpose":"benefit checks"' \
	'"grant_legal_basis":"Act 12 s.4"' '"grant_expires":"2099-01-01T00:00:00Z"' \
	'"history":"all"' '"owner":"tax"' '"description":"Every invoice as filed"' \
	'"conditions":"Statutory checks only"' '"format":"protobuf"' \
	'"contact":"data@tax.example"' '"available_since":"2024-01-01"' \
	'"classification":"internal"' '"title":"VAT invoices"'
expect_entry health tax.open "$readable" '"sharing":"open"' '"grant_purpose":""'
expect_absent health tax.closed

# No grant: the conditional dataset is listed with no rights, so it can be
# requested; the closed one is hidden.
[ "$(count social)" -eq 2 ] || fail "social: expected 2 datasets, got $(cat "$T/cat-social.json")"
expect_entry social tax.invoices '"rights":[]' '"grant_purpose":""' '"grant_expires":""' \
	'"description":"Every invoice as filed"'
expect_entry social tax.open "$readable"
expect_absent social tax.closed

# The auditor: everything; content of the closed (metadata-only) dataset no.
[ "$(count audit)" -eq 3 ] || fail "audit: expected 3 datasets, got $(cat "$T/cat-audit.json")"
expect_entry audit tax.closed '"rights":["subscribe","replay"]'
expect_entry audit tax.invoices '"rights":["subscribe","replay"]'

# Each line is one JSON object (python's parser agrees, when it is here).
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$T/cat-health.json" ||
		fail "health's catalog is not JSON lines"
fi

# A table when asked (or on a terminal): a heading and one row each.
gb_agent social catalog --format table >"$T/cat-social.txt" ||
	fail "catalog --format table failed"
head -n 1 "$T/cat-social.txt" | grep -q "^DATASET  *OWNER  *SHARING" ||
	fail "table heading: $(head -n 1 "$T/cat-social.txt")"
[ "$(wc -l <"$T/cat-social.txt")" -eq 3 ] || fail "table rows: $(cat "$T/cat-social.txt")"
grep -q "^tax.invoices .* conditional .* - " "$T/cat-social.txt" ||
	fail "table: tax.invoices without rights: $(cat "$T/cat-social.txt")"

# The registry as the admins see it, from the config alone.
"$BROKER" --config "$T/govbus.yaml" registry >"$T/registry.json" ||
	fail "govbus-broker registry failed"
[ "$(grep -c '"kind":"department"' "$T/registry.json")" -eq 4 ] || fail "registry: departments: $(cat "$T/registry.json")"
[ "$(grep -c '"kind":"dataset"' "$T/registry.json")" -eq 3 ] || fail "registry: datasets"
[ "$(grep -c '"kind":"grant"' "$T/registry.json")" -eq 1 ] || fail "registry: grants"
grep -F '"kind":"dataset","id":"tax.invoices"' "$T/registry.json" |
	grep -qF '"available_since":"2024-01-01"' || fail "registry: metadata missing"
echo "catalog: owner, grantee, no grant, auditor views and registry OK"
