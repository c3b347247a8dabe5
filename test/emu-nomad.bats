#!/usr/bin/env bats
# Conformance tests of the Nomad emulator (test/emu/nomad.py) against the
# wire facts of shared/api/nomad.md.  curl + jq only.

load helpers

# start [ARGS...]: the emulator with short heartbeats.
start() {
	emu_start nomad --log-heartbeat 0.2 --event-heartbeat 0.3 "$@"
	U=$NOMAD_URL
}

# req, hdr, parent, dispatch, enc, wait_for, wait_dead, allocs, first_alloc
# shellcheck source=test/nomad-api.bash
. "$TOP/test/nomad-api.bash"

# behave JSON: set a scenario.
behave() {
	curl -sS -X POST --data-binary "$1" "$U/_emu/nomad/behavior" >/dev/null
}

@test "emulator starts in well under a second" {
	local t0 t1
	t0=$(date +%s%N)
	start
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 1000 ]
}

@test "register a parameterized parent: no eval, status running" {
	start
	parent
	[ "$(jq -r .EvalID <<<"$body")" = "" ]
	[ "$(jq -r .EvalCreateIndex <<<"$body")" = 0 ]
	[ -n "$(hdr X-Nomad-Index)" ]
	req GET /v1/job/ci
	[ "$code" = 200 ]
	jq -e '.Status == "running" and .ParameterizedJob.MetaRequired == ["COMMIT"] and .Dispatched == false and .Payload == null' <<<"$body"
	# fields sorted by name (Nomad 1.6.3's go-msgpack codec), compact, no
	# trailing newline
	[[ $body == '{"Affinities":null,"AllAtOnce":false,"Constraints":null,"ConsulNamespace":"","ConsulToken":""'* ]]
	[ "$(tail -c1 "$BATS_TEST_TMPDIR/body" | od -An -c | tr -d ' ')" = "}" ]
	[ "$(hdr Content-Type)" = application/json ]
	[ "$(hdr Vary)" = Accept-Encoding ]
}

@test "register validations" {
	start
	req PUT /v1/jobs --data '{"Job":{"ID":"x","Type":"batch","ParameterizedJob":{"Payload":"bogus"},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}'
	[ "$code" = 500 ]
	[[ $body == *'Unknown payload requirement: "bogus"'* ]]
	req PUT /v1/jobs --data '{"Job":{"ID":"x","Type":"service","ParameterizedJob":{},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}'
	[ "$code" = 500 ]
	[[ $body == *'Parameterized job can only be used with "batch" or "sysbatch" scheduler'* ]]
	req PUT /v1/jobs --data '{"Job":{"ID":"x","Type":"batch","ParameterizedJob":{"MetaRequired":["a"],"MetaOptional":["a"]},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}'
	[ "$code" = 500 ]
	[[ $body == *'Required and optional meta keys should be disjoint'* ]]
	req PUT /v1/jobs --data '{"Job":{"ID":"x","Type":"batch","Payload":"aGk=","ParameterizedJob":{},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}'
	[ "$code" = 500 ]
	[ "$body" = $'1 error occurred:\n\t* job can\'t be submitted with a payload, only dispatched' ]
	req PUT /v1/jobs
	[ "$code" = 400 ]
	[ "$body" = "Request body is empty" ]
}

@test "dispatch: missing required meta is a 500 with the exact text" {
	start
	parent
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"BRANCH":"main"}}'
	[ "$code" = 500 ]
	[ "$body" = "Dispatch did not provide required meta keys: [COMMIT]" ]
	[ "$(hdr Content-Type)" = "text/plain; charset=utf-8" ]
}

@test "dispatch: unpermitted meta is a 500 with the exact text" {
	start
	parent
	req POST /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":"a","EVIL":"x"}}'
	[ "$code" = 500 ]
	[ "$body" = "Dispatch request included unpermitted metadata keys: [EVIL]" ]
	# unpermitted is checked before missing
	req POST /v1/job/ci/dispatch --data '{"Meta":{"EVIL":"x"}}'
	[ "$body" = "Dispatch request included unpermitted metadata keys: [EVIL]" ]
}

@test "dispatch: payload forbidden, required, and the 16384-byte limit" {
	start
	parent forb forbidden
	parent reqd required
	parent ci
	req PUT /v1/job/forb/dispatch --data '{"Meta":{"COMMIT":"a"},"Payload":"aGk="}'
	[ "$code" = 500 ]
	[ "$body" = "Payload provided but forbidden by parameterized job" ]
	req PUT /v1/job/reqd/dispatch --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = "Payload is not provided but required by parameterized job" ]
	big=$(head -c 16385 /dev/zero | base64 -w0)
	req PUT /v1/job/ci/dispatch --data "{\"Meta\":{\"COMMIT\":\"a\"},\"Payload\":\"$big\"}"
	[ "$code" = 500 ]
	[ "$body" = "Payload exceeds maximum size; 16385 > 16384" ]
	ok=$(head -c 16384 /dev/zero | base64 -w0)
	req PUT /v1/job/ci/dispatch --data "{\"Meta\":{\"COMMIT\":\"a\"},\"Payload\":\"$ok\"}"
	[ "$code" = 200 ]
}

@test "dispatch: other errors (not found, not parameterized, stopped, body, method)" {
	start
	parent
	req PUT /v1/job/nope/dispatch --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = "parameterized job not found" ]
	dispatch
	req PUT "/v1/job/$(enc "$child")/dispatch" --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = "Specified job \"$child\" is not a parameterized job" ]
	req PUT /v1/job/ci/dispatch
	[ "$code" = 400 ]
	[ "$body" = "Request body is empty" ]
	req PUT /v1/job/ci/dispatch --data '{"Meta":'
	[ "$code" = 400 ]
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":1}}'
	[ "$code" = 400 ]
	[[ $body == "json: cannot unmarshal number into Go struct field"* ]]
	req PUT /v1/job/ci/dispatch --data '{"JobID":"other","Meta":{"COMMIT":"a"}}'
	[ "$code" = 400 ]
	[ "$body" = "Job ID does not match" ]
	req GET /v1/job/ci/dispatch
	[ "$code" = 405 ]
	[ "$body" = "Invalid method" ]
	# field names match case-insensitively
	req PUT /v1/job/ci/dispatch --data '{"meta":{"COMMIT":"a"},"payload":"aGk="}'
	[ "$code" = 200 ]
	req DELETE /v1/job/ci
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = 'Specified job "ci" is stopped' ]
}

