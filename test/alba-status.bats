#!/usr/bin/env bats
# alba-status against the Nomad, Consul and forge emulators: the verdict of
# each way a build ends, reported through wait (-w -p), watch (-W) and sync
# (-S); the watcher cut off and resumed; retries on a failing forge;
# cancel_previous; GitHub's headers.

load helpers

REPO=https://git.example.org/acme/widget.git
JOBS_NS=ci

setup_file() {
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" \
		>"$BATS_FILE_TMPDIR/builder.json"
}

setup() {
	emu_start nomad --event-heartbeat 0.5 --event-buffer 1000
	emu_start consul
	emu_start forge --repo acme/widget --token T
	export NOMAD_ADDR=$NOMAD_URL CONSUL_HTTP_ADDR=$CONSUL_URL
	export ALBATROS_URL=https://ci.example.org
	unset NOMAD_NAMESPACE NOMAD_TOKEN CONSUL_HTTP_TOKEN
	curl -sS -f -X PUT "$NOMAD_URL/v1/jobs?namespace=$JOBS_NS" \
		--data-binary @"$BATS_FILE_TMPDIR/builder.json" >/dev/null
	KEY=albatros/$(printf %s "$REPO" | base64 -w0)
	seed_config '{}'
	SLOW=1
	[ -z "${ALBA_SLOW:-}" ] || SLOW=4
	MGMT=()
}

# acl_nomad [ARGS...]: Nomad with ACLs instead (the setup's emulator stays
# up, unused): the builder registered with a management token, and the
# watcher's NOMAD_TOKEN reading jobs in ci only.
acl_nomad() {
	emu_start nomad --event-heartbeat 0.5 --acl --token m=management \
		--token "ci=read-job,list-jobs@ci" "$@"
	export NOMAD_ADDR=$NOMAD_URL NOMAD_TOKEN=ci
	MGMT=(-H "X-Nomad-Token: m")
	curl -sS -f -X PUT "${MGMT[@]}" "$NOMAD_URL/v1/jobs?namespace=$JOBS_NS" \
		--data-binary @"$BATS_FILE_TMPDIR/builder.json" >/dev/null
}

# seed_config JSON: the repository's configuration: a Gitea section for the
# forge emulator, merged with JSON.
seed_config() {
	CONFIG=$(jq -cn --arg u "$FORGE_URL" --argjson x "$1" \
		'{hook: {token: "s3cr3t"}, gitea: {url: $u, token: "T"}} + $x')
	curl -sS -f -X PUT "$CONSUL_URL/v1/kv/$KEY" --data-binary "$CONFIG" >/dev/null
}

teardown() {
	[ -z "${WATCHER:-}" ] || kill "$WATCHER" 2>/dev/null || true
	emu_stop
}

# start_watcher OUT ERR [ARGS...]: alba-status -W in the background ($WATCHER),
# once it follows the event stream.
start_watcher() {
	local out=$1 err=$2
	shift 2
	alba-status -W "$@" >"$out" 2>"$err" 3>&- &
	WATCHER=$!
	wait_until 10 streaming
}

streaming() {
	[ "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/event/stream"))] | length')" -gt 0 ]
}

stop_watcher() {
	kill "$WATCHER"
	wait "$WATCHER" || true
	WATCHER=
}

# blocked ID: a blocking query (index > 0) on job ID reached Nomad.
blocked() {
	curl -sS "$NOMAD_URL/_emu/requests" | jq -e --arg p "/v1/job/$(enc "$1")?" \
		'[.[] | select((.path | startswith($p)) and (.path | test("[?&]index=[1-9]")))] | length > 0' >/dev/null
}

sha() { printf %s "$1" | sha1sum | cut -c1-40; }
enc() { jq -rn --arg s "$1" '$s|@uri'; }

