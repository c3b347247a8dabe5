#!/usr/bin/env bats
# Conformance of test/emu/consul.py with shared/api/consul-and-forges.md §A.

load helpers

# hdr NAME FILE: value of a response header (case-insensitive), CR stripped.
hdr() {
	grep -i "^$1:" "$2" | head -n1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}

# req ARGS...: curl into $BATS_TEST_TMPDIR/{h,b}, sets $code.
req() {
	code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -D "$BATS_TEST_TMPDIR/h" -w '%{http_code}' "$@")
}

put() { # put KEY VALUE [curl args]
	local k=$1 v=$2
	shift 2
	run curl -sS -X PUT --data-binary "$v" "$@" "$CONSUL_URL/v1/kv/$k"
	assert_success
	assert_output true
}

@test "missing key: 404, empty body, no Content-Type, X-Consul-* headers in Go spelling" {
	emu_start consul
	req "$CONSUL_URL/v1/kv/albatros/nope"
	[ "$code" = 404 ]
	[ ! -s "$BATS_TEST_TMPDIR/b" ]
	run grep -ci '^content-type:' "$BATS_TEST_TMPDIR/h"
	assert_output 0
	grep -q '^X-Consul-Index: [1-9]' "$BATS_TEST_TMPDIR/h"
	grep -q '^X-Consul-Knownleader: true' "$BATS_TEST_TMPDIR/h"
	grep -q '^X-Consul-Lastcontact: 0' "$BATS_TEST_TMPDIR/h"
	grep -q '^X-Consul-Default-Acl-Policy: allow' "$BATS_TEST_TMPDIR/h"
}

@test "GET returns a one-element array with the Go field order and std base64" {
	emu_start consul
	put albatros/k '{"hook":{"token":"t"}}>?'
	req "$CONSUL_URL/v1/kv/albatros/k"
	[ "$code" = 200 ]
	[ "$(hdr Content-Type "$BATS_TEST_TMPDIR/h")" = application/json ]
	run cat "$BATS_TEST_TMPDIR/b"
	assert_output --regexp '^\[\{"LockIndex":0,"Key":"albatros/k","Flags":0,"Value":"[A-Za-z0-9+/=]+","CreateIndex":[0-9]+,"ModifyIndex":[0-9]+\}\]$'
	run sh -c "jq -r '.[0].Value' '$BATS_TEST_TMPDIR/b' | base64 -d"
	assert_output '{"hook":{"token":"t"}}>?'
	idx=$(jq '.[0].ModifyIndex' "$BATS_TEST_TMPDIR/b")
	[ "$(hdr X-Consul-Index "$BATS_TEST_TMPDIR/h")" = "$idx" ]
}

@test "?raw: raw bytes, text/plain, nosniff, CSP sandbox; flag by presence" {
	emu_start consul
	put albatros/r 'hello world'
	for q in raw raw= raw=false; do
		req "$CONSUL_URL/v1/kv/albatros/r?$q"
		[ "$code" = 200 ]
		[ "$(cat "$BATS_TEST_TMPDIR/b")" = "hello world" ]
	done
	[ "$(hdr Content-Type "$BATS_TEST_TMPDIR/h")" = text/plain ]
	[ "$(hdr X-Content-Type-Options "$BATS_TEST_TMPDIR/h")" = nosniff ]
	[ "$(hdr Content-Security-Policy "$BATS_TEST_TMPDIR/h")" = sandbox ]
	req "$CONSUL_URL/v1/kv/albatros/none?raw"
	[ "$code" = 404 ]
}

@test "percent-decoded key path; empty value is null; empty key is 400 Missing key name" {
	emu_start consul
	put 'albatros/a%2Fb' x
	run curl -sS "$CONSUL_URL/v1/kv/albatros/a/b"
	assert_output --partial '"Key":"albatros/a/b"'
	curl -sS -X PUT --data-binary '' "$CONSUL_URL/v1/kv/albatros/folder/" >/dev/null
	run curl -sS "$CONSUL_URL/v1/kv/albatros/folder/"
	assert_output --partial '"Value":null'
	req "$CONSUL_URL/v1/kv/"
	[ "$code" = 400 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "Missing key name" ]
}