@test "dispatch: idempotency token from query and from body" {
	start
	parent
	parent other
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-1" --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 200 ]
	first=$(jq -r .DispatchedJobID <<<"$body")
	created=$(jq -r .JobCreateIndex <<<"$body")
	# the child and its evaluation are two Raft applies (1.6.3)
	jq -e '.EvalID != "" and .EvalCreateIndex == .JobCreateIndex + 1 and .Index == .EvalCreateIndex' <<<"$body"
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-1" --data '{"Meta":{"COMMIT":"b"}}'
	[ "$code" = 200 ]
	jq -e --arg id "$first" --argjson c "$created" '.DispatchedJobID == $id and .EvalID == "" and .EvalCreateIndex == 0 and .JobCreateIndex == $c' <<<"$body"
	# body token
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":"a"},"IdempotencyToken":"d-1"}'
	jq -e --arg id "$first" '.DispatchedJobID == $id and .EvalID == ""' <<<"$body"
	# query wins over body when non-empty
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-2" --data '{"Meta":{"COMMIT":"a"},"IdempotencyToken":"d-1"}'
	jq -e --arg id "$first" '.DispatchedJobID != $id and .EvalID != ""' <<<"$body"
	# validation runs before the token check
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-1" --data '{"Meta":{}}'
	[ "$code" = 500 ]
	# a dead child still matches
	wait_dead "$first"
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-1" --data '{"Meta":{"COMMIT":"a"}}'
	jq -e --arg id "$first" '.DispatchedJobID == $id' <<<"$body"
	# another parent does not share tokens
	req PUT "/v1/job/other/dispatch?idempotency_token=d-1" --data '{"Meta":{"COMMIT":"a"}}'
	jq -e '.DispatchedJobID | startswith("other/dispatch-")' <<<"$body"
	# GC frees the token
	curl -sS -X POST --data "{\"job\":\"$first\"}" "$U/_emu/nomad/gc"
	req PUT "/v1/job/ci/dispatch?idempotency_token=d-1" --data '{"Meta":{"COMMIT":"a"}}'
	jq -e --arg id "$first" '.DispatchedJobID != $id and .EvalID != ""' <<<"$body"
}

@test "dispatch: child ID format and child fields" {
	start
	parent
	dispatch ci '{"Meta":{"COMMIT":"abc","BRANCH":"main"},"Payload":"eyJyZWYiOiJtYWluIn0="}'
	[[ $child =~ ^ci/dispatch-[0-9]{10}-[0-9a-f]{8}$ ]]
	req GET "/v1/job/$(enc "$child")"
	jq -e '.ParentID == "ci" and .Dispatched == true and .Name == .ID
		and .ParameterizedJob.Payload == "optional"
		and .Meta == {"owner":"ci","COMMIT":"abc","BRANCH":"main"}
		and .Payload == "eyJyZWYiOiJtYWluIn0=" and .DispatchIdempotencyToken == ""' <<<"$body"
	dispatch ci '{"Meta":{"COMMIT":"abc"},"IdPrefixTemplate":"nightly"}'
	[[ $child =~ ^ci/dispatch-nightly-[0-9]{10}-[0-9a-f]{8}$ ]]
	# jobs list: ParameterizedJob is a bool that is true for parents only
	req GET "/v1/jobs?prefix=ci"
	jq -e 'map(select(.ID == "ci"))[0].ParameterizedJob == true and (map(select(.ParentID == "ci")) | all(.ParameterizedJob == false))' <<<"$body"
}

@test "dispatch/payload takes the raw body as the payload" {
	start
	parent free optional
	# no meta possible: use a parent without required meta
	req PUT /v1/jobs --data '{"Job":{"ID":"raw","Type":"batch","ParameterizedJob":{},"TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor"}]}]}}'
	req POST /v1/job/raw/dispatch/payload --data-binary 'hello raw'
	[ "$code" = 200 ]
	child=$(jq -r .DispatchedJobID <<<"$body")
	req GET "/v1/job/$(enc "$child")"
	[ "$(jq -r .Payload <<<"$body" | base64 -d)" = "hello raw" ]
}

@test "job IDs with / reach the child both raw and %2F-encoded" {
	start
	parent
	dispatch
	wait_dead "$child"
	for p in "$child" "$(enc "$child")"; do
		req GET "/v1/job/$p"
		[ "$code" = 200 ]
		jq -e --arg c "$child" '.ID == $c' <<<"$body"
		req GET "/v1/job/$p/allocations"
		jq -e --arg c "$child" 'length == 1 and .[0].JobID == $c' <<<"$body"
		req GET "/v1/job/$p/summary"
		jq -e --arg c "$child" '.JobID == $c and .Summary.runner.Complete == 1' <<<"$body"
	done
}

@test "job read 404 with meta headers; allocations [] for unknown jobs" {
	start
	req GET /v1/job/nope
	[ "$code" = 404 ]
	[ "$body" = "job not found" ]
	[ "$(hdr Content-Type)" = "text/plain; charset=utf-8" ]
	[ -n "$(hdr X-Nomad-Index)" ]
	grep -q '^X-Nomad-Knownleader: true' "$H"
	grep -q '^X-Nomad-Lastcontact: 0' "$H"
	req GET /v1/job/nope/allocations
	[ "$code" = 200 ]
	[ "$body" = "[]" ]
	req GET /v1/job/nope/summary
	[ "$code" = 404 ]
	[ "$body" = "job not found" ]
	req GET /v1/nothing/here
	[ "$code" = 404 ]
	[ -z "$body" ]
	req GET /v1/allocation/00000000-0000-0000-0000-000000000000
	[ "$code" = 404 ]
	[ "$body" = "alloc not found" ]
}

