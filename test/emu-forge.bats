#!/usr/bin/env bats
# Conformance of test/emu/forge.py with shared/api/consul-and-forges.md §C, §D3.

load helpers

SHA=2222222222222222222222222222222222222222

hdr() {
	grep -i "^$1:" "$2" | head -n1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}

req() {
	code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -D "$BATS_TEST_TMPDIR/h" -w '%{http_code}' "$@")
}

body() { cat "$BATS_TEST_TMPDIR/b"; }

gitea() {
	emu_start forge --kind "${1:-gitea}" --repo acme/widget --token w1 --read-only-token r1
}

post_status() { # post_status AUTH-HEADER JSON [path-sha]
	req -X POST -H "$1" -H 'Content-Type: application/json' --data-binary "$2" \
		"$FORGE_URL/api/v1/repos/acme/widget/statuses/${3:-$SHA}"
}

@test "gitea: 201 with the state under status, charset content type, trimmed fields" {
	gitea
	post_status 'Authorization: token w1' \
		'{"state":"pending","target_url":" https://ci/b/1 ","description":"  Build queued\n","context":" albatros/build "}'
	[ "$code" = 201 ]
	[ "$(hdr Content-Type "$BATS_TEST_TMPDIR/h")" = "application/json;charset=utf-8" ]
	run jq -c '{status, state, context, description, target_url, creator: .creator.login}' "$BATS_TEST_TMPDIR/b"
	assert_output '{"status":"pending","state":null,"context":"albatros/build","description":"Build queued","target_url":"https://ci/b/1","creator":"ci-bot"}'
	run sh -c "curl -sS '$FORGE_URL/_emu/forge/statuses' | jq -c '.[0] | {repo, sha, state, context}'"
	assert_output "{\"repo\":\"acme/widget\",\"sha\":\"$SHA\",\"state\":\"pending\",\"context\":\"albatros/build\"}"
}

@test "gitea: auth forms — token and Bearer (any case), Basic" {
	gitea
	ok='{"state":"success","context":"c"}'
	post_status 'Authorization: token w1' "$ok"; [ "$code" = 201 ]
	post_status 'Authorization: Token w1' "$ok"; [ "$code" = 201 ]
	post_status 'Authorization: bearer w1' "$ok"; [ "$code" = 201 ]
	post_status 'Authorization: BEARER w1' "$ok"; [ "$code" = 201 ]
	post_status 'Authorization: Bearer w1 extra' "$ok"; [ "$code" = 401 ]
	post_status "Authorization: Basic $(printf 'ci-bot:w1' | base64)" "$ok"; [ "$code" = 201 ]
	post_status "Authorization: Basic $(printf 'w1:x-oauth-basic' | base64)" "$ok"; [ "$code" = 201 ]
	post_status "Authorization: Basic $(printf 'w1:' | base64)" "$ok"; [ "$code" = 201 ]
	post_status "Authorization: Basic $(printf 'ci-bot:bad' | base64)" "$ok"; [ "$code" = 401 ]
}

@test "gitea: 401 token is required, 403 read-only, 404 unknown repo, any state, 422 bad JSON" {
	gitea
	post_status 'X-Nothing: 1' '{"state":"pending"}'
	[ "$code" = 401 ]
	run jq -r .message "$BATS_TEST_TMPDIR/b"
	assert_output "token is required"
	run jq -r .url "$BATS_TEST_TMPDIR/b"
	assert_output --regexp '/api/swagger$'
	post_status 'Authorization: token nope' '{"state":"pending"}'
	[ "$code" = 401 ]
	post_status 'Authorization: token r1' '{"state":"pending"}'
	[ "$code" = 403 ]
	req -X POST -H 'Authorization: token w1' -d '{"state":"pending"}' \
		"$FORGE_URL/api/v1/repos/acme/nope/statuses/$SHA"
	[ "$code" = 404 ]
	# Gitea 1.27.3 takes any string for a state
	for s in pending success error failure warning skipped running ok SUCCESS ''; do
		post_status 'Authorization: token w1' "{\"state\":\"$s\"}"
		[ "$code" = 201 ]
	done
	post_status 'Authorization: token w1' '{"state":1}'
	[ "$code" = 422 ]
	post_status 'Authorization: token w1' 'not json'
	[ "$code" = 422 ]
	run sh -c "curl -sS '$FORGE_URL/_emu/forge/statuses' | jq length"
	assert_output 10
}

