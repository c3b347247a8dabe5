#!/usr/bin/env bats
# Commit statuses around a webhook, end to end: pending at dispatch, the
# final state from the detached waiter, cancel_previous, a failing forge.

load helpers
load stack

setup() {
	emu_start forge --kind gitea --repo acme/widget --token forge-t0ken
	config=$(jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg f "$FORGE_URL" \
		'{hook: {token: $t, secret: $s}, gitea: {url: $f, token: "forge-t0ken"}, trusted: {senders: ["quentin"]}}')
	stack_start "$config"
}

statuses() {
	curl -sS "$FORGE_URL/_emu/forge/statuses" | jq -c "${1:-.}"
}

# wait_for JQ-CONDITION on the forge's statuses, up to 10 s.
wait_for() {
	local i
	for i in $(seq 100); do
		[ "$(statuses "$1")" = true ] && return 0
		sleep 0.1
	done
	statuses
	return 1
}

behave() {
	curl -sSf -X POST -d "$(jq -c '. + {job: "builder", namespace: "ci"}' <<<"$1")" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
}

@test "a dispatch posts pending with the build link; the waiter posts the end" {
	behave '{"outcome":"failure","exit_code":3,"run_time":0.5}'
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	sha=$(jq -r .after "$BATS_TEST_TMPDIR/h/json")
	jobq=$(jq -rn --arg j "$body" '$j|@uri')
	run -0 statuses '.[0]'
	[ "$(jq -r .state <<<"$output")" = pending ]
	[ "$(jq -r .sha <<<"$output")" = "$sha" ]
	[ "$(jq -r .repo <<<"$output")" = acme/widget ]
	[ "$(jq -r .context <<<"$output")" = albatros/default ]
	[ "$(jq -r .target_url <<<"$output")" = "$SERVE_URL/build?job=$jobq&log=stderr" ]
	wait_for 'map(select(.state == "failure")) | length == 1'
	run -0 statuses 'map(select(.state == "failure"))[0].description'
	[[ "$output" == *"exit code 3"* ]]
}

@test "a forge that fails does not undo the dispatch" {
	emu_fault "$FORGE_URL" '{"path":"/statuses/","status":500}'
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	[[ "$body" =~ ^builder/dispatch- ]]
	grep -q 'alba-dispatch: warning: unable to post the pending status' "$ALBA_LOG"
}

@test "a redelivery posts no second pending over a finished build" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	wait_for 'map(select(.state == "success")) | length == 1'
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	sleep 0.5
	[ "$(statuses 'map(select(.state == "pending")) | length')" = 1 ]
	[ "$(statuses '.[-1].state')" = '"success"' ]
}

@test "cancel_previous stops the branch's older build and reports it" {
	# Two pushes in the same second.  The newer build is finished (below)
	# before its task has started (start_delay): the emulator once took
	# such a finish for a stop, and the newer build ended "stopped".
	config=$(jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg f "$FORGE_URL" \
		'{hook: {token: $t, secret: $s}, gitea: {url: $f, token: "forge-t0ken"}, cancel_previous: true}')
	printf '%s' "$config" | alba-config -s "$REPO_URL" >/dev/null
	behave '{"hold":true,"start_delay":1}'
	hook_gen "$BATS_TEST_TMPDIR/a" gitea push --sender quentin --branch main --commit 1111111111111111111111111111111111111111
	hook_send "$BATS_TEST_TMPDIR/a"
	[ "$status" = 200 ]
	old=$body
	hook_gen "$BATS_TEST_TMPDIR/b" gitea push --sender quentin --branch main --commit 2222222222222222222222222222222222222222
	hook_send "$BATS_TEST_TMPDIR/b"
	[ "$status" = 200 ]
	new=$body
	oldq=$(jq -rn --arg j "$old" '$j|@uri')
	[ "$(curl -sS "$NOMAD_URL/v1/job/$oldq?namespace=ci" | jq -r .Stop)" = true ]
	wait_for "map(select(.sha == \"1111111111111111111111111111111111111111\")) | .[-1] | .state == \"error\" and (.description | contains(\"cancelled by $new\"))"
	newq=$(jq -rn --arg j "$new" '$j|@uri')
	[ "$(curl -sS "$NOMAD_URL/v1/job/$newq?namespace=ci" | jq -r .Stop)" = false ]
	curl -sSf -X POST -d "{\"job\":\"$new\",\"namespace\":\"ci\",\"exit_code\":0}" "$NOMAD_URL/_emu/nomad/finish" >/dev/null
	wait_for 'map(select(.sha == "2222222222222222222222222222222222222222")) | .[-1].state == "success"'
}