@test "?recurse is a string prefix; ?keys&separator=/ folds; 404 when nothing" {
	emu_start consul
	put albatros/abc 1
	put albatros/abcdef 2
	put albatros/sub/x 3
	put other 4
	run sh -c "curl -sS '$CONSUL_URL/v1/kv/albatros/abc?recurse' | jq -c '[.[].Key]'"
	assert_output '["albatros/abc","albatros/abcdef"]'
	run curl -sS "$CONSUL_URL/v1/kv/albatros/?keys&separator=/"
	assert_output '["albatros/abc","albatros/abcdef","albatros/sub/"]'
	run curl -sS "$CONSUL_URL/v1/kv/albatros/?keys&seperator=/"
	assert_output '["albatros/abc","albatros/abcdef","albatros/sub/"]'
	req "$CONSUL_URL/v1/kv/zzz?recurse"
	[ "$code" = 404 ]
	req "$CONSUL_URL/v1/kv/zzz?keys"
	[ "$code" = 404 ]
}

@test "personality 1.21.5 refuses + with the 500 text; legacy and 1.22 accept it" {
	emu_start consul --personality 1.21.5
	key='albatros/aHR0cHM6Ly9oby9+dS9yLmdpdA=='
	req -X PUT --data-binary v "$CONSUL_URL/v1/kv/$key"
	[ "$code" = 500 ]
	run cat "$BATS_TEST_TMPDIR/b"
	assert_output 'invalid key name, keys should respect the "^[a-zA-Z0-9,_./\-?&=]+$" format'
	req "$CONSUL_URL/v1/kv/$key"
	[ "$code" = 500 ]
	# = and / from base64 are fine
	put 'albatros/aHR0cHM6Ly9oby8/dS9yLmdpdA==' v
	emu_stop
	emu_start consul --personality legacy
	put "$key" v
	run curl -sS "$CONSUL_URL/v1/kv/$key?raw"
	assert_output v
	emu_stop
	emu_start consul --personality 1.22
	put "$key" v
	# a decoded ../ never reaches the handler (ServeMux 301); an encoded one does
	req -X PUT --data-binary v "$CONSUL_URL/v1/kv/albatros/..%2Fescape"
	[ "$code" = 301 ]
	req -X PUT --data-binary v "$CONSUL_URL/v1/kv/albatros/..%252fescape"
	[ "$code" = 400 ]
	req -X PUT --data-binary v "$CONSUL_URL/v1/kv/albatros/trailing%20"
	[ "$code" = 400 ]
}

@test "blocking query returns when the key changes and not before" {
	emu_start consul --no-jitter
	put albatros/w one
	idx=$(curl -sS -D - -o /dev/null "$CONSUL_URL/v1/kv/albatros/w" | hdr X-Consul-Index /dev/stdin)
	# nothing changes: waits the whole 1s, same index
	start=$(date +%s%N)
	req "$CONSUL_URL/v1/kv/albatros/w?index=$idx&wait=1s"
	el=$((($(date +%s%N) - start) / 1000000))
	[ "$code" = 200 ]
	[ "$el" -ge 950 ]
	[ "$(hdr X-Consul-Index "$BATS_TEST_TMPDIR/h")" = "$idx" ]
	# a write to another key does not wake a watch on an existing key
	(sleep 0.3; curl -sS -X PUT -d x "$CONSUL_URL/v1/kv/albatros/other" >/dev/null
	 sleep 0.4; curl -sS -X PUT -d two "$CONSUL_URL/v1/kv/albatros/w" >/dev/null) 3>&- &
	writer=$!
	start=$(date +%s%N)
	run curl -sS "$CONSUL_URL/v1/kv/albatros/w?index=$idx&wait=5s"
	el=$((($(date +%s%N) - start) / 1000000))
	wait "$writer"
	assert_output --partial "\"Value\":\"$(printf two | base64)\""
	[ "$el" -ge 600 ]
	[ "$el" -lt 3000 ]
	# index=0 never blocks
	start=$(date +%s%N)
	curl -sS -o /dev/null "$CONSUL_URL/v1/kv/albatros/w?index=0&wait=5s"
	[ $((($(date +%s%N) - start) / 1000000)) -lt 1000 ]
}