@test "gitea: list newest first with X-Total-Count; combined is latest per context" {
	gitea
	post_status 'Authorization: token w1' '{"state":"pending","context":"albatros/build"}'
	post_status 'Authorization: token w1' '{"state":"success","context":"lint"}'
	post_status 'Authorization: token w1' '{"state":"failure","context":"albatros/build"}'
	req "$FORGE_URL/api/v1/repos/acme/widget/statuses/$SHA"
	[ "$code" = 200 ]
	[ "$(hdr X-Total-Count "$BATS_TEST_TMPDIR/h")" = 3 ]
	run jq -c '[.[].status]' "$BATS_TEST_TMPDIR/b"
	assert_output '["failure","success","pending"]'
	req "$FORGE_URL/api/v1/repos/acme/widget/commits/$SHA/status"
	run jq -c '{state, total_count, s: [.statuses[] | .context + "=" + .status]}' "$BATS_TEST_TMPDIR/b"
	assert_output '{"state":"failure","total_count":2,"s":["albatros/build=failure","lint=success"]}'
	# refs resolve to a SHA registered through the control API
	curl -sS -X POST -d "{\"repo\":\"acme/widget\",\"ref\":\"main\",\"sha\":\"$SHA\"}" \
		"$FORGE_URL/_emu/forge/refs" >/dev/null
	run sh -c "curl -sS '$FORGE_URL/api/v1/repos/acme/widget/commits/main/status' | jq -r .sha"
	assert_output "$SHA"
	# no status yet: zero-valued object
	run sh -c "curl -sS '$FORGE_URL/api/v1/repos/acme/widget/commits/3333/status' | jq -c '{state, statuses}'"
	assert_output '{"state":"","statuses":null}'
}

@test "forgejo: same API, status key" {
	gitea forgejo
	post_status 'Authorization: token w1' '{"state":"warning","context":"x"}'
	[ "$code" = 201 ]
	run jq -r .status "$BATS_TEST_TMPDIR/b"
	assert_output warning
}

@test "github: User-Agent required, state key, 422 Validation Failed, default context" {
	emu_start forge --kind github --repo acme/widget --token w1 --read-only-token r1
	U="$FORGE_URL/repos/acme/widget/statuses/$SHA"
	req -A '' -X POST -H 'Authorization: Bearer w1' -d '{"state":"success"}' "$U"
	[ "$code" = 403 ]
	run body
	assert_output --partial 'User-Agent'
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer w1' -d '{"state":"success"}' "$U"
	[ "$code" = 201 ]
	run jq -c '{state, status, context}' "$BATS_TEST_TMPDIR/b"
	assert_output '{"state":"success","status":null,"context":"default"}'
	req -A 'albatros/1' -X POST -H 'Authorization: token w1' -d '{"state":"pending","context":"a"}' "$U"
	[ "$code" = 201 ]
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer w1' -d '{"state":"warning"}' "$U"
	[ "$code" = 422 ]
	run jq -r '.message, .errors[0].field' "$BATS_TEST_TMPDIR/b"
	assert_output $'Validation Failed\nstate'
	req -A 'albatros/1' -X POST -d '{"state":"success"}' "$U"
	[ "$code" = 401 ]
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer nope' -d '{"state":"success"}' "$U"
	[ "$code" = 401 ]
	run jq -r .message "$BATS_TEST_TMPDIR/b"
	assert_output 'Bad credentials'
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer r1' -d '{"state":"success"}' "$U"
	[ "$code" = 403 ]
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer w1' -d '{"state":"success"}' \
		"$FORGE_URL/repos/acme/other/statuses/$SHA"
	[ "$code" = 404 ]
	# the Gitea path does not exist on GitHub
	req -A 'albatros/1' -X POST -H 'Authorization: Bearer w1' -d '{"state":"success"}' \
		"$FORGE_URL/api/v1/repos/acme/widget/statuses/$SHA"
	[ "$code" = 404 ]
	run sh -c "curl -sS -A x '$FORGE_URL/repos/acme/widget/commits/$SHA/status' | jq -c '{state, total_count}'"
	assert_output '{"state":"pending","total_count":2}'
}

@test "control routes add repos and tokens; faults drive retries" {
	emu_start forge
	curl -sS -X POST -d '{"repo":"o/r"}' "$FORGE_URL/_emu/forge/repos" >/dev/null
	curl -sS -X POST -d '{"token":"t2","write":true}' "$FORGE_URL/_emu/forge/tokens" >/dev/null
	emu_fault "$FORGE_URL" '{"method":"POST","path":"/statuses/","status":500,"times":1}'
	U="$FORGE_URL/api/v1/repos/o/r/statuses/$SHA"
	req -X POST -H 'Authorization: token t2' -d '{"state":"pending"}' "$U"
	[ "$code" = 500 ]
	req -X POST -H 'Authorization: token t2' -d '{"state":"pending"}' "$U"
	[ "$code" = 201 ]
	emu_fault "$FORGE_URL" '{"method":"POST","path":"/statuses/","delay":2,"times":1}'
	run curl -sS -m 0.5 -X POST -H 'Authorization: token t2' -d '{"state":"success"}' "$U"
	assert_failure 28
	run sh -c "curl -sS '$FORGE_URL/_emu/forge/statuses' | jq -c '[.[].state]'"
	assert_output '["pending"]'
	run emu_requests "$FORGE_URL" 'length'
	assert_output 3
}
