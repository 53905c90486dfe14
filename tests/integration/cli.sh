#!/usr/bin/env bash
# The command-line surface: --help everywhere, govbus-keys files and
# permissions, --check-config on good and bad configs.
. "$(dirname "$0")/lib.sh"
gb_setup

for cmd in "$KEYS" "$BROKER" "$AGENT"; do
	"$cmd" --help | grep -q "usage:" || fail "$cmd --help prints no usage"
done

[ "$(stat -c %a "$T/keys/tax.key")" = 600 ] || fail "tax.key is not mode 600"
[ "$(stat -c %s "$T/keys/tax.key")" = 32 ] || fail "tax.key is not 32 bytes"
"$KEYS" show "$T/keys/tax.key" >"$T/show.txt" || fail "keys show failed"
grep -q "^id: tax$" "$T/show.txt" || fail "keys show lacks id"
grep -q "sign_key: \"$(gb_pub tax sign_key)\"" "$T/show.txt" || fail "show and .pub disagree"
"$KEYS" new --dept tax --out "$T/keys" 2>/dev/null && fail "keys new overwrote a key"
chmod 644 "$T/keys/tax.key"
out=$("$KEYS" show "$T/keys/tax.key" 2>&1) && fail "a 0644 key was accepted"
echo "$out" | grep -q "chmod 600" || fail "permission error is unclear: $out"
chmod 600 "$T/keys/tax.key"

out=$("$BROKER" --config "$T/govbus.yaml" --check-config) || fail "good config refused: $out"
echo "$out" | grep -q "4 departments, 3 datasets, 1 grants" || fail "summary: $out"

sed 's/sharing: open/sharing: opne/' "$T/govbus.yaml" >"$T/bad.yaml"
out=$("$BROKER" --config "$T/bad.yaml" --check-config 2>&1) && fail "bad config accepted"
echo "$out" | grep -Eq "bad.yaml:[0-9]+:[0-9]+: .*sharing" || fail "bad config error lacks place: $out"
echo "PASS cli"