# dispatch NAME SCENARIO [BRANCH]: a build of commit $(sha NAME), flavor NAME,
# running SCENARIO (nomad.py scenario keys); sets $ID.
dispatch() {
	local body
	curl -sS -X POST "$NOMAD_URL/_emu/nomad/behavior" \
		-d "{\"job\":\"builder\",\"namespace\":\"$JOBS_NS\",\"reset\":true}" >/dev/null
	curl -sS -X POST "$NOMAD_URL/_emu/nomad/behavior" \
		-d "$(jq -c --arg ns "$JOBS_NS" '. + {job: "builder", namespace: $ns}' <<<"$2")" >/dev/null
	body=$(jq -cn --arg r "$REPO" --arg c "$(sha "$1")" --arg b "${3:-main}" --arg f "$1" \
		'{Meta: {REPO_URL: $r, COMMIT: $c, BRANCH: $b, FLAVOR: $f}}')
	ID=$(curl -sS -f -X PUT "${MGMT[@]}" "$NOMAD_URL/v1/job/builder/dispatch?namespace=$JOBS_NS" \
		--data-binary "$body" | jq -r .DispatchedJobID)
	[ -n "$ID" ] && [ "$ID" != null ]
}

# doc ID NAME [BRANCH]: the document alba-dispatch leaves for that build.
doc() {
	jq -cn --arg id "$1" --arg ns "$JOBS_NS" --arg r "$REPO" --arg c "$(sha "$2")" \
		--arg f "$2" --arg b "${3:-main}" --arg k "$KEY" --argjson cfg "$CONFIG" \
		'{job: {id: $id, namespace: $ns, parent: "builder"},
		  build: {repo_url: $r, commit: $c, branch: $b, flavor: $f, trusted: true},
		  config: ($cfg + {consul_key: $k})}'
}

job_stop() {
	curl -sS -f -X DELETE "$NOMAD_URL/v1/job/$(enc "$1")?namespace=$JOBS_NS" >/dev/null
}

job_purge() {
	curl -sS -f -X DELETE "$NOMAD_URL/v1/job/$(enc "$1")?namespace=$JOBS_NS&purge=true" >/dev/null
}