@test "bad wait and index are 400 with the documented texts" {
	emu_start consul
	req "$CONSUL_URL/v1/kv/a?index=1&wait=10"
	[ "$code" = 400 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "Invalid wait time" ]
	req "$CONSUL_URL/v1/kv/a?index=x"
	[ "$code" = 400 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "Invalid index" ]
	req "$CONSUL_URL/v1/kv/a?stale&consistent"
	[ "$code" = 400 ]
}

@test "ACL: anonymous, unknown token, lacking permission, and token precedence" {
	emu_start consul --acl --token good=albatros/ --management-token root
	put albatros/k v -H 'X-Consul-Token: root'
	put secret/k v "-H" "X-Consul-Token: root"
	req "$CONSUL_URL/v1/kv/albatros/k"
	[ "$code" = 403 ]
	[ "$(hdr Content-Type "$BATS_TEST_TMPDIR/h")" = "text/plain; charset=utf-8" ]
	[ "$(hdr X-Consul-Default-Acl-Policy "$BATS_TEST_TMPDIR/h")" = deny ]
	run cat "$BATS_TEST_TMPDIR/b"
	# (the legacy personality: Consul 1.14.5's text)
	assert_output "Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' lacks permission 'key:read' on \"albatros/k\""
	req -H 'X-Consul-Token: nope' "$CONSUL_URL/v1/kv/albatros/k"
	[ "$code" = 403 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "ACL not found" ]
	req -H 'X-Consul-Token: good' "$CONSUL_URL/v1/kv/secret/k"
	[ "$code" = 403 ]
	run cat "$BATS_TEST_TMPDIR/b"
	assert_output --regexp "^Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission 'key:read' on \"secret/k\"$"
	# each source alone
	req -H 'X-Consul-Token: good' "$CONSUL_URL/v1/kv/albatros/k"; [ "$code" = 200 ]
	req -H 'Authorization: bEaReR good extra' "$CONSUL_URL/v1/kv/albatros/k"; [ "$code" = 200 ]
	req "$CONSUL_URL/v1/kv/albatros/k?token=good"; [ "$code" = 200 ]
	req -H 'Authorization: Basic good' "$CONSUL_URL/v1/kv/albatros/k"; [ "$code" = 403 ]
	# precedence: ?token > X-Consul-Token > Authorization
	req -H 'X-Consul-Token: good' "$CONSUL_URL/v1/kv/albatros/k?token=nope"
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "ACL not found" ]
	req -H 'X-Consul-Token: nope' -H 'Authorization: Bearer good' "$CONSUL_URL/v1/kv/albatros/k"
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "ACL not found" ]
	req -H 'X-Consul-Token: good' -H 'Authorization: Bearer nope' "$CONSUL_URL/v1/kv/albatros/k"
	[ "$code" = 200 ]
	# a recurse over an unreadable prefix is 404, not 403
	req -H 'X-Consul-Token: good' "$CONSUL_URL/v1/kv/secret/?recurse"
	[ "$code" = 404 ]
	[ "$(hdr X-Consul-Results-Filtered-By-Acls "$BATS_TEST_TMPDIR/h")" = true ]
}

@test "personality 1.21.5: the anonymous token's 403 says it is anonymous" {
	emu_start consul --acl --personality 1.21.5
	req "$CONSUL_URL/v1/kv/albatros/k"
	[ "$code" = 403 ]
	run cat "$BATS_TEST_TMPDIR/b"
	assert_output "Permission denied: anonymous token lacks permission 'key:read' on \"albatros/k\". The anonymous token is used implicitly when a request does not specify a token."
}

@test "rpc-prefix mode prefixes the 403 texts" {
	emu_start consul --acl --rpc-prefix
	req -H 'X-Consul-Token: nope' "$CONSUL_URL/v1/kv/a"
	[ "$code" = 403 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "rpc error making call: ACL not found" ]
}

