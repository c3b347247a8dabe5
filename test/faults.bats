#!/usr/bin/env bats
# The fault matrix (issue 14): Consul, Nomad and the forge each refusing the
# connection, answering 500 or 403, stalling 10 s, cutting the answer in the
# middle of its body and answering malformed JSON, on each call albatros
# makes.  A cell is one call under one fault: the HTTP answer through
# scripts/alba-serve (or, for the watcher and the waiter, the binary's exit
# code and document), the message, how long it took, that nothing crashed,
# that a delivery dispatched at most once, and that no secret came out.
# Each row prints its cells as "# " lines; the whole table goes to
# $ALBA_MATRIX (default test/out/fault-matrix.txt).
#
# One stack for the file.  ALBA_SERVICE_TIMEOUT=1 and ALBA_EVENT_IDLE=2
# lower the documented bounds so that a 10 s stall ends each request on its
# bound instead of waiting: the stall, not the bound, is what is tested.
# Under ALBA_SLOW (valgrind) the bound is 2 s and the cells' times are
# printed, not judged: a valgrind run is seconds of CPU, ten times that
# beside another suite, and the timings are this file's business without
# it (the answers, messages, dispatches and secrets are judged in both).

load helpers
load stack

FORGE_TOKEN=f0rge-t0ken-s3cr3t
KINDS="refused 500 403 stall cut malformed"

# teardown_file stops the stack; no test starts its own emulators.
teardown() { :; }

setup_file() {
	W=$BATS_FILE_TMPDIR
	BATS_TEST_TMPDIR=$W
	SLOW=1 ALBA_SERVICE_TIMEOUT=1
	[ -z "${ALBA_SLOW:-}" ] || SLOW=3 ALBA_SERVICE_TIMEOUT=2
	export W SLOW ALBA_SERVICE_TIMEOUT ALBA_EVENT_IDLE=2
	emu_start forge --kind gitea --repo acme/widget --token "$FORGE_TOKEN"
	local config
	config=$(jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg f "$FORGE_URL" --arg i "$INJECT" --arg k "$FORGE_TOKEN" \
		'{hook: {token: $t, secret: $s}, gitea: {url: $f, token: $k}, trusted: {senders: ["quentin"]}, inject: $i}')
	stack_start "$config"
	export SERVE_URL SERVE_PID
	# A port nothing listens on, and alba-serve behind socat with each
	# service's address pointing there.
	CLOSED=127.0.0.1:$(free_port)
	export CLOSED
	serve_with REFUSED_CONSUL CONSUL_HTTP_ADDR="$CLOSED"
	serve_with REFUSED_NOMAD NOMAD_ADDR="http://$CLOSED"
	# A repository whose forge refuses: same builder, its own key.
	REFUSED_REPO=https://git.example.org/acme/refused.git
	export REFUSED_REPO
	jq -c --arg f "http://$CLOSED" '.gitea.url = $f' <<<"$config" |
		ALBA_SERVICE_TIMEOUT='' alba-config -s "$REFUSED_REPO" >/dev/null
	# The job and logs of a finished build, for the read rows.
	behave '{"logs":[{"at":0,"stream":"stderr","data":"built with sup3r-s3cr3t-value\n"}]}'
	deliver "$W/base"
	[ "$status" = 200 ]
	BASE_JOB=$body
	BASE_JOBQ=$(jq -rn --arg j "$BASE_JOB" '$j|@uri')
	export BASE_JOB BASE_JOBQ
	wait_dead "$BASE_JOBQ"
	: >"$W/matrix"
}

teardown_file() {
	emu_stop
	[ ! -s "$W/matrix" ] || {
		local out=${ALBA_MATRIX:-$TOP/test/out/fault-matrix.txt}
		mkdir -p "$(dirname "$out")"
		table <"$W/matrix" >"$out"
	}
}

# serve_with NAME VAR=VALUE...: alba-serve behind socat on a free port with
# the environment changed; its URL in $NAME.
serve_with() {
	local name=$1 port
	shift
	port=$(free_port)
	env "$@" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:$TOP/scripts/alba-serve" >/dev/null 2>>"$W/socat.log" 3>&- &
	EMU_PIDS+=("$!")
	local i
	for i in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
		sleep 0.05
	done
	printf -v "$name" 'http://127.0.0.1:%s' "$port"
	export "${name?}"
}

behave() {
	curl -sSf -X POST -d "$(jq -c '. + {job: "builder", namespace: "ci"}' <<<"$1")" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
}

wait_dead() {
	local i
	for i in $(seq 100); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$1?namespace=ci" | jq -r .Status)" = dead ] && return 0
		sleep 0.1
	done
	return 1
}