job_status() {
	curl -sS "${MGMT[@]}" "$NOMAD_URL/v1/job/$(enc "$1")?namespace=$JOBS_NS" | jq -r .Status
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	local n=$(($1 * 20 * SLOW)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

dead() { [ "$(job_status "$1")" = dead ]; }

# final NAME: "state|description" of the forge's statuses for build NAME.
final() {
	curl -sS "$FORGE_URL/_emu/forge/statuses" |
		jq -r --arg s "$(sha "$1")" '.[] | select(.sha == $s) | "\(.state)|\(.context)|\(.description)"'
}

posts() { emu_requests "$FORGE_URL" '[.[] | select(.method == "POST")] | length'; }

lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# The five endings and what the forge must show for each.
start_five() {
	dispatch ok '{"exit_code":0}'; OK=$ID
	dispatch three '{"exit_code":3}'; THREE=$ID
	dispatch lost '{"outcome":"lost"}'; LOST=$ID
	dispatch unplaced '{"outcome":"never_placed"}'; UNPLACED=$ID
	dispatch stopped '{"hold":true}'; STOPPED=$ID
}

check_five() {
	assert_equal "$(final ok)" "success|albatros/ok|build succeeded"
	assert_equal "$(final three)" "failure|albatros/three|build failed: exit code 3"
	assert_equal "$(final lost)" "error|albatros/lost|allocation lost: alloc is lost since its node is down"
	assert_equal "$(final unplaced)" "error|albatros/unplaced|not placed within 1 s"
	assert_equal "$(final stopped)" "error|albatros/stopped|stopped"
	# The build not placed in time was stopped, so it cannot run later.
	assert_equal "$(curl -sS "$NOMAD_URL/v1/job/$(enc "$UNPLACED")?namespace=$JOBS_NS" | jq -c '[.Stop, .Status]')" '[true,"dead"]'
}

@test "one-shot: the state of a finished build, without posting" {
	dispatch three '{"exit_code":3}'
	wait_until 5 dead "$ID"
	run -0 --separate-stderr alba-status <<<"$(doc "$ID" three)"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '.status | [.state, .exit_code, .description, (.alloc_id|length), (.started_at|type), (.finished_at|type)]' <<<"$output")" \
		'["failure",3,"build failed: exit code 3",36,"string","string"]'
	assert_equal "$(jq -c '.job.id' <<<"$output")" "\"$ID\""
	assert_equal "$(posts)" 0
}

@test "one-shot: a running build, and -p posts it as pending" {
	dispatch run '{"hold":true}'
	wait_until 5 eval '[ "$(job_status "$ID")" = running ]'
	sleep 0.3
	run -0 --separate-stderr alba-status -p <<<"$(doc "$ID" run)"
	assert_equal "$(jq -c '.status | [.state, .exit_code, .description]' <<<"$output")" '["running",null,"running"]'
	assert_equal "$(final run)" "pending|albatros/run|running"
	assert_equal "$(curl -sS "$FORGE_URL/_emu/forge/statuses" | jq -r '.[0].target_url')" \
		"https://ci.example.org/build?job=$(enc "$ID")&log=stderr"
	job_stop "$ID"
}

@test "one-shot from GET /status?job=ID: .status and .job with the job's meta" {
	dispatch ok '{"exit_code":0}'
	wait_until 5 dead "$ID"
	run -0 --separate-stderr alba-status <<<"{\"request\":{\"method\":\"GET\",\"path\":\"/status\",\"query\":{\"job\":\"$ID\"}}}"
	assert_equal "$(jq -c '.job | [.id, .namespace, .parent, .meta.COMMIT, .meta.FLAVOR]' <<<"$output")" \
		"[\"$ID\",\"ci\",\"builder\",\"$(sha ok)\",\"ok\"]"
	assert_equal "$(jq -r .status.state <<<"$output")" success
	# The namespace was found with a prefix listing over every namespace.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "GET" and (.path | startswith("/v1/jobs?"))) | .path][0]')" \
		"\"/v1/jobs?prefix=$(enc "$ID")&namespace=*\""
}

@test "one-shot: unknown job 404, not a build 400, malformed job parameter 400" {
	run -1 --separate-stderr alba-status <<<'{"request":{"query":{"job":"builder/dispatch-1-deadbeef"}}}'
	assert_equal "$(jq -c .error <<<"$output")" \
		'{"status":404,"code":"unknown_job","message":"no job builder/dispatch-1-deadbeef in any namespace"}'
	assert_equal "$stderr" "alba-status: fatal: no job builder/dispatch-1-deadbeef in any namespace"
	# A plain batch job whose ID looks dispatched.
	jq '.Job.ID = "plain/dispatch-1-x" | .Job.Name = .Job.ID | del(.Job.ParameterizedJob)' "$BATS_FILE_TMPDIR/builder.json" |
		curl -sS -f -X PUT "$NOMAD_URL/v1/jobs?namespace=ci" --data-binary @- >/dev/null
	run -100 --separate-stderr alba-status <<<'{"request":{"query":{"job":"plain/dispatch-1-x"}}}'
	assert_equal "$(jq -c .error <<<"$output")" \
		'{"status":400,"code":"not_a_build","message":"job plain/dispatch-1-x is not a dispatched build"}'
	for j in 'builder' 'a/b/dispatch-1' 'builder/dispatch-1\u001b[2J' 'builder/dispatch-' '../x/dispatch-1'; do
		run -100 --separate-stderr alba-status <<<"{\"request\":{\"query\":{\"job\":\"$j\"}}}"
		assert_equal "$(jq -r .error.code <<<"$output")" bad_job
	done
	run -100 --separate-stderr alba-status <<<'{"request":{"query":{}}}'
	assert_equal "$(jq -r .error.code <<<"$output")" no_job
	# Nothing of it reached Nomad but the lookups of the two well-formed IDs.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "GET")] | length')" 3
}

@test "wait: five endings, each reported with its state and description" {
	start_five
	local id n
	for n in ok three lost unplaced stopped; do
		case $n in
		ok) id=$OK ;; three) id=$THREE ;; lost) id=$LOST ;;
		unplaced) id=$UNPLACED ;; stopped) id=$STOPPED ;;
		esac
		doc "$id" "$n" >"$BATS_TEST_TMPDIR/$n.doc"
		alba-status -w -p -n 1 <"$BATS_TEST_TMPDIR/$n.doc" >"$BATS_TEST_TMPDIR/$n.out" \
			2>"$BATS_TEST_TMPDIR/$n.err" 3>&- &
		echo $! >"$BATS_TEST_TMPDIR/$n.pid"
	done
	wait_until 5 eval '[ "$(job_status "$STOPPED")" = running ]'
	# Its waiter blocks on the job (index > 0) before it is stopped.
	wait_until 10 blocked "$STOPPED"
	job_stop "$STOPPED"
	for n in ok three lost unplaced stopped; do
		local rc=0
		wait "$(cat "$BATS_TEST_TMPDIR/$n.pid")" || rc=$?
		if [ $n = ok ]; then assert_equal "$rc" 0; else assert_equal "$rc" 1; fi
		assert_equal "$(cat "$BATS_TEST_TMPDIR/$n.err")" ""
	done
	check_five
	assert_equal "$(jq -c '.status | [.state, .exit_code]' "$BATS_TEST_TMPDIR/three.out")" '["failure",3]'
	assert_equal "$(posts)" 5
	# Waiting is blocking queries, not polling: a handful of reads per build.
	local reads
	reads=$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "GET" and (.path | startswith("/v1/job/")))] | length')
	[ "$reads" -le 60 ] || { echo "$reads reads"; return 1; }
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | test("[?&]index=[1-9]"))] | length > 0')" true
}