@test "allocation GET omits zero fields; stubs keep every field" {
	start
	parent
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	req GET "/v1/allocation/$a"
	jq -e 'has("NextAllocation") | not' <<<"$body"
	jq -e 'has("DeploymentStatus") | not' <<<"$body"
	jq -e '.Job.ID != null and .ClientStatus == "complete"' <<<"$body"
	allocs "$child" | jq -e '.[0] | has("NextAllocation") and has("DeploymentStatus") and has("RescheduleTracker") and has("PreemptedAllocations")'
}

@test "jobs list: prefix, meta=true, bexpr filters and the missing-key 400" {
	start
	parent
	dispatch ci '{"Meta":{"COMMIT":"c1","BRANCH":"main"}}'
	c1=$child
	dispatch ci '{"Meta":{"COMMIT":"c2"}}'
	req GET "/v1/jobs?prefix=ci/dispatch-"
	jq -e 'length == 2 and all(has("Meta") | not)' <<<"$body"
	req GET "/v1/jobs?prefix=ci/dispatch-&meta=true"
	jq -e 'length == 2 and all(.Meta.owner == "ci")' <<<"$body"
	req GET /v1/jobs -G --data-urlencode 'filter=Meta.BRANCH == "main"'
	[ "$code" = 400 ]
	[ "$body" = 'failed to read result page: error finding value in datum: /Meta/BRANCH at part 1: couldn'"'"'t find key "BRANCH"' ]
	req GET /v1/jobs -G --data-urlencode 'filter=ParentID == "ci" and "BRANCH" in Meta and Meta.BRANCH == "main"'
	[ "$code" = 200 ]
	jq -e --arg c "$c1" 'length == 1 and .[0].ID == $c' <<<"$body"
	req GET /v1/jobs -G --data-urlencode 'filter=Dispatched == true and Meta["COMMIT"] matches "^c[0-9]$" and not (Meta.COMMIT == "c1")'
	jq -e 'length == 1' <<<"$body"
	req GET /v1/jobs -G --data-urlencode 'filter=ParentID is empty'
	jq -e 'length == 1 and .[0].ID == "ci"' <<<"$body"
	req GET /v1/jobs -G --data-urlencode 'filter=Meta =='
	[ "$code" = 400 ]
	[[ $body == "failed to read filter expression: "* ]]
}

@test "jobs list: pages by <namespace>.<id> tokens, in ID order even with reverse (Nomad 1.6.3)" {
	start
	parent
	dispatch ci '{"Meta":{"COMMIT":"c1"}}'
	dispatch ci '{"Meta":{"COMMIT":"c2"}}'
	dispatch ci '{"Meta":{"COMMIT":"c3"}}'
	req GET "/v1/jobs?prefix=ci/dispatch-"
	ids=$(jq -c 'map(.ID)' <<<"$body")
	jq -e 'length == 3 and . == sort' <<<"$ids"
	req GET "/v1/jobs?prefix=ci/dispatch-&per_page=2" -G --data-urlencode 'filter=Dispatched == true'
	jq -e --argjson i "$ids" 'map(.ID) == $i[0:2]' <<<"$body"
	tok=$(hdr X-Nomad-Nexttoken)
	[ "$tok" = "default.$(jq -r '.[2]' <<<"$ids")" ]
	req GET "/v1/jobs?prefix=ci/dispatch-&per_page=2&next_token=$tok"
	jq -e --argjson i "$ids" 'map(.ID) == $i[2:3]' <<<"$body"
	[ -z "$(hdr X-Nomad-Nexttoken)" ]
	# reverse flips only the token comparison: the order stays ascending.
	req GET "/v1/jobs?prefix=ci/dispatch-&reverse=true"
	jq -e --argjson i "$ids" 'map(.ID) == $i' <<<"$body"
}

@test "namespaces: jobs are invisible from other namespaces" {
	start
	parent ci optional build
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = "parameterized job not found" ]
	req GET /v1/job/ci
	[ "$code" = 404 ]
	req GET "/v1/job/ci?namespace=build"
	[ "$code" = 200 ]
	jq -e '.Namespace == "build"' <<<"$body"
	req PUT "/v1/job/ci/dispatch?namespace=build" --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 200 ]
	req GET /v1/jobs
	[ "$body" = "[]" ]
	req GET "/v1/jobs?namespace=*"
	jq -e 'length == 2 and all(.Namespace == "build")' <<<"$body"
}

@test "blocking queries: return on change, else after the wait; parse errors" {
	start
	parent
	req GET /v1/job/ci
	idx=$(hdr X-Nomad-Index)
	(sleep 0.5; curl -sS -X PUT --data '{"Meta":{"COMMIT":"a"}}' "$U/v1/job/ci/dispatch" >/dev/null) &
	bg=$!
	t0=$(date +%s%N)
	req GET "/v1/jobs?index=$idx&wait=2s"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 400 ] && [ "$ms" -lt 1500 ]
	[ "$(hdr X-Nomad-Index)" -gt "$idx" ]
	wait "$bg"
	req GET /v1/job/ci
	idx=$(hdr X-Nomad-Index)
	t0=$(date +%s%N)
	req GET "/v1/job/ci?index=$idx&wait=2s"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 1900 ] && [ "$ms" -lt 3000 ]
	[ "$(hdr X-Nomad-Index)" = "$idx" ]
	req GET "/v1/job/ci?index=1&wait=10"
	[ "$code" = 400 ]
	[ "$body" = "Invalid wait time" ]
	req GET "/v1/job/ci?index=x"
	[ "$code" = 400 ]
	[ "$body" = "Invalid index" ]
	# index=0 never blocks
	req GET "/v1/job/ci?index=0&wait=5s"
	[ "$code" = 200 ]
}