clear_faults() {
	local u
	for u in "$NOMAD_URL" "$CONSUL_URL" "$FORGE_URL"; do
		curl -sS -X DELETE "$u/_emu/faults" >/dev/null
	done
}

# deliver DIR [URL] [REPO]: a fresh signed push (its own delivery and
# commit) to URL's /hook; $status, $body, $ms.  The delivery ID is in
# DIR/id.
deliver() {
	local dir=$1 url=${2:-$SERVE_URL} repo=${3:-$REPO_URL}
	if [ ! -s "$dir/id" ]; then
		mkdir -p "$dir"
		python3 "$TOP/test/emu/webhook.py" gen --forge gitea --event push --sender quentin \
			--repo-url "$repo" --secret "$HOOK_SECRET" --commit "$(openssl rand -hex 20)" \
			--out "$dir" >"$dir/id"
	fi
	timed curl -sS -m 40 -o "$dir/resp" -w '%{http_code}' -H @"$dir/headers" \
		--data-binary @"$dir/body" "$url/hook?token=$HOOK_TOKEN"
	status=$output
	body=$(cat "$dir/resp" 2>/dev/null || true)
}

# timed CMD...: run it; $output its stdout, $rc its exit code, $ms the time.
timed() {
	local t0=$EPOCHREALTIME
	rc=0
	output=$("$@" 2>"$W/timed.err") || rc=$?
	ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
}

# fault KIND URL PATH-REGEX [METHOD [TIMES]]: the emulator's fault for KIND
# (refused is not the emulator's: the caller points the service elsewhere).
fault() {
	local kind=$1 url=$2 path=$3 method=${4:-} times=${5:-} spec
	case $kind in
	refused) return 0 ;;
	500) spec='{"status":500,"body":"rpc error: internal failure"}' ;;
	403) spec='{"status":403,"body":"Permission denied"}' ;;
	stall) spec='{"delay":10}' ;;
	cut) spec='{"cut_after":12}' ;;
	malformed) spec='{"malformed":true}' ;;
	esac
	spec=$(jq -c --arg p "$path" --arg m "$method" --arg t "$times" '. + {path: $p}
		+ (if $m == "" then {} else {method: $m} end)
		+ (if $t == "" then {} else {times: ($t | tonumber)} end)' <<<"$spec")
	emu_fault "$url" "$spec"
}

# record ROW KIND ANSWER MESSAGE: one cell of the table (tab-separated).
record() {
	local msg
	msg=$(printf '%s' "$4" | tr '\n\t' '  ' | cut -c1-110)
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ms" "$msg" >>"$W/matrix"
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ms" "$msg" >>"$W/row"
}

# check CELL GOT WANT: collect a mismatch rather than stop the row.
check() {
	[ "$2" = "$3" ] || printf '%s: got %s, want %s\n' "$1" "$2" "$3" >>"$W/bad"
}
# within CELL MS LIMIT: collect a time over LIMIT (not under ALBA_SLOW).
within() {
	[ -n "${ALBA_SLOW:-}" ] || [ "$2" -le "$3" ] ||
		printf '%s: %s ms, over the bound of %s ms\n' "$1" "$2" "$3" >>"$W/bad"
}

# The dispatches Nomad received for a delivery, and the jobs that hold its
# token.
dispatches_of() {
	emu_requests "$NOMAD_URL" "[.[] | select(.path | test(\"/dispatch\")) | select((.body | fromjson? | .IdempotencyToken) == \"$1\")] | length"
}
jobs_of() {
	grep -F "\"$1\"" "$W/jobs" | cut -f1 || true
}
# All the builder's jobs, one "ID<TAB>token" a line, into $W/jobs.
list_jobs() {
	local id
	: >"$W/jobs"
	for id in $(curl -sS "$NOMAD_URL/v1/jobs?namespace=ci&prefix=builder/dispatch-" | jq -r '.[].ID | @uri'); do
		curl -sS "$NOMAD_URL/v1/job/$id?namespace=ci" | jq -r '[.ID, (.DispatchIdempotencyToken | tojson)] | @tsv' >>"$W/jobs"
	done
}

# no_secret WHAT FILE...: none of the secrets in these files.
no_secret() {
	local what=$1 s
	shift
	for s in "$HOOK_TOKEN" "$HOOK_SECRET" sup3r-s3cr3t-value an0ther-s3cr3t "$FORGE_TOKEN"; do
		if grep -qF -- "$s" "$@" 2>/dev/null; then
			echo "$what: a secret in $(grep -lF -- "$s" "$@")" >>"$W/bad"
		fi
	done
}