@test "watch: five endings reported as they happen, each once" {
	start_watcher "$BATS_TEST_TMPDIR/w.out" "$BATS_TEST_TMPDIR/w.err" -n 1
	start_five
	wait_until 5 eval '[ "$(job_status "$STOPPED")" = running ]'
	job_stop "$STOPPED"
	wait_until 15 lines "$BATS_TEST_TMPDIR/w.out" 5
	sleep 1
	stop_watcher
	check_five
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/w.out")" 5
	assert_equal "$(jq -r '.forge' "$BATS_TEST_TMPDIR/w.out" | sort -u)" posted
	assert_equal "$(jq -r .job.id "$BATS_TEST_TMPDIR/w.out" | sort | uniq | wc -l)" 5
	assert_equal "$(posts)" 5
	assert_equal "$(cat "$BATS_TEST_TMPDIR/w.err")" ""
}

@test "purged while running: wait and watch report it stopped; purged after its end: nothing" {
	start_watcher "$BATS_TEST_TMPDIR/w.out" "$BATS_TEST_TMPDIR/w.err" -n 1
	dispatch ok '{"exit_code":0}'
	OK=$ID
	wait_until 15 lines "$BATS_TEST_TMPDIR/w.out" 1
	dispatch purged '{"hold":true}'
	doc "$ID" purged >"$BATS_TEST_TMPDIR/p.doc"
	alba-status -w -p -n 1 <"$BATS_TEST_TMPDIR/p.doc" >"$BATS_TEST_TMPDIR/p.out" \
		2>"$BATS_TEST_TMPDIR/p.err" 3>&- &
	local pid=$! rc=0
	wait_until 5 eval '[ "$(job_status "$ID")" = running ]'
	wait_until 10 blocked "$ID"
	job_purge "$ID"
	wait "$pid" || rc=$?
	assert_equal "$rc" 1
	assert_equal "$(jq -c '.status | [.state, .description]' "$BATS_TEST_TMPDIR/p.out")" '["error","stopped"]'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/p.err")" ""
	wait_until 15 lines "$BATS_TEST_TMPDIR/w.out" 2
	# A purge of a build that has ended (and been reported) says nothing new.
	job_purge "$OK"
	sleep 1
	stop_watcher
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/w.out")" 2
	# The watcher judged it from the deregistration event; it posts unless
	# the waiter's post came first (then the forge shows it already).
	assert_equal "$(jq -c --arg id "$ID" 'select(.job.id == $id) | [.status.state, .status.description]' "$BATS_TEST_TMPDIR/w.out")" '["error","stopped"]'
	assert_equal "$(final purged | sort -u)" "error|albatros/purged|stopped"
	assert_equal "$(final ok)" "success|albatros/ok|build succeeded"
	[[ $(posts) == [23] ]]
	assert_equal "$(cat "$BATS_TEST_TMPDIR/w.err")" ""
}

