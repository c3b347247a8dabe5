#!/usr/bin/env bats
# POST /hook on the real Nomad with its ACL system bootstrapped: what a
# token may do is Nomad's decision, and albatros says which token to fix.

load helpers
load real
load stack

setup_file() {
	export REAL_DIR=$BATS_FILE_TMPDIR
	real_consul_start
	real_nomad_start acl
	real_job_run "$TOP/hcl/demo.hcl"
	jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg i "$INJECT" \
		'{hook: {token: $t, secret: $s}, trusted: {senders: ["quentin"]}, inject: $i}' |
		alba-config -s "$REPO_URL" >/dev/null
	# A token that may read the builder but not dispatch it, and one that may.
	policy reader 'namespace "ci" { capabilities = ["read-job", "list-jobs"] }'
	policy dispatcher 'namespace "ci" { capabilities = ["read-job", "list-jobs", "dispatch-job"] }'
	READER_TOKEN=$(token reader)
	DISPATCH_TOKEN=$(token dispatcher)
	export READER_TOKEN DISPATCH_TOKEN
}

teardown_file() {
	real_stop
}

policy() {
	_real_nomad_api POST "/v1/acl/policy/$1" "$(jq -nc --arg n "$1" --arg r "$2" '{Name: $n, Rules: $r}')" >/dev/null
}

token() {
	_real_nomad_api POST /v1/acl/token "$(jq -nc --arg p "$1" '{Name: $p, Type: "client", Policies: [$p]}')" |
		jq -r .SecretID
}

# serve_with TOKEN: alba-serve behind socat with NOMAD_TOKEN=TOKEN ("" for none).
serve_with() {
	if [ -n "$1" ]; then export NOMAD_TOKEN=$1; else unset NOMAD_TOKEN; fi
	REAL_DIR=$BATS_TEST_TMPDIR real_serve_start
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
}

teardown() {
	REAL_DIR=$BATS_TEST_TMPDIR real_stop
}

@test "real ACL: a token without dispatch-job gives 502 with the permission message, and no build" {
	serve_with "$READER_TOKEN"
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 502 ]
	assert_equal "$body" "nomad refused: permission denied (Permission denied): check NOMAD_TOKEN"
	run -0 _real_nomad_api GET "/v1/jobs?namespace=ci&prefix=builder/dispatch-"
	assert_output '[]'
}

@test "real ACL: no token at all, the same" {
	serve_with ""
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 502 ]
	assert_equal "$body" "nomad refused: permission denied (Permission denied): check NOMAD_TOKEN"
}

@test "real ACL: a token with dispatch-job in NOMAD_TOKEN dispatches, and the secret stays out of answers" {
	serve_with "$DISPATCH_TOKEN"
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	[[ "$body" == builder/dispatch-* ]]
	run -0 _real_nomad_api GET "/v1/job/$(jq -rn --arg j "$body" '$j|@uri')?namespace=ci"
	[ "$(jq -r .Meta.REPO_URL <<<"$output")" = "$REPO_URL" ]
	[ "$(jq -r .Payload <<<"$output" | base64 -d)" = "$INJECT" ]
	run -0 cat "$BATS_TEST_TMPDIR/serve/serve.log"
	refute_output --partial "$DISPATCH_TOKEN"
	refute_output --partial sup3r-s3cr3t-value
}