# no_crash: no stage died of a signal (the shells report it in the log).
no_crash() {
	if grep -qiE 'segmentation|core dumped|aborted|sanitizer|killed' "$ALBA_LOG" "$W"/*.err 2>/dev/null; then
		echo "a crash: $(grep -iE 'segmentation|core dumped|aborted|sanitizer|killed' "$ALBA_LOG" "$W"/*.err | head -3)" >>"$W/bad"
	fi
}

# log_since OFFSET [PROGRAM]: the last warning or fatal line of $ALBA_LOG
# past OFFSET (of PROGRAM's).
log_since() {
	tail -c +$(($1 + 1)) "$ALBA_LOG" | grep -E "^${2:-[a-z-]*}: (warning|fatal): " | tail -1 || true
}

# row_begin / row_end: print the row's cells as TAP comments; fail with
# every mismatch.
row_begin() {
	: >"$W/row"
	: >"$W/bad"
	clear_faults
}
row_end() {
	clear_faults
	no_crash
	no_secret "answers and messages" "$ALBA_LOG" "$W/row"
	[ ! -s "$W/row" ] || table <"$W/row" | sed "s/^/# /" >&3
	if [ -s "$W/bad" ]; then
		cat "$W/bad"
		return 1
	fi
}

# The table: one line a cell, aligned.
table() {
	awk -F '\t' 'BEGIN { printf "%-20s %-10s %-18s %6s  %s\n", "call", "fault", "answer", "ms", "message" }
		{ printf "%-20s %-10s %-18s %6s  %s\n", $1, $2, $3, $4, $5 }'
}

# ---- POST /hook: the configuration read, the dispatch, the pending status

# hook_cell ROW KIND FAULT-URL PATH METHOD REFUSED-SERVE [REPO]: a delivery
# under the fault; then, as a forge would, the same delivery again with the
# fault gone when the first answer was 5xx.  Sets $first, $second.
hook_cell() {
	local row=$1 kind=$2 furl=$3 path=$4 method=$5 rurl=$6 repo=${7:-$REPO_URL}
	local dir=$W/$row-$kind url=$SERVE_URL
	clear_faults
	if [ "$kind" = refused ]; then
		[ "$rurl" = - ] || url=$rurl
	else
		fault "$kind" "$furl" "$path" "$method"
	fi
	local off
	off=$(wc -c <"$ALBA_LOG")
	deliver "$dir" "$url" "$repo"
	first=$status
	local msg=$body
	[[ $first != 2* ]] || msg="$body; $(log_since "$off" alba-dispatch)"
	record "$row" "$kind" "$first" "$msg"
	cp "$dir/resp" "$W/$row-$kind.answer"
	clear_faults
	second=-
	if [[ $first == 5* ]]; then
		deliver "$dir" "$SERVE_URL" "$repo"
		second=$status
		check "$row/$kind redelivery" "$second" 200
	fi
}

@test "fault matrix: Consul, the configuration read of POST /hook" {
	row_begin
	local k want
	for k in $KINDS; do
		hook_cell "consul:config-read" "$k" "$CONSUL_URL" '^/v1/kv/albatros/' GET "$REFUSED_CONSUL"
		case $k in
		403) want=502 ;;
		malformed) want=502 ;;
		*) want=503 ;;
		esac
		check "consul/$k" "$first" "$want"
		within "consul/$k" "$ms" 5000
		# Nothing dispatched before the redelivery.
		check "consul/$k dispatched" "$(dispatches_of "$(cat "$W/consul:config-read-$k/id")")" 1
	done
	row_end
}

@test "fault matrix: Nomad, the dispatch of POST /hook" {
	row_begin
	local k want id
	for k in $KINDS; do
		hook_cell "nomad:dispatch" "$k" "$NOMAD_URL" '/dispatch' POST "$REFUSED_NOMAD"
		case $k in
		403 | 500 | malformed) want=502 ;;
		*) want=503 ;;
		esac
		check "dispatch/$k" "$first" "$want"
		within "dispatch/$k" "$ms" 5000
	done
	row_end
	date +%s >"$W/dispatch-row-end"
}

@test "fault matrix: the forge, the pending status of POST /hook" {
	row_begin
	local k
	for k in $KINDS; do
		hook_cell "forge:pending-post" "$k" "$FORGE_URL" '/statuses/' POST - "$( [ "$k" = refused ] && echo "$REFUSED_REPO" || echo "$REPO_URL")"
		check "pending/$k" "$first" 200
		within "pending/$k" "$ms" 5000
	done
	row_end
}

@test "fault matrix: every delivery dispatched once, named by its answer" {
	row_begin
	# A stalled dispatch reaches Nomad 10 s after it was sent.
	local left=$(( $(cat "$W/dispatch-row-end") + 10 - $(date +%s) ))
	[ "$left" -le 0 ] || sleep "$left"
	local d id jobs n=0
	list_jobs
	for d in "$W"/*/id; do
		id=$(cat "$d")
		jobs=$(jobs_of "$id")
		[ -n "$jobs" ] || continue
		n=$((n + 1))
		check "$d jobs" "$(wc -l <<<"$jobs")" 1
		check "$d answer" "$(cat "${d%/id}/resp")" "$jobs"
	done
	[ "$n" -ge 12 ]
	row_end
}