@test "sync: five endings posted; a second run posts nothing" {
	start_five
	wait_until 5 eval '[ "$(job_status "$STOPPED")" = running ]'
	job_stop "$STOPPED"
	for id in "$OK" "$THREE" "$LOST" "$STOPPED"; do wait_until 5 dead "$id"; done
	sleep 1
	run -0 --separate-stderr alba-status -S -n 1
	assert_equal "$stderr" ""
	assert_equal "$(printf '%s\n' "$output" | jq -r .job.id | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$OK" "$THREE" "$LOST" "$UNPLACED" "$STOPPED" | sort | tr '\n' ' ')"
	check_five
	assert_equal "$(posts)" 5
	run -0 --separate-stderr alba-status -S -n 1
	assert_equal "$output" ""
	assert_equal "$(posts)" 5
	# The listing names each meta key before reading it (api/nomad.md §3).
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/jobs?prefix=builder%2Fdispatch-"))][0].path')" \
		"\"/v1/jobs?prefix=builder%2Fdispatch-&namespace=ci&meta=true&filter=$(enc 'ParentID == "builder" and "REPO_URL" in Meta and "COMMIT" in Meta')\""
}

@test "sync: a commit built twice, the later build's end is posted over the earlier's" {
	dispatch twice '{"exit_code":0}'
	local first=$ID
	wait_until 5 dead "$first"
	run -0 --separate-stderr alba-status -S -n 1
	assert_equal "$(final twice)" "success|albatros/twice|build succeeded"
	# Job IDs carry the dispatch second: the second build is the later one.
	sleep 1.1
	dispatch twice '{"exit_code":3}'
	wait_until 5 dead "$ID"
	run -0 --separate-stderr alba-status -S -n 1
	assert_equal "$stderr" ""
	assert_equal "$(printf '%s\n' "$output" | jq -r 'select(.forge == "posted") | .job.id')" "$ID"
	assert_equal "$(final twice | tail -1)" "failure|albatros/twice|build failed: exit code 3"
	# Each build's own final status, or a later build's, is the end of it.
	run -0 --separate-stderr alba-status -S -n 1
	assert_equal "$output" ""
	assert_equal "$(posts)" 2
	[ "$(dispatch_second "$ID")" -gt "$(dispatch_second "$first")" ]
}

dispatch_second() { sed 's/.*dispatch-\([0-9]*\)-.*/\1/' <<<"$1"; }

@test "watch: cut off from Nomad three times during 20 builds, reports each once" {
	emu_fault "$NOMAD_URL" '{"path": "^/v1/event/stream", "cut_after": 1500, "times": 3}'
	start_watcher "$BATS_TEST_TMPDIR/w.out" "$BATS_TEST_TMPDIR/w.err"
	local i
	for i in $(seq 20); do
		dispatch "b$i" "{\"exit_code\": $((i % 3)), \"run_time\": 0.2}"
		sleep 0.05
	done
	wait_until 20 lines "$BATS_TEST_TMPDIR/w.out" 20
	sleep 1.5
	stop_watcher
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/w.out")" 20
	assert_equal "$(jq -r .job.id "$BATS_TEST_TMPDIR/w.out" | sort -u | wc -l)" 20
	assert_equal "$(posts)" 20
	for i in 3 4 5; do
		local want=success
		[ $((i % 3)) = 0 ] || want=failure
		assert_equal "$(final "b$i" | cut -d'|' -f1)" "$want"
	done
	# It did reconnect, resuming after the last index it saw.
	local streams
	streams=$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/event/stream"))] | length')
	[ "$streams" -ge 4 ] || { echo "$streams streams"; return 1; }
	grep -q 'resuming from index' "$BATS_TEST_TMPDIR/w.err"
}