@test "lifecycle: success" {
	start
	parent
	behave '{"job":"ci","place_delay":0.4}'
	dispatch
	req GET "/v1/job/$(enc "$child")"
	jq -e '.Status == "pending"' <<<"$body"
	wait_dead "$child"
	allocs "$child" | jq -e '.[0] | .ClientStatus == "complete" and .DesiredStatus == "run"
		and .ClientDescription == "All tasks have completed"
		and .TaskStates.executor.State == "dead" and .TaskStates.executor.Failed == false
		and .TaskStates.executor.StartedAt != null and .TaskStates.executor.FinishedAt != null
		and ([.TaskStates.executor.Events[].Type] == ["Received","Task Setup","Started","Terminated"])
		and .TaskStates.executor.Events[3].ExitCode == 0'
	req GET "/v1/job/$(enc "$child")/summary"
	jq -e '.Summary.runner == {"Queued":0,"Complete":1,"Failed":0,"Running":0,"Starting":0,"Lost":0,"Unknown":0}' <<<"$body"
	req GET /v1/job/ci/summary
	jq -e '.Children == {"Pending":0,"Running":0,"Dead":1}' <<<"$body"
}

@test "lifecycle: placed alloc is pending with null TaskStates, then running" {
	start
	parent
	behave '{"job":"ci","start_delay":1.0,"hold":true}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" 'length == 1'
	allocs "$child" | jq -e '.[0].ClientStatus == "pending" and .[0].TaskStates == null'
	req GET "/v1/job/$(enc "$child")"
	jq -e '.Status == "running"' <<<"$body"
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].ClientStatus == "running"'
	allocs "$child" | jq -e '.[0].TaskStates.executor | .State == "running" and .StartedAt != null'
	curl -sS -X POST --data "{\"job\":\"$child\",\"exit_code\":0}" "$U/_emu/nomad/finish"
	wait_dead "$child"
}

@test "lifecycle: a finish before the task started ends its run, not a stop" {
	# A test that dispatches and finishes at once (hold) must get the
	# finish's verdict whatever the timing: before the emulator's start
	# delay ran out, a finish used to kill the alloc (DesiredStatus stop).
	start
	parent
	behave '{"job":"ci","place_delay":0.3,"start_delay":0.6,"hold":true}'
	dispatch
	curl -sSf -X POST --data "{\"job\":\"$child\",\"exit_code\":0}" "$U/_emu/nomad/finish" >/dev/null
	wait_dead "$child"
	allocs "$child" | jq -e '.[0] | .ClientStatus == "complete" and .DesiredStatus == "run"
		and ([.TaskStates.executor.Events[].Type] == ["Received","Task Setup","Started","Terminated"])'
}

@test "lifecycle: exit 3 fails the task and the alloc" {
	start
	parent
	behave '{"job":"ci","exit_code":3}'
	dispatch
	wait_dead "$child"
	allocs "$child" | jq -e '.[0] | .ClientStatus == "failed" and .ClientDescription == "Failed tasks"
		and .TaskStates.executor.Failed == true
		and (.TaskStates.executor.Events | map(select(.Type == "Terminated")) | last | .ExitCode == 3 and .Details.exit_code == "3")
		and (.TaskStates.executor.Events | last | .Type == "Not Restarting" and .FailsTask == true)'
	req GET "/v1/job/$(enc "$child")/summary"
	jq -e '.Summary.runner.Failed == 1' <<<"$body"
}

@test "lifecycle: restarts, and events capped at 10" {
	start
	parent
	behave '{"job":"ci","outcome":"failure","exit_code":2,"restarts":4,"restart_delay":0.02,"run_time":0.02}'
	dispatch
	wait_dead "$child"
	allocs "$child" | jq -e '.[0].TaskStates.executor | .Restarts == 4 and (.Events | length) == 10
		and (.Events | map(select(.Type == "Restarting")) | length) >= 3
		and (.Events | last | .RestartReason | startswith("Exceeded allowed attempts 4"))'
}

@test "lifecycle: node lost" {
	start
	parent
	behave '{"job":"ci","outcome":"lost"}'
	dispatch
	wait_dead "$child"
	allocs "$child" | jq -e '.[0].ClientStatus == "lost"'
	req GET "/v1/job/$(enc "$child")/summary"
	jq -e '.Summary.runner.Lost == 1' <<<"$body"
}

@test "lifecycle: driver failure never starts the task" {
	start
	parent
	behave '{"job":"ci","outcome":"driver_failure"}'
	dispatch
	wait_dead "$child"
	allocs "$child" | jq -e '.[0] | .ClientStatus == "failed" and .TaskStates.executor.StartedAt == null
		and .TaskStates.executor.Failed == true
		and (.TaskStates.executor.Events | map(.Type) | index("Driver Failure") != null)'
	a=$(first_alloc "$child")
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout"
	[ "$code" = 404 ]
	[ "$body" = 'task "executor" not started yet. No logs available' ]
}

@test "lifecycle: never placed stays pending with Queued 1" {
	start
	parent
	behave '{"job":"ci","outcome":"never_placed"}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/summary" '.Summary.runner.Queued == 1'
	sleep 0.3
	req GET "/v1/job/$(enc "$child")"
	jq -e '.Status == "pending"' <<<"$body"
	[ "$(allocs "$child")" = "[]" ]
	req DELETE "/v1/job/$(enc "$child")"
	wait_dead "$child"
}

@test "lifecycle: stop via DELETE ends complete with DesiredStatus stop; purge" {
	start
	parent
	behave '{"job":"ci","hold":true}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].ClientStatus == "running"'
	req DELETE "/v1/job/$(enc "$child")"
	[ "$code" = 200 ]
	jq -e '.EvalID != "" and .JobModifyIndex == .Index and .EvalCreateIndex == .Index and has("KnownLeader")' <<<"$body"
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].ClientStatus == "complete"'
	allocs "$child" | jq -e '.[0] | .DesiredStatus == "stop" and .TaskStates.executor.Failed == false
		and (.TaskStates.executor.Events | map(.Type) | index("Killing") != null and index("Killed") != null)'
	req GET "/v1/job/$(enc "$child")"
	jq -e '.Stop == true and .Status == "dead"' <<<"$body"
	req DELETE "/v1/job/$(enc "$child")?purge=true"
	[ "$code" = 200 ]
	req GET "/v1/job/$(enc "$child")"
	[ "$code" = 404 ]
	# Its allocations stay listed until GC (AllocsByJob without a job).
	allocs "$child" | jq -e 'length == 1 and .[0].DesiredStatus == "stop" and .[0].JobType == "batch"'
	req DELETE "/v1/job/nope"
	[ "$code" = 200 ]
	jq -e '.EvalID == "" and .Index == 0' <<<"$body"
	req DELETE "/v1/job/ci?purge=maybe"
	[ "$code" = 500 ]
	[[ $body == 'Failed to parse value of "purge" (maybe) as a bool: '* ]]
}

