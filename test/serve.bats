#!/usr/bin/env bats
# GET /build and GET /status through scripts/alba-serve behind socat.

load helpers
load stack

setup() {
	NOMAD_EMU_ARGS=(--log-heartbeat 0.2)
	stack_start
}

# dispatch_build SCENARIO: set the builder's scenario, dispatch through
# /hook (trusted, so the secrets are in the payload), set $job.
dispatch_build() {
	curl -sSf -X POST -d "$(jq -c '. + {job: "builder", namespace: "ci"}' <<<"$1")" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ] || { echo "hook: $status $body"; return 1; }
	job=$body
	jobq=$(jq -rn --arg j "$job" '$j|@uri')
}

# The task's whole log of one stream, as Nomad serves it once it is dead.
nomad_log() {
	local a
	a=$(curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r 'max_by(.CreateIndex).ID')
	curl -sS "$NOMAD_URL/v1/client/fs/logs/$a?task=executor&type=$1&plain=true&namespace=ci"
}

wait_dead() {
	local i
	for i in $(seq 200); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$jobq?namespace=ci" | jq -r .Status)" = dead ] && return 0
		sleep 0.1
	done
	return 1
}

@test "GET /build streams 10,000 lines of each stream, exactly, and ends with the task" {
	dispatch_build '{"logs":[{"lines":10000,"over":5,"stream":"both","prefix":"line"}],"run_time":5.2}'
	curl -sSN "$SERVE_URL/build?job=$jobq&log=stderr" -o "$BATS_TEST_TMPDIR/err" -D "$BATS_TEST_TMPDIR/hdr" &
	p1=$!
	curl -sSN "$SERVE_URL/build?job=$jobq&log=stdout" -o "$BATS_TEST_TMPDIR/out" &
	p2=$!
	wait "$p1"
	t_end=$(date +%s%N)
	wait "$p2"
	wait_dead
	grep -qi '^content-type: text/plain; charset=utf-8' "$BATS_TEST_TMPDIR/hdr"
	grep -qi '^transfer-encoding: chunked' "$BATS_TEST_TMPDIR/hdr"
	nomad_log stderr >"$BATS_TEST_TMPDIR/err.want"
	nomad_log stdout >"$BATS_TEST_TMPDIR/out.want"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/err.want")" = 10000 ]
	cmp "$BATS_TEST_TMPDIR/err" "$BATS_TEST_TMPDIR/err.want"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/out.want"
	# The stream closed within 2 s of the task's end (under valgrind, where
	# every stage starts ten times slower, the bound is not what is tested).
	local limit=2000
	[ -z "${ALBA_SLOW:-}" ] || limit=8000
	a=$(curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r 'max_by(.CreateIndex).ID')
	fin=$(curl -sS "$NOMAD_URL/v1/allocation/$a?namespace=ci" | jq -r '.TaskStates.executor.FinishedAt')
	fin_ns=$(date -d "$fin" +%s%N)
	[ $(( (t_end - fin_ns) / 1000000 )) -lt "$limit" ] ||
		{ echo "closed $(( (t_end - fin_ns) / 1000000 )) ms after the task's end"; return 1; }
}

@test "GET /build masks the repository's secrets" {
	dispatch_build '{"logs":[{"at":0,"stream":"stderr","data":"key=sup3r-s3cr3t-value and an0ther-s3cr3t\n"}]}'
	wait_dead
	run -0 curl -sSN "$SERVE_URL/build?job=$jobq&log=stderr"
	assert_output 'key=*** and ***'
}

@test "GET /build: unknown job 404, not a build 400, an unregistered repository's build not served" {
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/build?job=builder%2Fdispatch-1700000000-0a1b2c3d&log=stderr"
	assert_output 404
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/build?job=builder&log=stderr"
	assert_output 400
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/build?job=%24(id)&log=stderr"
	assert_output 400
	# A build whose REPO_URL is not registered in Consul.
	r=$(curl -sS -X POST -d '{"Meta":{"REPO_URL":"https://evil.example/x.git","COMMIT":"0123456789abcdef0123456789abcdef01234567","BRANCH":"main","FLAVOR":"default"}}' \
		"$NOMAD_URL/v1/job/builder/dispatch?namespace=ci" | jq -r .DispatchedJobID)
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/build?job=$(jq -rn --arg j "$r" '$j|@uri')&log=stderr"
	assert_output 404
}

@test "GET /status answers the build's state as JSON" {
	dispatch_build '{"outcome":"failure","exit_code":3}'
	wait_dead
	run -0 curl -sS "$SERVE_URL/status?job=$jobq"
	[ "$(jq -r .state <<<"$output")" = failure ]
	[ "$(jq -r .exit_code <<<"$output")" = 3 ]
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/status?job=builder%2Fdispatch-1700000000-0a1b2c3d"
	assert_output 404
}
