#!/usr/bin/env bats
# Build logs on the real Nomad, through GET /build behind socat: what the
# task wrote arrives byte for byte, whether the reader connects at the
# start, in the middle or after the end, across a restart and across
# rotations.  The expected bytes are made here by the same generator the
# task runs, not read back from Nomad.

load helpers
load real

REPO_URL=https://git.example.org/acme/logs.git
SECRET=l0gs-s3cr3t-value

setup_file() {
	export REAL_DIR=$BATS_FILE_TMPDIR
	real_consul_start
	real_nomad_start
	real_serve_start
	# A builder whose script is a meta value, so that each test says what
	# the task writes; and one that restarts once; both under the builder
	# contract (group runner, task executor, the four meta keys).
	local f
	for f in logs logs-restart; do
		sed -e "s/@JOB@/$f/" -e "s/@ATTEMPTS@/$([ $f = logs ] && echo 0 || echo 1)/" \
			"$TOP/test/fixtures/real-logs.hcl" >"$BATS_FILE_TMPDIR/$f.hcl"
		real_job_run "$BATS_FILE_TMPDIR/$f.hcl"
	done
	jq -n --arg s "DEPLOY_KEY=$SECRET" \
		'{hook: {token: "t"}, builder: "logs", flavors: {restart: "logs-restart"},
		  trusted: {senders: ["quentin"]}, inject: $s}' |
		alba-config -s "$REPO_URL" >/dev/null
}

teardown_file() {
	real_stop
}

# The generators, run by the task and here.  big: 1 MiB at once on stdout,
# then 10,000 lines on each stream over 5 s.
GEN_BIG='head -c 1048576 /dev/zero | tr "\0" x; echo; i=0; while [ $i -lt 10000 ]; do echo "line $i of the build"; echo "err $i" >&2; i=$((i + 1)); [ $((i % 100)) != 0 ] || sleep 0.05; done'

# dispatch JOB SCRIPT: dispatch JOB with SCRIPT; sets $job and $jobq.
dispatch() {
	local body
	body=$(jq -nc --arg u "$REPO_URL" --arg s "$2" \
		'{Meta: {REPO_URL: $u, COMMIT: "0123456789abcdef0123456789abcdef01234567",
		  BRANCH: "main", FLAVOR: "default", SCRIPT: $s}}')
	job=$(curl -sSf -X POST --data-binary "$body" \
		"$NOMAD_URL/v1/job/$1/dispatch?namespace=ci" | jq -r .DispatchedJobID)
	jobq=$(jq -rn --arg j "$job" '$j|@uri')
}

# expect SCRIPT: what SCRIPT writes on stdout and on stderr, made here.
expect() {
	sh -c "$1" >"$BATS_TEST_TMPDIR/out.want" 2>"$BATS_TEST_TMPDIR/err.want"
}

wait_running() {
	local i
	for i in $(seq 200); do
		curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" |
			jq -e 'any(.[]; .ClientStatus == "running")' >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

wait_dead() {
	local i
	for i in $(seq 600); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$jobq?namespace=ci" | jq -r .Status)" = dead ] && return 0
		sleep 0.1
	done
	return 1
}

get() {
	curl -sSfN -m 120 "$SERVE_URL/build?job=$jobq&log=$1" -o "$BATS_TEST_TMPDIR/$2"
}

@test "real logs: 1 MiB at once then 10,000 lines over 5 s, read from the start while it runs" {
	expect "$GEN_BIG"
	dispatch logs "$GEN_BIG"
	wait_running
	get stdout out &
	p=$!
	get stderr err
	wait "$p"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/out.want"
	cmp "$BATS_TEST_TMPDIR/err" "$BATS_TEST_TMPDIR/err.want"
}

@test "real logs: the reader connects in the middle of the build, and after its end" {
	expect "$GEN_BIG"
	dispatch logs "$GEN_BIG"
	wait_running
	sleep 2.5
	get stdout out
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/out.want"
	wait_dead
	get stdout out2
	get stderr err2
	cmp "$BATS_TEST_TMPDIR/out2" "$BATS_TEST_TMPDIR/out.want"
	cmp "$BATS_TEST_TMPDIR/err2" "$BATS_TEST_TMPDIR/err.want"
}

@test "real logs: a log rotated by Nomad (max_file_size 1 MB) arrives whole and in order" {
	local gen='i=0; while [ $i -lt 120000 ]; do echo "rotating line $i of the build log"; i=$((i + 1)); done'
	expect "$gen"
	dispatch logs "$gen"
	get stdout out
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/out.want"
	# It did rotate: Nomad holds more than one file of stdout.
	a=$(curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r '.[0].ID')
	n=$(curl -sS "$NOMAD_URL/v1/client/fs/ls/$a?path=alloc/logs" | jq '[.[] | select(.Name | startswith("executor.stdout."))] | length')
	[ "$n" -gt 3 ]
	wait_dead
	get stdout out2
	cmp "$BATS_TEST_TMPDIR/out2" "$BATS_TEST_TMPDIR/out.want"
}

@test "real logs: a task restarted by Nomad: both runs' output, in order" {
	local gen='if [ -e "$NOMAD_ALLOC_DIR/ran" ]; then echo "second run"; else touch "$NOMAD_ALLOC_DIR/ran"; echo "first run"; exit 1; fi'
	dispatch logs-restart "$gen"
	wait_dead
	run -0 curl -sSfN -m 60 "$SERVE_URL/build?job=$jobq&log=stdout"
	assert_output $'first run\nsecond run'
	run -0 curl -sS "$SERVE_URL/status?job=$jobq"
	[ "$(jq -r .state <<<"$output")" = success ]
}

@test "real logs: the injected secret is masked in what the task writes" {
	dispatch logs "echo \"key=$SECRET\"; echo \"$SECRET\" >&2"
	wait_dead
	run -0 curl -sSfN -m 60 "$SERVE_URL/build?job=$jobq&log=stdout"
	assert_output 'key=***'
	run -0 curl -sSfN -m 60 "$SERVE_URL/build?job=$jobq&log=stderr"
	assert_output '***'
}