@test "lifecycle: reschedule places a second alloc linked by NextAllocation" {
	start
	parent
	behave '{"job":"ci","reschedule":true,"exit_code":0}'
	dispatch
	wait_dead "$child"
	allocs "$child" | jq -e 'sort_by(.CreateIndex) | length == 2
		and .[0].ClientStatus == "failed" and .[0].NextAllocation == .[1].ID
		and .[0].FollowupEvalID != ""
		and .[1].ClientStatus == "complete" and .[1].NextAllocation == ""
		and .[1].RescheduleTracker.Events[0].PrevAllocID == .[0].ID'
}

@test "logs: parameter validation and lookup errors" {
	start
	parent
	behave '{"job":"ci","logs":[{"at":0,"data":"x\n"}]}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	req GET "/v1/client/fs/logs/$a?type=stdout"
	[ "$code" = 400 ] && [ "$body" = "must provide task name" ]
	req GET "/v1/client/fs/logs/$a?task=executor&follow=yes&type=stdout"
	[ "$code" = 400 ] && [[ $body == "failed to parse follow field to boolean: "* ]]
	req GET "/v1/client/fs/logs/$a?task=executor&plain=2&type=stdout"
	[ "$code" = 400 ] && [[ $body == "failed to parse plain field to boolean: "* ]]
	req GET "/v1/client/fs/logs/$a?task=executor&type=out"
	[ "$code" = 400 ] && [ "$body" = "must provide log type (stdout/stderr)" ]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&offset=z"
	[ "$code" = 400 ] && [[ $body == "error parsing offset: "* ]]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&origin=middle"
	[ "$code" = 400 ] && [ "$body" = "origin must be start or end" ]
	req GET "/v1/client/fs/logs/$a?task=nope&type=stdout"
	[ "$code" = 400 ] && [ "$body" = 'unknown task name "nope"' ]
	req GET "/v1/client/fs/logs/11111111-2222-3333-4444-555555555555?task=executor&type=stdout"
	[ "$code" = 404 ] && [ "$body" = 'Unknown allocation "11111111-2222-3333-4444-555555555555"' ]
}

@test "logs: JSON frames concatenated without separator; plain mode raw bytes" {
	start
	parent
	behave '{"job":"ci","logs":[{"at":0,"data":"one\n"},{"at":0.35,"data":"two\n"},{"at":0.7,"stream":"stderr","data":"err\n"}],"run_time":0.8}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	# append a second frame-worth after the end, through the control route
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"three\\n\"}" "$U/_emu/nomad/log" >/dev/null
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" --max-time 1.2 || true
	[[ $body == *'}{'* ]]
	[ "$(jq -rs '[.[] | select(.Data) | .Data | @base64d] | join("")' <<<"$body")" = $'one\ntwo\nthree' ]
	jq -s -e 'map(select(.File)) | all(.File == "alloc/logs/executor.stdout.0")' <<<"$body"
	jq -s -e 'map(select(.Data)) | last | .Offset == 14' <<<"$body"
	req GET "/v1/client/fs/logs/$a?task=executor&type=stderr&plain=true"
	[ "$code" = 200 ]
	[ "$(hdr Content-Type)" = "text/plain" ]
	[ "$body" = "err" ]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true&offset=4"
	[ "$body" = $'two\nthree' ]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true&origin=end&offset=6"
	[ "$body" = "three" ]
}

@test "logs: rotation to .1 with file deleted frames; origin=end offset=0 quirk" {
	start
	parent
	behave '{"job":"ci","logs":{"lines":30,"over":0,"prefix":"line"},"rotate_bytes":100,"max_files":3}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout"
	# 30 lines (~240 bytes) in 100-byte files: .0 .1 .2, three kept
	jq -s -e 'map(select(.Data)) | map(.File) | unique == ["alloc/logs/executor.stdout.0","alloc/logs/executor.stdout.1","alloc/logs/executor.stdout.2"]' <<<"$body"
	[ "$(jq -js '[.[] | select(.Data) | .Data | @base64d] | join("")' <<<"$body" | wc -l)" -eq 30 ]
	# origin=end&offset=0 starts at the beginning of the last file
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true&origin=end&offset=0"
	# (file .2 holds the last 31 bytes: the rotation split "line 27")
	[ "$body" = $'ine 27\nline 28\nline 29\nline 30' ]
	# a follower of file .0 sees "file deleted" once the files rotate past it
	curl -sS -N --max-time 1.5 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$BATS_TEST_TMPDIR/f" &
	bg=$!
	sleep 0.3
	# one 500-byte write rotates through .3-.7 at once: .2 (being read) is deleted
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"$(printf 'x%.0s' $(seq 500))\"}" "$U/_emu/nomad/log" >/dev/null
	wait "$bg" || true
	grep -q '"File":"alloc/logs/executor.stdout.2","FileEvent":"file deleted"' "$BATS_TEST_TMPDIR/f"
	# and the data after it comes from the newer files
	grep -q '"File":"alloc/logs/executor.stdout.7"' "$BATS_TEST_TMPDIR/f"
}

@test "logs: truncation yields a file truncated frame" {
	start
	parent
	behave '{"job":"ci","hold":true,"truncate_at":20}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].ClientStatus == "running"'
	a=$(first_alloc "$child")
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"0123456789\\n\"}" "$U/_emu/nomad/log" >/dev/null
	curl -sS -N --max-time 1.2 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$BATS_TEST_TMPDIR/f" &
	bg=$!
	sleep 0.4
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"abcdefghij\\n\"}" "$U/_emu/nomad/log" >/dev/null
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"after\\n\"}" "$U/_emu/nomad/log" >/dev/null
	wait "$bg" || true
	grep -q '"FileEvent":"file truncated"' "$BATS_TEST_TMPDIR/f"
}