@test "watch with a token scoped to ci: -N ci follows the event stream of ci" {
	acl_nomad
	start_watcher "$BATS_TEST_TMPDIR/w.out" "$BATS_TEST_TMPDIR/w.err" -N ci
	dispatch ok '{"exit_code":0}'
	wait_until 10 lines "$BATS_TEST_TMPDIR/w.out" 1
	stop_watcher
	assert_equal "$(jq -r '"\(.job.id) \(.forge) \(.status.state)"' "$BATS_TEST_TMPDIR/w.out")" "$ID posted success"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/w.err")" ""
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/event/stream")) | .path | test("[?&]namespace=ci&")] | unique')" '[true]'
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "GET" and (.path | startswith("/v1/jobs?"))) | .path | test("[?&]namespace=ci&")] | unique')" '[true]'
}

@test "watch refused the event stream of *: says once what the token lacks, follows by blocking queries" {
	acl_nomad
	start_watcher "$BATS_TEST_TMPDIR/w.out" "$BATS_TEST_TMPDIR/w.err"
	wait_until 10 grep -q "refused the event stream" "$BATS_TEST_TMPDIR/w.err"
	dispatch ok '{"exit_code":0}'
	OK=$ID
	dispatch three '{"exit_code":3}'
	wait_until 15 lines "$BATS_TEST_TMPDIR/w.out" 2
	sleep 1
	stop_watcher
	assert_equal "$(jq -r '"\(.job.id) \(.forge) \(.status.state)"' "$BATS_TEST_TMPDIR/w.out" | sort)" \
		"$(printf '%s posted success\n%s posted failure' "$OK" "$ID" | sort)"
	assert_equal "$(grep -c "refused the event stream" "$BATS_TEST_TMPDIR/w.err")" 1
	grep -q "needs read-job in every namespace" "$BATS_TEST_TMPDIR/w.err"
	# Two refused connections (a 200 that ends before its first byte could be
	# a cut once), then no more.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/event/stream"))] | length')" 2
	[ "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/jobs?")) | select(.path | test("[?&]index=[1-9]"))] | length')" -gt 0 ]
}

@test "sync after the watcher was down during 10 builds posts the 10; again, none" {
	start_watcher "$BATS_TEST_TMPDIR/w.out" /dev/null
	local i
	dispatch before '{"exit_code":0}'
	wait_until 5 lines "$BATS_TEST_TMPDIR/w.out" 1
	stop_watcher
	local ids=()
	for i in $(seq 10); do
		dispatch "d$i" '{"exit_code":0,"run_time":0.1}'
		ids+=("$ID")
	done
	for i in "${ids[@]}"; do wait_until 5 dead "$i"; done
	assert_equal "$(posts)" 1
	run -0 --separate-stderr alba-status -S
	assert_equal "$(printf '%s\n' "$output" | jq -r .job.id | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')"
	assert_equal "$(posts)" 11
	run -0 --separate-stderr alba-status -S
	assert_equal "$output" ""
	assert_equal "$(posts)" 11
}

@test "forge answering 500: bounded retries, a clear error, the build untouched" {
	dispatch ok '{"exit_code":0}'
	wait_until 5 dead "$ID"
	emu_fault "$FORGE_URL" '{"method": "POST", "path": "/statuses/", "status": 500, "body": "{\"message\":\"database is locked\"}", "content_type": "application/json"}'
	run -111 --separate-stderr alba-status -p <<<"$(doc "$ID" ok)"
	assert_equal "$(jq -r .status.state <<<"$output")" success
	assert_equal "$(posts)" 4
	assert_equal "$(grep -c 'answered 500 to POST, retrying in' <<<"$stderr")" 3
	assert_equal "$(tail -1 <<<"$stderr")" "alba-status: warning: unable to report $ID to the forge: gitea at $FORGE_URL/api/v1 answered 500 to POST of repository acme/widget (after retries): database is locked"
	# Nomad only read.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "DELETE")] | length')" 0
	assert_equal "$(job_status "$ID")" dead
}

