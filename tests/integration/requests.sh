#!/usr/bin/env bash
# Access requests: a department asks for a conditional dataset
# (`govbus-agent request`) and the request is stored as pending with id 1;
# asking again returns it; requests that make no sense are refused with a
# sentence (open: 400, closed and already granted: 409). The admins answer
# in the config: a grant added and a reload approve it (reason: the
# grant's approved_by); a refusal added and a restart refuse it (reason:
# the refusal's). The requester sees the status (`govbus-agent requests`),
# the admins every request from the data dir while the broker runs
# (`govbus-broker requests`).
. "$(dirname "$0")/lib.sh"
gb_setup
# A second conditional dataset, for the refusal.
sed -i '/id: tax.closed,/a\  - { id: tax.payroll, owner: tax, title: Payroll, sharing: conditional, classification: confidential }' \
	"$T/govbus.yaml"
grep -q "id: tax.payroll" "$T/govbus.yaml" || fail "could not add tax.payroll"
cp "$T/govbus.yaml" "$T/base.yaml"
gb_start_broker

# request DEPT DATASET: ask, print the stored request (one JSON line).
request() {
	gb_agent "$1" request --dataset "$2" --purpose "benefit checks for $2" \
		--legal-basis "Social Security Act s. 41" --rights subscribe,replay
}
# status_of DEPT ID: the status of request ID in DEPT's own list.
status_of() {
	gb_agent "$1" requests | grep -F "{\"id\":$2," | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}

out=$(request social tax.invoices 2>"$T/req.err") || fail "request failed: $(cat "$T/req.err")"
echo "$out" | grep -qF '{"id":1,"dept":"social","dataset":"tax.invoices","rights":["subscribe","replay"],"status":"pending"' ||
	fail "first request: $out"
grep -q "request 1 for tax.invoices: pending" "$T/req.err" || fail "no summary line: $(cat "$T/req.err")"
# Asking again returns the pending request.
out=$(request social tax.invoices 2>/dev/null) || fail "repeat failed"
echo "$out" | grep -qF '{"id":1,' || fail "repeat got another request: $out"
out=$(request social tax.payroll 2>/dev/null) || fail "second request failed"
echo "$out" | grep -qF '{"id":2,"dept":"social","dataset":"tax.payroll"' || fail "second request: $out"

# Requests that make no sense.
expect_fail 400 "request of an open dataset" request social tax.open
expect_fail 409 "request of a closed dataset" request social tax.closed
expect_fail 409 "request of a granted dataset" request health tax.invoices
expect_fail 409 "request of one's own dataset" request tax tax.invoices
expect_fail 404 "request of an unknown dataset" request social tax.nothing
err=$(request social tax.open 2>&1 || true)
echo "$err" | grep -q "tax.open is open" || fail "open refusal says: $err"
err=$(request health tax.invoices 2>&1 || true)
echo "$err" | grep -q "already granted" || fail "granted refusal says: $err"
# Bad options are usage errors (exit 2), before anything is sent.
rc=0; gb_agent social request --dataset tax.invoices --purpose "" --legal-basis x 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "empty purpose: exit $rc, expected 2"
rc=0; gb_agent social request --dataset tax.invoices --purpose p --legal-basis x --rights write 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "bad right: exit $rc, expected 2"

# Who sees what.
[ "$(gb_agent social requests | wc -l)" -eq 2 ] || fail "social lists $(gb_agent social requests)"
[ "$(gb_agent health requests | wc -l)" -eq 0 ] || fail "health sees others' requests"
"$BROKER" --config "$T/govbus.yaml" requests >"$T/admin.json" 2>"$T/admin.err" ||
	fail "govbus-broker requests (broker running) failed: $(cat "$T/admin.err")"
[ "$(grep -c '"status":"pending"' "$T/admin.json")" -eq 2 ] || fail "admin list: $(cat "$T/admin.json")"

# Approve by a grant and a reload.
gb_write_config "$T/govbus.yaml" "2099-01-01" \
	'  - { dataset: tax.invoices, to: social, rights: [subscribe], purpose: "benefit checks", legal_basis: "Act 12 s.5", approved_by: "board decision 2026/7", expires: 2099-01-01 }'
sed -i '/id: tax.closed,/a\  - { id: tax.payroll, owner: tax, title: Payroll, sharing: conditional, classification: confidential }' \
	"$T/govbus.yaml"
"$BROKER" --config "$T/govbus.yaml" reload >/dev/null 2>"$T/reload.err" ||
	fail "reload failed: $(cat "$T/reload.err")"
wait_for '[ "$(status_of social 1)" = approved ]' ||
	fail "request 1 not approved after the reload: $(gb_agent social requests)"
gb_agent social requests | grep -F '{"id":1,' | grep -qF '"reason":"board decision 2026/7"' ||
	fail "approval reason: $(gb_agent social requests)"
[ "$(status_of social 2)" = pending ] || fail "request 2 is no longer pending"
expect_fail 409 "request after approval" request social tax.invoices

# Refuse by a refusal and a restart (every load decides, not only reloads).
gb_stop_broker
cat >>"$T/govbus.yaml" <<'YAML'
refusals:
  - { dataset: tax.payroll, to: social, reason: "no statute allows it", refused_by: "board decision 2026/8", date: 2026-02-01 }
YAML
gb_start_broker
wait_for '[ "$(status_of social 2)" = refused ]' ||
	fail "request 2 not refused after the restart: $(gb_agent social requests)"
gb_agent social requests | grep -F '{"id":2,' | grep -qF '"reason":"no statute allows it"' ||
	fail "refusal reason: $(gb_agent social requests)"
err=$(request social tax.payroll 2>&1 || true)
echo "$err" | grep -q "(409).*refused on 2026-02-01" || fail "refused pair asked again: $err"

# The admins' list from the data dir, while the broker runs.
"$BROKER" --config "$T/govbus.yaml" requests >"$T/admin.json" || fail "admin list failed"
grep -F '{"id":1,' "$T/admin.json" | grep -qF '"status":"approved"' || fail "admin: $(cat "$T/admin.json")"
grep -F '{"id":2,' "$T/admin.json" | grep -qF '"status":"refused"' || fail "admin: $(cat "$T/admin.json")"
[ "$(wc -l <"$T/admin.json")" -eq 2 ] || fail "admin list has $(wc -l <"$T/admin.json") lines"
"$BROKER" --config "$T/govbus.yaml" requests | grep -q '"decided":"20' || fail "no decision time"
# The audit trail holds each request and each decision (auditor's view).
# A decision's event is appended after the decision itself is stored, so
# wait until the last one is there before reading the trail.
trail() {
	gb_agent audit audit trail --format json >"$T/trail.json" 2>"$T/trail.err" ||
		fail "audit trail: $(cat "$T/trail.err")"
}
wait_for 'trail; grep -qF "request 2 refused" "$T/trail.json"' || true
# No "grep | grep -q": -q exits at the first match, the first grep gets
# SIGPIPE and pipefail fails the check (it did, now and then).
grep -F '"access-request"' "$T/trail.json" >"$T/access.json" || true
grep -qF "request 1 recorded, pending" "$T/access.json" ||
	fail "request 1 not in the audit trail: $(grep -F access "$T/trail.json")"
grep -qF "request 1 approved" "$T/access.json" ||
	fail "approval of request 1 not in the audit trail: $(grep -F "access-request" "$T/trail.json")"
grep -qF "request 2 refused: no statute allows it" "$T/access.json" ||
	fail "refusal of request 2 not in the audit trail: $(grep -F "request 2" "$T/trail.json")"
echo "requests: pending -> approved (reload), pending -> refused (restart) OK"
