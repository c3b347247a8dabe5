#!/usr/bin/env bats
# The conformance run (issue 10) for Consul: each wire fact
# test/emu-consul.bats asserts that needs no fault control, asked of the
# emulator and of the real Consul 1.14.5 (test/real.bash, `consul agent
# -dev`), whose answers must agree.  A probe prints one line per fact, with
# indexes left out or turned into relations; `both` compares.  The
# differences found are in docs/real-services.md.

load helpers
. "$TOP/test/real.bash"

setup_file() {
	# One emulator and one real Consul for the file: each test's keys have
	# a prefix of their own.  --pretty: `consul agent -dev` indents its JSON.
	EMU_DIR=$BATS_FILE_TMPDIR emu_start consul --pretty
	EMU_U=$CONSUL_URL
	real_consul_start
	REAL_U=$CONSUL_URL
	export EMU_U REAL_U
}

teardown_file() {
	emu_stop
	real_stop
}

setup() {
	K=t$BATS_TEST_NUMBER
}

# both PROBE: the probe's lines from the emulator and from the real Consul
# must be the same, and not empty.
both() {
	local d=$BATS_TEST_TMPDIR
	U=$EMU_U "$@" >"$d/emu.out"
	U=$REAL_U "$@" >"$d/real.out"
	[ -s "$d/real.out" ] || { echo "probe $1 said nothing" >&2; return 1; }
	diff -u --label emulator --label "real consul" "$d/emu.out" "$d/real.out"
}

say() {
	local n=$1
	shift
	printf '%s: %s\n' "$n" "$*"
}

# req PATH [CURL ARGS...]: $code; body in $B, headers in $H.
req() {
	local p=$1
	shift
	B=$BATS_TEST_TMPDIR/b H=$BATS_TEST_TMPDIR/h
	code=$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$@" "$U$p")
}