# ---- GET /status and GET /build: the job, allocation and log reads

# get_cell ROW KIND PATH-REGEX ROUTE [TIMES]: GET ROUTE (for BASE_JOB)
# under the fault on Nomad; $status, $body.
get_cell() {
	local row=$1 kind=$2 path=$3 route=$4 times=${5:-} url=$SERVE_URL
	clear_faults
	if [ "$kind" = refused ]; then url=$REFUSED_NOMAD; else fault "$kind" "$NOMAD_URL" "$path" GET "$times"; fi
	local off
	off=$(wc -c <"$ALBA_LOG")
	timed curl -sS -m 40 -o "$W/$row-$kind.answer" -w '%{http_code}' "$url$route"
	status=$output
	body=$(cat "$W/$row-$kind.answer" 2>/dev/null || true)
	local msg=$body
	[[ $status != 2* ]] || msg="$(head -c 60 <<<"$body" | tr '\n' ' '); $(log_since "$off")"
	record "$row" "$kind" "$status" "$msg"
	clear_faults
}

@test "fault matrix: Nomad, the job read of GET /status" {
	row_begin
	local k want
	for k in $KINDS; do
		get_cell "nomad:job-read" "$k" '^/v1/job/[^/]*\?' "/status?job=$BASE_JOBQ"
		case $k in
		403) want=502 ;;
		500 | malformed) want=502 ;;
		*) want=503 ;;
		esac
		check "job-read/$k" "$status" "$want"
		within "job-read/$k" "$ms" 5000
	done
	row_end
}

@test "fault matrix: Nomad, the allocation read of GET /status" {
	row_begin
	local k want
	for k in $KINDS; do
		get_cell "nomad:alloc-read" "$k" '/allocations\?' "/status?job=$BASE_JOBQ"
		case $k in
		403) want=502 ;;
		500 | malformed) want=502 ;;
		*) want=503 ;;
		esac
		check "alloc-read/$k" "$status" "$want"
		within "alloc-read/$k" "$ms" 5000
	done
	row_end
}

@test "fault matrix: Nomad, the log stream of GET /build" {
	row_begin
	local k want
	for k in $KINDS; do
		# A cut happens once (a cut on every request is the stall's
		# and the 500's business: the retries are bounded).
		get_cell "nomad:log-stream" "$k" '^/v1/client/fs/logs/' "/build?job=$BASE_JOBQ&log=stderr" \
			"$( [ "$k" = cut ] && echo 1)"
		case $k in
		cut | stall) want=200 ;;
		403 | 500 | malformed) want=502 ;;
		*) want=503 ;;
		esac
		check "log-stream/$k" "$status" "$want"
		# A stall shorter than the stream's idle bound (30 s) is waited
		# for; the log is then whole, masked, as after a cut.
		if [ "$k" = stall ]; then
			within "log-stream/$k" "$ms" 30000
		else
			within "log-stream/$k" "$ms" 5000
		fi
		[ "$want" != 200 ] || check "log-stream/$k body" "$body" 'built with ***'
	done
	row_end
}

# ---- the watcher (alba-status -W): the event stream

# children_of PID: the processes whose parent is PID.
children_of() {
	local f
	for f in /proc/[0-9]*/stat; do
		read -r pid _ _ ppid _ <"$f" 2>/dev/null || continue
		[ "$ppid" = "$1" ] && echo "$pid"
	done
	return 0
}