@test "?ns on CE is 400, ?dc other than dc1 is 500, // is a 301, oversized PUT is 413" {
	emu_start consul
	req "$CONSUL_URL/v1/kv/a?ns=default"
	[ "$code" = 400 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature' ]
	req -H 'X-Consul-Namespace: x' "$CONSUL_URL/v1/kv/a"
	[ "$code" = 400 ]
	req "$CONSUL_URL/v1/kv/a?dc=dc1"
	[ "$code" = 404 ]
	req "$CONSUL_URL/v1/kv/a?dc=eu"
	[ "$code" = 500 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = "No path to datacenter" ]
	req "$CONSUL_URL/v1/kv/bad%2f%2fkey?raw"
	[ "$code" = 301 ]
	[ "$(hdr Location "$BATS_TEST_TMPDIR/h")" = "/v1/kv/bad/key?raw" ]
	head -c 524289 /dev/zero >"$BATS_TEST_TMPDIR/big"
	req -X PUT --data-binary "@$BATS_TEST_TMPDIR/big" "$CONSUL_URL/v1/kv/big"
	[ "$code" = 413 ]
	run cat "$BATS_TEST_TMPDIR/b"
	assert_output --partial 'Request body(524289 bytes) too large, max size: 524288 bytes.'
	head -c 524288 /dev/zero >"$BATS_TEST_TMPDIR/big"
	req -X PUT --data-binary "@$BATS_TEST_TMPDIR/big" "$CONSUL_URL/v1/kv/big"
	[ "$code" = 200 ]
	req -X POST "$CONSUL_URL/v1/kv/a"
	[ "$code" = 405 ]
}

@test "DELETE, cas, control routes and recorded requests" {
	emu_start consul
	put a 1
	run curl -sS -X PUT -d 2 "$CONSUL_URL/v1/kv/a?cas=0"
	assert_output false
	run curl -sS -X DELETE "$CONSUL_URL/v1/kv/a"
	assert_output true
	req "$CONSUL_URL/v1/kv/a"
	[ "$code" = 404 ]
	curl -sS -X POST -d '{"key":"albatros/x+y","value":"{\"a\":1}"}' "$CONSUL_URL/_emu/consul/kv" >/dev/null
	run sh -c "curl -sS '$CONSUL_URL/_emu/consul/kv' | jq -r '.[\"albatros/x+y\"].value'"
	assert_output '{"a":1}'
	run emu_requests "$CONSUL_URL" '[.[] | .method] | join(",")'
	assert_output '"PUT,PUT,DELETE,GET"'
	# an index that goes backwards (emulated restore)
	curl -sS -X POST -d '{"index":1}' "$CONSUL_URL/_emu/consul/index" >/dev/null
	req "$CONSUL_URL/v1/kv/albatros/x+y"
	[ "$(hdr X-Consul-Index "$BATS_TEST_TMPDIR/h")" = 1 ]
	# faults from emucore
	emu_fault "$CONSUL_URL" '{"path":"/v1/kv/","status":500,"body":"boom","times":1}'
	req "$CONSUL_URL/v1/kv/albatros/x+y"
	[ "$code" = 500 ]
	req "$CONSUL_URL/v1/kv/albatros/x+y"
	[ "$code" = 200 ]
}

@test "TLS with a required client certificate (emucore options)" {
	d=$BATS_TEST_TMPDIR/pki
	mkdir -p "$d"
	cd "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=test-ca -keyout ca.key -out ca.crt 2>/dev/null
	for n in server client; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=$n.dc1.consul" -keyout $n.key -out $n.csr 2>/dev/null
		printf 'subjectAltName=DNS:server.dc1.consul,IP:127.0.0.1\n' >ext
		openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
			-extfile ext -out $n.crt 2>/dev/null
	done
	emu_start consul --tls-cert server.crt --tls-key server.key --tls-client-ca ca.crt
	U="https://127.0.0.1:$CONSUL_PORT/v1/kv/a"
	run curl -sS --cacert ca.crt "$U"
	assert_failure
	req --cacert ca.crt --cert client.crt --key client.key "$U"
	[ "$code" = 404 ]
	req --cacert ca.crt --cert client.crt --key client.key \
		--resolve "server.dc1.consul:$CONSUL_PORT:127.0.0.1" "https://server.dc1.consul:$CONSUL_PORT/v1/kv/a"
	[ "$code" = 404 ]
}