@test "forge timing out: bounded retries with the -t timeout, then a clear error" {
	dispatch ok '{"exit_code":0}'
	wait_until 5 dead "$ID"
	emu_fault "$FORGE_URL" '{"method": "POST", "path": "/statuses/", "delay": 3}'
	run -111 --separate-stderr alba-status -p -t 0.3 <<<"$(doc "$ID" ok)"
	assert_equal "$(posts)" 4
	assert_equal "$(grep -c 'Operation timed out.*retrying in' <<<"$stderr")" 3
	assert_equal "$(tail -1 <<<"$stderr" | sed 's/ after [0-9]* milliseconds.*//')" \
		"alba-status: warning: unable to report $ID to the forge: unable to reach gitea at $FORGE_URL/api/v1: Operation timed out"
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "DELETE")] | length')" 0
}

@test "cancel_previous: the older build of the branch is stopped and reported" {
	seed_config '{"cancel_previous": true}'
	dispatch old '{"hold":true}' feature; OLD=$ID
	dispatch other '{"hold":true}' main; OTHER=$ID
	dispatch new '{"hold":true}' feature; NEW=$ID
	wait_until 5 eval '[ "$(job_status "$OLD")" = running ]'
	doc "$NEW" new feature | jq -c ".job.nomad = {JobCreateIndex: $(curl -sS "$NOMAD_URL/v1/job/$(enc "$NEW")?namespace=ci" | jq .CreateIndex)}" >"$BATS_TEST_TMPDIR/new.doc"
	run -0 --separate-stderr alba-status -c <"$BATS_TEST_TMPDIR/new.doc"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c .status.cancelled <<<"$output")" "[\"$OLD\"]"
	assert_equal "$(final old)" "error|albatros/old|cancelled by $NEW"
	wait_until 5 dead "$OLD"
	assert_equal "$(job_status "$OTHER")" running
	assert_equal "$(job_status "$NEW")" running
	# The DELETE came after the status.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.method == "DELETE") | .path]')" \
		"[\"/v1/job/$(enc "$OLD")?namespace=ci\"]"
	# A sync (or watcher) leaves the cancelled status as it is.
	run -0 --separate-stderr alba-status -S
	assert_equal "$output" ""
	assert_equal "$(final old)" "error|albatros/old|cancelled by $NEW"
	# And the waiter of the old build too.
	run -1 --separate-stderr alba-status -w -p <<<"$(doc "$OLD" old feature)"
	assert_equal "$(jq -r .status.description <<<"$output")" stopped
	assert_equal "$(final old)" "error|albatros/old|cancelled by $NEW"
	job_stop "$OTHER"
	job_stop "$NEW"
}

@test "GitHub: Bearer token, User-Agent, API headers, the state key" {
	emu_start forge --kind github --repo acme/widget --token T
	seed_config "$(jq -cn --arg u "$FORGE_URL" '{forge: {kind: "github", url: $u, token: "T"}, gitea: null}')"
	CONFIG=$(jq -c 'del(.gitea)' <<<"$CONFIG")
	dispatch ok '{"exit_code":0}'
	wait_until 5 dead "$ID"
	run -0 --separate-stderr alba-status -p <<<"$(doc "$ID" ok)"
	assert_equal "$stderr" ""
	assert_equal "$(emu_requests "$FORGE_URL" '.[] | select(.method == "POST") | (.headers | map({(.[0]): .[1]}) | add) as $h | [.path, $h.Authorization, ($h["User-Agent"] | startswith("albatros/")), $h.Accept, $h["X-GitHub-Api-Version"]]')" \
		"[\"/repos/acme/widget/statuses/$(sha ok)\",\"Bearer T\",true,\"application/vnd.github+json\",\"2022-11-28\"]"
	assert_equal "$(final ok)" "success|albatros/ok|build succeeded"
	# The read for sync: the combined status names the state "state".
	job_stop "$ID"
	run -0 --separate-stderr alba-status -S
	assert_equal "$output" ""
}