# A loopback proxy to Nomad that the test can cut (its connections) or
# stop (the port then refuses).
proxy_start() {
	socat "TCP-LISTEN:$PROXY_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$NOMAD_PORT" \
		>/dev/null 2>>"$W/socat.log" 3>&- &
	PROXY_PID=$!
	local i
	for i in $(seq 100); do
		curl -sf "http://127.0.0.1:$PROXY_PORT/_emu/health" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
proxy_cut() {
	local c
	for c in $(children_of "$PROXY_PID"); do kill "$c" 2>/dev/null || true; done
}
proxy_stop() {
	proxy_cut
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
}

@test "fault matrix: Nomad, the event stream of the watcher" {
	row_begin
	PROXY_PORT=$(free_port)
	proxy_start
	behave '{"run_time":0.2}'
	NOMAD_ADDR=http://127.0.0.1:$PROXY_PORT alba-status -W >"$W/watch.out" 2>"$W/watch.err" 3>&- &
	local wpid=$! k i n t0 off
	for i in $(seq 100); do
		[ "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/event/stream"))] | length')" -gt 0 ] && break
		sleep 0.05
	done
	for k in $KINDS; do
		clear_faults
		off=$(wc -c <"$W/watch.err")
		if [ "$k" = refused ]; then
			proxy_stop
		else
			fault "$k" "$NOMAD_URL" '^/v1/event/stream' GET
			proxy_cut
		fi
		deliver "$W/event-$k"
		check "event/$k dispatch" "$status" 200
		local job=$body
		sleep 1
		if [ "$k" = refused ]; then proxy_start; else clear_faults; fi
		t0=$EPOCHREALTIME
		n=0
		for i in $(seq $((150 * SLOW))); do
			n=$(jq -r --arg j "$job" 'select(.job.id == $j) | .job.id' "$W/watch.out" | wc -l)
			[ "$n" = 0 ] || break
			kill -0 "$wpid" 2>/dev/null || break
			sleep 0.1
		done
		ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
		if kill -0 "$wpid" 2>/dev/null; then
			record "nomad:event-stream" "$k" "reported $n" \
				"$(tail -c +$((off + 1)) "$W/watch.err" | grep -E ': (warning|fatal): ' | tail -1 || true)"
		else
			wait "$wpid" || i=$?
			record "nomad:event-stream" "$k" "exit $i" "$(tail -1 "$W/watch.err")"
			break
		fi
		check "event/$k reported" "$n" 1
		# Reconnected within the backoff (0.5 s doubling: 2 s at the
		# third failure) plus the idle bound, once the fault is gone.
		within "event/$k" "$ms" 6000
	done
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	proxy_stop
	cp "$W/watch.err" "$W/watch.err.row"
	no_secret "the watcher's output" "$W/watch.out" "$W/watch.err"
	row_end
}

# ---- the waiter (alba-status -w -p): the final status post

@test "fault matrix: the forge, the final status post of the waiter" {
	row_begin
	behave '{"run_time":0.3}'
	local k sha repo
	for k in $KINDS; do
		sha=$(openssl rand -hex 20)
		repo=$REPO_URL
		[ "$k" != refused ] || repo=$REFUSED_REPO
		jq -nc --arg r "$repo" --arg c "$sha" \
			'{build: {repo_url: $r, commit: $c, branch: "main", flavor: "default", trusted: true, sender: "quentin"}}' |
			alba-config | alba-dispatch >"$W/waiter-$k.doc" 2>"$W/waiter-$k.dispatch.err"
		[ "$k" = refused ] || fault "$k" "$FORGE_URL" "/statuses/$sha" POST
	done
	# The six waiters at once: each fault is on its own commit.
	for k in $KINDS; do
		(
			t0=$EPOCHREALTIME
			rc=0
			alba-status -w -p -t 1 <"$W/waiter-$k.doc" >"$W/waiter-$k.out" 2>"$W/waiter-$k.err" || rc=$?
			echo "$rc $(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))" >"$W/waiter-$k.rc"
		) &
	done
	wait
	local want rc
	for k in $KINDS; do
		read -r rc ms <"$W/waiter-$k.rc"
		record "forge:final-post" "$k" "exit $rc, $(jq -r .status.state "$W/waiter-$k.out")" \
			"$(grep -E ': (warning|fatal): ' "$W/waiter-$k.err" | tail -1 || true)"
		# With -w the exit code is the build's; a post that failed for
		# now is 111 (run it again), a refusal (4xx) is not.
		case $k in
		403 | malformed) want=0 ;;
		*) want=111 ;;
		esac
		check "final-post/$k" "$rc" "$want"
		check "final-post/$k state" "$(jq -r .status.state "$W/waiter-$k.out")" success
		# Four attempts of at most 1 s, 1.75 s of backoff, the build's
		# 0.3 s and the waiter's own reads.
		within "final-post/$k" "$ms" 10000
	done
	no_secret "the waiters' messages" "$W"/waiter-*.err
	row_end
}