@test "logs: follow stays open after the task dies; follow=false ends; heartbeats" {
	start
	parent
	behave '{"job":"ci","logs":[{"at":0,"data":"done\n"}]}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	run curl -sS -N --max-time 1.5 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true"
	[ "$status" -eq 28 ]
	[[ $output == *'{}'* ]]
	run curl -sS --max-time 3 "$U/v1/client/fs/logs/$a?task=executor&type=stdout"
	[ "$status" -eq 0 ]
	[ "$(jq -rs 'map(select(.Data) | .Data | @base64d) | join("")' <<<"$output")" = "done" ]
}

@test "logs: an alloc GC'd during a follow stream appends the error text" {
	start
	parent
	behave '{"job":"ci","logs":[{"at":0,"data":"x\n"}]}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	curl -sS -N --max-time 3 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$BATS_TEST_TMPDIR/f" &
	bg=$!
	sleep 0.4
	curl -sS -X POST --data "{\"job\":\"$child\"}" "$U/_emu/nomad/gc" >/dev/null
	wait "$bg"
	grep -q '"FileEvent":"file deleted"}failed to list entries: ' "$BATS_TEST_TMPDIR/f"
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout"
	[ "$code" = 404 ]
	[ "$body" = "Unknown allocation \"$a\"" ]
}

@test "logs: a big synthetic log is served whole in plain mode, in 64 KiB frames in JSON" {
	start
	parent
	behave '{"job":"ci","log_bytes":{"stream":"stdout","size":67108864}}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	# Throughput is measured by bench/, not here.
	n=$(curl -sS "$U/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true" | wc -c)
	[ "$n" -eq 67108864 ]
	# JSON mode: frames of at most 64 KiB
	curl -sS "$U/v1/client/fs/logs/$a?task=executor&type=stdout&origin=end&offset=300000" |
		jq -s -e 'map(select(.Data) | .Data | @base64d | length) | (max <= 65536) and (add == 300000)'
}

# logbytes ALLOC N: append N bytes ("x" lines of 64 bytes) to stdout.
logbytes() {
	python3 -c 'import base64, sys; n = int(sys.argv[1]); print(base64.b64encode((b"x" * 63 + b"\n") * (n // 64) + b"y" * (n % 64)).decode())' "$2" |
		jq -Rc --arg a "$1" '{alloc: $a, data_b64: .}' |
		curl -sS -f -X POST --data-binary @- "$U/_emu/nomad/log" >/dev/null
}

# frames FILE: Offset, Data length and File of each non-heartbeat frame.
frames() {
	jq -c 'select(. != {}) | [.Offset // 0, (.Data // "" | @base64d | length), (.File // "" | sub(".*/"; ""))]' "$1" | paste -sd' '
}

@test "logs: StreamFramer offsets: 64 KiB flushes inflate the Offset, the 200 ms flush resets it" {
	start
	parent
	behave '{"job":"ci","hold":true}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].TaskStates.executor.StartedAt != null'
	a=$(first_alloc "$child")
	logbytes "$a" 153600
	f=$BATS_TEST_TMPDIR/f
	curl -sS -N --max-time 1.5 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$f" &
	bg=$!
	sleep 0.6
	logbytes "$a" 1024
	wait "$bg" || true
	# client/lib/streamframer/framer.go: the frame takes the offset after
	# its first chunk (65536); each 64 KiB flush adds 64 KiB without
	# clearing the frame; the ticker sends the 22528 left at 196608; the
	# next frame has the true offset after its chunk, 154624.
	assert_equal "$(frames "$f")" '[65536,65536,"executor.stdout.0"] [131072,65536,"executor.stdout.0"] [196608,22528,"executor.stdout.0"] [154624,1024,"executor.stdout.0"]'
	grep -q '{}' "$f"
	# follow=false: the same frames, the last one sent at the end (Destroy)
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout"
	assert_equal "$(frames "$BATS_TEST_TMPDIR/body")" '[65536,65536,"executor.stdout.0"] [131072,65536,"executor.stdout.0"] [196608,23552,"executor.stdout.0"]'
	# from an offset: the first chunk is read from there
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&offset=100000"
	assert_equal "$(frames "$BATS_TEST_TMPDIR/body")" '[154624,54624,"executor.stdout.0"]'
	# plain: the same bytes, bare
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true"
	[ "${#body}" -eq 154623 ]	# $(...) drops the last newline
}

@test "logs: a flush that leaves nothing pending sends a frame with an Offset and no Data" {
	start
	parent
	behave '{"job":"ci","hold":true}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].TaskStates.executor.StartedAt != null'
	a=$(first_alloc "$child")
	logbytes "$a" 131072
	f=$BATS_TEST_TMPDIR/f
	curl -sS -N --max-time 0.8 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$f" || true
	assert_equal "$(frames "$f")" '[65536,65536,"executor.stdout.0"] [131072,65536,"executor.stdout.0"] [196608,0,"executor.stdout.0"]'
	# follow=false ends without it (Destroy sends only a frame with data)
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout"
	assert_equal "$(frames "$BATS_TEST_TMPDIR/body")" '[65536,65536,"executor.stdout.0"] [131072,65536,"executor.stdout.0"]'
}

@test "logs: writes within 200 ms merge into one frame with the first chunk's offset" {
	start
	parent
	behave '{"job":"ci","hold":true,"logs":[{"at":1.5,"data":"0123456789"},{"at":1.52,"data":"0123456789"},{"at":1.54,"data":"0123456789"}]}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].TaskStates.executor.StartedAt != null'
	a=$(first_alloc "$child")
	f=$BATS_TEST_TMPDIR/f
	curl -sS -N --max-time 2.5 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true" >"$f" || true
	# three chunks read one by one, sent as one frame (or two, when the
	# 200 ms ticker fell between two writes)
	run frames "$f"
	echo "$output"
	[ "$output" != '[30,30,"executor.stdout.0"]' ] ||
		skip "the stream opened after the three writes (a loaded machine)"
	[[ $output == '[10,30,"executor.stdout.0"]' || $output == '[10,10,'*' [20,20,'* || $output == '[10,20,'*' [30,10,'* ]]
}