hdr() { grep -i "^$1:" "$H" | head -n1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'; }

# answer NAME: status and body (JSON-quoted, every byte).
answer() { say "$1" "$code $(jq -Rsc . <"$B")"; }

put() { curl -sS -X PUT --data-binary "$2" "$U/v1/kv/$1"; echo; }

# ---- probes

p_missing() {
	req "/v1/kv/$K/nope"
	answer missing
	say content-type "$(grep -ci '^content-type:' "$H")"
	say index "$(hdr X-Consul-Index | grep -c '^[1-9]')"
	say known-leader "$(hdr X-Consul-Knownleader)"
	say last-contact "$(hdr X-Consul-Lastcontact)"
	say default-acl "$(hdr X-Consul-Default-Acl-Policy)"
}

p_get() {
	say put "$(put "$K/k" '{"hook":{"token":"t"}}>?')"
	req "/v1/kv/$K/k"
	say code "$code"
	say content-type "$(hdr Content-Type)"
	say keys "$(jq -c '.[0] | keys_unsorted' "$B")"
	say compact "$(head -c 2 "$B")$(tail -c 2 "$B" | od -An -c | tr -d ' ')"
	say value "$(jq -r '.[0].Value' "$B" | base64 -d)"
	say index-is-modify "$([ "$(hdr X-Consul-Index)" = "$(jq '.[0].ModifyIndex' "$B")" ] && echo yes)"
	say types "$(jq -c '.[0] | map_values(type)' "$B")"
}

p_raw() {
	put "$K/r" 'hello world' >/dev/null
	for q in raw raw= raw=false; do
		req "/v1/kv/$K/r?$q"
		answer "$q"
	done
	say content-type "$(hdr Content-Type)"
	say nosniff "$(hdr X-Content-Type-Options)"
	say csp "$(hdr Content-Security-Policy)"
	req "/v1/kv/$K/none?raw"
	say missing "$code"
}

p_keys() {
	put "$K/a%2Fb" x >/dev/null
	req "/v1/kv/$K/a/b"
	say decoded "$(jq -c '.[0].Key' "$B" | sed "s|$K|K|")"
	put "$K/folder/" '' >/dev/null
	req "/v1/kv/$K/folder/"
	say empty-value "$(jq -c '.[0].Value' "$B")"
	req /v1/kv/
	answer no-key
	put "$K/abc" 1 >/dev/null
	put "$K/abcdef" 2 >/dev/null
	put "$K/sub/x" 3 >/dev/null
	req "/v1/kv/$K/abc?recurse"
	say recurse "$(jq -c '[.[].Key]' "$B" | sed "s|$K|K|g")"
	req "/v1/kv/$K/?keys&separator=/"
	say keys "$(sed "s|$K|K|g" "$B")"
	req "/v1/kv/$K/?keys&seperator=/"
	say seperator "$(sed "s|$K|K|g" "$B")"
	req "/v1/kv/$K/zzz?recurse"
	say recurse-none "$code"
	req "/v1/kv/$K/zzz?keys"
	say keys-none "$code"
}

p_plus() {
	local key="$K/aHR0cHM6Ly9oby9+dS9yLmdpdA=="
	req "/v1/kv/$key" -X PUT --data-binary v
	answer put-plus
	req "/v1/kv/$key?raw"
	answer get-plus
}

p_blocking() {
	put "$K/w" one >/dev/null
	req "/v1/kv/$K/w"
	local idx bg t0 ms
	idx=$(hdr X-Consul-Index)
	t0=$(date +%s%N)
	req "/v1/kv/$K/w?index=$idx&wait=1s"
	ms=$((($(date +%s%N) - t0) / 1000000))
	say waited "$code $([ "$ms" -ge 950 ] && echo yes || echo "$ms ms")"
	say same-index "$([ "$(hdr X-Consul-Index)" = "$idx" ] && echo yes)"
	(sleep 0.3; curl -sS -X PUT -d x "$U/v1/kv/$K/other" >/dev/null
	 sleep 0.4; curl -sS -X PUT -d two "$U/v1/kv/$K/w" >/dev/null) 3>&- &
	bg=$!
	t0=$(date +%s%N)
	req "/v1/kv/$K/w?index=$idx&wait=5s"
	ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$bg"
	say woken "$(jq -r '.[0].Value | @base64d' "$B") $([ "$ms" -ge 600 ] && [ "$ms" -lt 3000 ] && echo in-time || echo "$ms ms")"
	t0=$(date +%s%N)
	req "/v1/kv/$K/w?index=0&wait=5s"
	say index-0 "$([ $((($(date +%s%N) - t0) / 1000000)) -lt 1000 ] && echo at-once)"
}

p_bad_query() {
	req "/v1/kv/$K/a?index=1&wait=10"
	answer bad-wait
	req "/v1/kv/$K/a?index=x"
	answer bad-index
	req "/v1/kv/$K/a?stale&consistent"
	say stale-consistent "$code"
	req "/v1/kv/$K/a?ns=default"
	answer ns
	req "/v1/kv/$K/a" -H 'X-Consul-Namespace: x'
	say ns-header "$code"
	req "/v1/kv/$K/a?dc=dc1"
	say dc1 "$code"
	req "/v1/kv/$K/a?dc=eu"
	answer dc-other
	req "/v1/kv/$K/bad%2f%2fkey?raw"
	say double-slash "$code $(hdr Location | sed "s|$K|K|")"
	head -c 524289 /dev/zero >"$BATS_TEST_TMPDIR/big"
	req "/v1/kv/$K/big" -X PUT --data-binary "@$BATS_TEST_TMPDIR/big"
	# (the link that follows differs: www.consul.io in 1.14.5)
	say too-big "$code $(sed 's/ See https:.*//' "$B")"
	head -c 524288 /dev/zero >"$BATS_TEST_TMPDIR/big"
	req "/v1/kv/$K/big" -X PUT --data-binary "@$BATS_TEST_TMPDIR/big"
	say at-limit "$code"
	req "/v1/kv/$K/a" -X POST
	answer post
}

p_delete_cas() {
	put "$K/a" 1 >/dev/null
	say cas-0 "$(curl -sS -X PUT -d 2 "$U/v1/kv/$K/a?cas=0")"
	say delete "$(curl -sS -X DELETE "$U/v1/kv/$K/a")"
	req "/v1/kv/$K/a"
	say gone "$code"
	say delete-missing "$(curl -sS -X DELETE "$U/v1/kv/$K/a")"
}

# ---- the tests

@test "missing key: 404, empty body, no Content-Type, X-Consul-* headers" { both p_missing; }
@test "GET: one-element array, field order, std base64, X-Consul-Index" { both p_get; }
@test "?raw: raw bytes, text/plain, nosniff, CSP sandbox; flag by presence" { both p_raw; }
@test "keys: percent-decoded, empty value null, 400 Missing key name, recurse, keys" { both p_keys; }
@test "a key with + (Consul 1.14.5 is the emulator's legacy personality)" { both p_plus; }
@test "blocking query: the wait, a wake-up, index=0" { both p_blocking; }
@test "bad wait, index, ns, dc, //, 413, 405" { both p_bad_query; }
@test "DELETE and cas" { both p_delete_cas; }

# ---- with ACLs: a second real Consul, default policy deny, and the
# emulator with the same tokens

# p_acl: the 403s and the token sources.
p_acl() {
	req "/v1/kv/albatros/k"
	say anonymous "$code $(jq -Rsc . <"$B")"
	say content-type "$(hdr Content-Type)"
	say default-acl "$(hdr X-Consul-Default-Acl-Policy)"
	req "/v1/kv/albatros/k" -H "X-Consul-Token: $NOPE"
	say unknown "$code $(jq -Rsc . <"$B")"
	req "/v1/kv/secret/k" -H "X-Consul-Token: $GOOD"
	say lacking "$code $(sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/ACCESSOR/' "$B")"
	req "/v1/kv/albatros/k" -H "X-Consul-Token: $GOOD"; say x-consul-token "$code"
	req "/v1/kv/albatros/k" -H "Authorization: bEaReR $GOOD extra"; say bearer-any-case "$code"
	req "/v1/kv/albatros/k?token=$GOOD"; say query "$code"
	req "/v1/kv/albatros/k" -H "Authorization: Basic $GOOD"; say basic "$code"
	req "/v1/kv/albatros/k?token=$NOPE" -H "X-Consul-Token: $GOOD"; say query-wins "$code $(cat "$B")"
	req "/v1/kv/albatros/k" -H "X-Consul-Token: $NOPE" -H "Authorization: Bearer $GOOD"; say header-wins "$code $(cat "$B")"
	req "/v1/kv/secret/?recurse" -H "X-Consul-Token: $GOOD"
	say recurse-unreadable "$code $(hdr X-Consul-Results-Filtered-By-Acls)"
}

@test "ACL: anonymous, unknown token, lacking permission, token sources and precedence" {
	local emu_u=$EMU_U real_u=$REAL_U
	GOOD=$(python3 -c 'import uuid; print(uuid.uuid4())')
	NOPE=$(python3 -c 'import uuid; print(uuid.uuid4())')
	REAL_DIR=$BATS_TEST_TMPDIR real_consul_start acl
	local m=$REAL_CONSUL_MGMT
	curl -sSf -X PUT -H "X-Consul-Token: $m" --data '{"Name":"albatros","Rules":"key_prefix \"albatros/\" { policy = \"read\" }"}' \
		"$CONSUL_URL/v1/acl/policy" >/dev/null
	curl -sSf -X PUT -H "X-Consul-Token: $m" --data "{\"SecretID\":\"$GOOD\",\"Policies\":[{\"Name\":\"albatros\"}]}" \
		"$CONSUL_URL/v1/acl/token" >/dev/null
	REAL_U=$CONSUL_URL
	emu_start consul --pretty --acl --token "$GOOD=albatros/" --management-token "$m"
	EMU_U=$CONSUL_URL
	for U in "$EMU_U" "$REAL_U"; do
		curl -sSf -X PUT -H "X-Consul-Token: $m" -d v "$U/v1/kv/albatros/k" >/dev/null
		curl -sSf -X PUT -H "X-Consul-Token: $m" -d v "$U/v1/kv/secret/k" >/dev/null
	done
	run both p_acl
	REAL_DIR=$BATS_TEST_TMPDIR real_stop
	EMU_U=$emu_u REAL_U=$real_u
	[ "$status" = 0 ] || { echo "$output"; return 1; }
}