@test "logs: the follow_lag fault delays a follow stream, not follow=false" {
	start
	parent
	behave '{"job":"ci","hold":true,"follow_lag":3}'
	dispatch
	wait_for "/v1/job/$(enc "$child")/allocations" '.[0].TaskStates.executor.StartedAt != null'
	a=$(first_alloc "$child")
	curl -sS -X POST --data "{\"alloc\":\"$a\",\"data\":\"tail\\n\"}" "$U/_emu/nomad/log" >/dev/null
	run --separate-stderr curl -sS -N --max-time 1 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true"
	[[ $output != *Data* ]]
	[[ $output == *'{}'* ]]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true"
	[ "$body" = tail ]
	sleep 2.2
	run --separate-stderr curl -sS -N --max-time 0.8 "$U/v1/client/fs/logs/$a?task=executor&type=stdout&follow=true&plain=true"
	[ "$output" = tail ]
}

@test "event stream: heartbeat first, NDJSON batches, inclusive resume, future index" {
	start
	parent
	dispatch
	wait_dead "$child"
	out=$(curl -sS -N --max-time 0.8 "$U/v1/event/stream?topic=Job&topic=Allocation" || true)
	[ "$(head -1 <<<"$out")" = "{}" ]
	grep -v '^{}$' <<<"$out" | jq -e -s 'length >= 3 and all(has("Index") and has("Events"))'
	grep -v '^{}$' <<<"$out" | jq -e -s '[.[].Events[]] | any(.Topic == "Job" and .Type == "JobRegistered")
		and any(.Topic == "Allocation" and .Type == "PlanResult")
		and any(.Topic == "Allocation" and .Type == "AllocationUpdated")
		and all(.Topic == "Job" or .Topic == "Allocation")
		and (map(select(.Topic == "Allocation")) | all(.FilterKeys[0] != null and (.Payload.Allocation | has("Job") | not)))'
	second=$(grep -v '^{}$' <<<"$out" | sed -n 2p | jq .Index)
	out2=$(curl -sS -N --max-time 0.5 "$U/v1/event/stream?topic=Job&index=$second" || true)
	[ "$(sed -n 2p <<<"$out2" | jq .Index)" = "$second" ]
	newest=$(grep -v '^{}$' <<<"$out" | tail -1 | jq .Index)
	out3=$(curl -sS -N --max-time 0.5 "$U/v1/event/stream?topic=Job&topic=Allocation&index=$((newest + 100))" || true)
	[ "$(grep -vc '^{}$' <<<"$out3")" = 1 ]
	[ "$(grep -v '^{}$' <<<"$out3" | jq .Index)" = "$newest" ]
	# key filtering by FilterKeys: Allocation:<job id>
	out4=$(curl -sS -N --max-time 0.5 "$U/v1/event/stream" -G --data-urlencode "topic=Allocation:$child" || true)
	grep -v '^{}$' <<<"$out4" | jq -e -s --arg c "$child" 'length >= 1 and ([.[].Events[]] | all(.Topic == "Allocation" and .FilterKeys[0] == $c))'
	# heartbeats keep coming
	[ "$(grep -c '^{}$' <<<"$out")" -ge 2 ]
	# hijacked transport: Connection: close, no chunking
	curl -sS -N --max-time 0.5 -D "$BATS_TEST_TMPDIR/eh" -o /dev/null "$U/v1/event/stream?topic=Job" || true
	grep -qi '^Connection: close' "$BATS_TEST_TMPDIR/eh"
	! grep -qi '^Transfer-Encoding' "$BATS_TEST_TMPDIR/eh"
	req GET "/v1/event/stream?topic=a:b:c"
	[ "$code" = 400 ]
}

@test "event stream: live events arrive while connected" {
	start
	parent
	curl -sS -N --max-time 1.5 "$U/v1/event/stream?topic=Job" >"$BATS_TEST_TMPDIR/ev" &
	bg=$!
	sleep 0.3
	dispatch
	wait "$bg" || true
	grep -v '^{}$' "$BATS_TEST_TMPDIR/ev" | jq -e -s --arg c "$child" '[.[].Events[]] | any(.Key == $c and .Type == "JobRegistered" and .Payload.Job.Status == "pending")'
}

@test "ACL: 403 Permission denied with a wrong token, 200 with the right one" {
	start --acl --token "s3cr3t=submit-job,dispatch-job,read-job,list-jobs,read-logs@default" --event-transport chunked
	req PUT /v1/jobs --data '{"Job":{"ID":"ci","Type":"batch","ParameterizedJob":{},"TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor"}]}]}}'
	[ "$code" = 403 ]
	[ "$body" = "Permission denied" ]
	req PUT /v1/jobs -H "X-Nomad-Token: s3cr3t" --data '{"Job":{"ID":"ci","Type":"batch","ParameterizedJob":{},"TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor"}]}]}}'
	[ "$code" = 200 ]
	req PUT /v1/job/ci/dispatch -H "X-Nomad-Token: wrong" --data '{}'
	[ "$code" = 403 ]
	[ "$body" = "Permission denied" ]
	req PUT /v1/job/ci/dispatch -H "Authorization: Bearer s3cr3t" --data '{}'
	[ "$code" = 200 ]
	req GET "/v1/job/ci?namespace=other" -H "X-Nomad-Token: s3cr3t"
	[ "$code" = 403 ]
	req GET "/v1/event/stream?topic=Job" -H "X-Nomad-Token: wrong"
	[ "$code" = 403 ]
	[ "$body" = "Permission denied" ]
	curl -sS -X POST --data '{"secret":"ro","capabilities":["read-job"]}' "$U/_emu/nomad/token"
	req GET /v1/job/ci -H "X-Nomad-Token: ro"
	[ "$code" = 200 ]
	req PUT /v1/job/ci/dispatch -H "X-Nomad-Token: ro" --data '{}'
	[ "$code" = 403 ]
}

@test "ACL with the hijacked event stream: 200 then EOF" {
	start --acl
	run curl -sS -N --max-time 2 -D "$BATS_TEST_TMPDIR/eh" "$U/v1/event/stream?topic=Job" -H "X-Nomad-Token: wrong"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/eh"
}

# The event stream's ACL rule (nomad/stream/event_broker.go
# aclAllowsSubscription), as the real Nomad 1.6.3 answers it (chunked) and
# as Nomad 1.11.2 and later do (hijack).
@test "ACL event stream, 1.6.3 (chunked): namespace=* with read-job anywhere, 500 without, 403 unknown" {
	start --acl --event-transport chunked --token "ci=read-job,list-jobs@ci" \
		--token "none=list-jobs@ci" --token "m=management"
	req PUT "/v1/jobs?namespace=default" -H "X-Nomad-Token: m" --data '{"Job":{"ID":"other","Type":"batch","ParameterizedJob":{},"TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor"}]}]}}'
	[ "$code" = 200 ]
	# * is allowed: the token reads jobs in some namespace, and gets the
	# events of every one (1.6.3 filters only a named namespace).
	out=$(curl -sS -N --max-time 0.8 -H "X-Nomad-Token: ci" "$U/v1/event/stream?topic=Job&namespace=*" || true)
	grep -v '^{}$' <<<"$out" | jq -e -s '[.[].Events[]] | any(.Namespace == "default" and .Key == "other")'
	req GET "/v1/event/stream?topic=Job&namespace=default" -H "X-Nomad-Token: ci"
	[ "$code" = 500 ]
	[ "$body" = "Permission denied" ]
	req GET "/v1/event/stream?topic=Job&namespace=*" -H "X-Nomad-Token: none"
	[ "$code" = 500 ]
	req GET "/v1/event/stream?topic=Job&namespace=ci"
	[ "$code" = 500 ]
	req GET "/v1/event/stream?topic=Job&namespace=ci" -H "X-Nomad-Token: wrong"
	[ "$code" = 403 ]
	[ "$body" = "Permission denied" ]
	# All topics need a management token.
	req GET "/v1/event/stream?namespace=ci" -H "X-Nomad-Token: ci"
	[ "$code" = 500 ]
	out=$(curl -sS -N --max-time 0.5 -H "X-Nomad-Token: ci" "$U/v1/event/stream?topic=Job&namespace=ci" || true)
	[ "$(head -1 <<<"$out")" = "{}" ]
}

@test "ACL event stream, 1.11 (hijack): namespace=* needs read-job in every namespace" {
	start --acl --token "ci=read-job,list-jobs@ci" --token "all=read-job,list-jobs"
	out=$(curl -sS -N --max-time 0.5 -H "X-Nomad-Token: ci" "$U/v1/event/stream?topic=Job&namespace=*" || true)
	[ -z "$out" ]
	out=$(curl -sS -N --max-time 0.5 -H "X-Nomad-Token: ci" "$U/v1/event/stream?topic=Job&namespace=ci" || true)
	[ "$(head -1 <<<"$out")" = "{}" ]
	out=$(curl -sS -N --max-time 0.5 -H "X-Nomad-Token: all" "$U/v1/event/stream?topic=Job&namespace=*" || true)
	[ "$(head -1 <<<"$out")" = "{}" ]
}

@test "faults: status 500 on dispatch and a log stream cut midway" {
	start
	parent
	emu_fault "$U" '{"method":"PUT","path":"/dispatch","status":500,"body":"boom","times":1}'
	req PUT /v1/job/ci/dispatch --data '{"Meta":{"COMMIT":"a"}}'
	[ "$code" = 500 ]
	[ "$body" = "boom" ]
	behave '{"job":"ci","logs":{"lines":1000,"over":0}}'
	dispatch
	wait_dead "$child"
	a=$(first_alloc "$child")
	emu_fault "$U" '{"path":"/v1/client/fs/logs/","cut_after":100,"times":1}'
	run curl -sS "$U/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true"
	[ "$status" -ne 0 ]
	run curl -sS "$U/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 1000 ]
	emu_requests "$U" '[.[] | select(.path | startswith("/v1/job/ci/dispatch"))] | length' | grep -qx 2
}

@test "exec mode: runs the task with meta env and the payload file" {
	start --exec
	req PUT /v1/jobs --data-binary @- <<-'EOF'
	{"Job":{"ID":"ci","Type":"batch","ParameterizedJob":{"MetaRequired":["COMMIT"],"MetaOptional":["run-id","BRANCH"]},
	 "TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor","Driver":"raw_exec",
	  "Env":{"MY_COMMIT":"${NOMAD_META_COMMIT}"},
	  "Config":{"command":"/bin/sh","args":["-c","echo $MY_COMMIT $NOMAD_META_commit $NOMAD_META_RUN_ID [$NOMAD_META_BRANCH]; cat $NOMAD_TASK_DIR/in.json; echo oops >&2; exit 3"]},
	  "DispatchPayload":{"File":"in.json"}}]}]}}
	EOF
	[ "$code" = 200 ]
	dispatch ci '{"Meta":{"COMMIT":"c0ffee","run-id":"42"},"Payload":"eyJhIjoxfQ=="}'
	wait_dead "$child"
	allocs "$child" | jq -e '.[0].ClientStatus == "failed" and (.[0].TaskStates.executor.Events | map(select(.Type == "Terminated")) | last | .ExitCode == 3)'
	a=$(first_alloc "$child")
	req GET "/v1/client/fs/logs/$a?task=executor&type=stdout&plain=true"
	[ "$body" = $'c0ffee 42 []\n{"a":1}' ]
	req GET "/v1/client/fs/logs/$a?task=executor&type=stderr&plain=true"
	[ "$body" = "oops" ]
}
