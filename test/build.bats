#!/usr/bin/env bats
# GET /build through scripts/alba-serve behind socat: the framing between
# alba-logs -c and alba-http -s, Nomad's real frame Offsets on a big log,
# the error answers before the first byte, and the bound on slow readers.

load helpers
load stack

setup() {
	NOMAD_EMU_ARGS=(--log-heartbeat 0.2)
}

# dispatch_build SCENARIO: the builder's scenario, a build through /hook;
# sets $job, $jobq.
dispatch_build() {
	curl -sSf -X POST -d "$(jq -c '. + {job: "builder", namespace: "ci"}' <<<"$1")" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ] || { echo "hook: $status $body"; return 1; }
	job=$body
	jobq=$(jq -rn --arg j "$job" '$j|@uri')
}

alloc() { curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r 'max_by(.CreateIndex).ID'; }

nomad_log() {
	curl -sS "$NOMAD_URL/v1/client/fs/logs/$(alloc)?task=executor&type=$1&plain=true&namespace=ci"
}

wait_dead() {
	local i
	for i in $(seq 200); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$jobq?namespace=ci" | jq -r .Status)" = dead ] && return 0
		sleep 0.1
	done
	return 1
}

# append N CHAR: N bytes of CHAR lines to the running build's stderr.
append() {
	python3 -c 'import base64, sys; n = int(sys.argv[1]); print(base64.b64encode((sys.argv[2].encode() * 63 + b"\n") * (n // 64)).decode())' "$1" "$2" |
		jq -Rc --arg j "$job" '{job: $j, namespace: "ci", stream: "stderr", data_b64: .}' |
		curl -sS -f -X POST --data-binary @- "$NOMAD_URL/_emu/nomad/log" >/dev/null
}

# procs: the request processes of this test's alba-serve (alba-logs and
# alba-http, or valgrind running them under ALBA_VALGRIND), found by the
# ALBA_LOG in their environment.
procs() {
	local p c n=0 a
	for p in /proc/[0-9]*; do
		read -r c <"$p/comm" 2>/dev/null || continue
		case $c in
		alba-logs | alba-http) ;;
		memcheck-*)
			mapfile -d '' -t a <"$p/cmdline" 2>/dev/null || continue
			[[ " ${a[*]}" =~ [\ /]alba-(logs|http)( |$) ]] || continue
			;;
		*) continue ;;
		esac
		tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "ALBA_LOG=$ALBA_LOG" && n=$((n + 1))
	done
	echo "$n"
}

@test "GET /build of a growing 400 KiB log: Nomad's Offsets go back, the answer is the log" {
	stack_start
	dispatch_build '{"hold":true}'
	for i in $(seq 100); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r '.[0].TaskStates.executor.StartedAt // empty')" ] && break
		sleep 0.05
	done
	append 153600 a
	curl -sSN "$SERVE_URL/build?job=$jobq&log=stderr" -o "$BATS_TEST_TMPDIR/err" -D "$BATS_TEST_TMPDIR/hdr" &
	p=$!
	sleep 0.8
	append 1024 b
	sleep 0.5
	append 250000 c
	sleep 0.3
	curl -sSf -X POST "$NOMAD_URL/_emu/nomad/finish" --data "{\"job\":\"$job\",\"namespace\":\"ci\",\"exit_code\":0}" >/dev/null
	wait "$p"
	nomad_log stderr | cmp - "$BATS_TEST_TMPDIR/err"
	grep -qix 'transfer-encoding: chunked.' "$BATS_TEST_TMPDIR/hdr"
	grep -qix 'x-accel-buffering: no.' "$BATS_TEST_TMPDIR/hdr"
	grep -qix 'content-type: text/plain; charset=utf-8.' "$BATS_TEST_TMPDIR/hdr"
	# the access log line names the job and the peer
	grep -F "alba-http: 127.0.0.1 GET /build 200 delivery=- job=$job" "$ALBA_LOG"
}

@test "GET /build: the error answers come before the first byte, as text or JSON" {
	stack_start
	run -0 curl -sS -w '\n%{http_code} %{content_type}' "$SERVE_URL/build?job=builder%2Fdispatch-1700000000-0a1b2c3d&log=stderr"
	assert_output $'no job builder/dispatch-1700000000-0a1b2c3d in any namespace\n\n404 text/plain; charset=utf-8'
	run -0 curl -sS -H 'Accept: application/json' -w '\n%{http_code}' "$SERVE_URL/build?job=builder%2Fdispatch-1700000000-0a1b2c3d&log=stderr"
	assert_equal "$(sed -n 3p <<<"$output")" 404
	head -1 <<<"$output" | jq -e '.error.status == 404 and .error.message == "no job builder/dispatch-1700000000-0a1b2c3d in any namespace"'
	dispatch_build '{"logs":[{"at":0,"stream":"stderr","data":"x\n"}]}'
	run -0 curl -sS -w '\n%{http_code}' "$SERVE_URL/build?job=$jobq&log=both"
	assert_output $'log must be stdout or stderr\n\n400'
	# Nomad down: 503, and no secret in any answer
	kill "${EMU_PIDS[0]}"
	run -0 curl -sS -w '\n%{http_code}' "$SERVE_URL/build?job=$jobq&log=stderr"
	[[ $output == *$'\n503' ]]
	[[ $output != *s3cr3t* ]]
}

@test "GET /build: a late error ends the body with its reason; a cut stage is not a clean end" {
	stack_start
	dispatch_build '{"logs":[{"at":0,"stream":"stderr","data":"before\n"}],"hold":true}'
	curl -sSN "$SERVE_URL/build?job=$jobq&log=stderr" -o "$BATS_TEST_TMPDIR/out" &
	p=$!
	for i in $(seq 100); do grep -q before "$BATS_TEST_TMPDIR/out" 2>/dev/null && break; sleep 0.05; done
	# the allocation is GC'd under the follow stream: Nomad appends an error
	curl -sS -X POST --data "{\"job\":\"$job\",\"namespace\":\"ci\"}" "$NOMAD_URL/_emu/nomad/gc" >/dev/null
	wait "$p"
	run cat "$BATS_TEST_TMPDIR/out"
	[[ ${lines[0]} == before ]]
	# Which of Nomad's two answers comes first is a race: the error text it
	# appends to the follow stream, or the 404 of the allocation, now gone.
	[[ $output == *'[albatros: nomad ended the log stream with an error: failed to list entries: '* ||
		$output == *'[albatros: nomad answered 404 to the allocation lookup: alloc not found]'* ]]
	# alba-http -s alone: a body that stops without its last chunk
	printf '{"job":{"id":"x"}}\n5\r\nhello\r\n' | alba-http -R -s >"$BATS_TEST_TMPDIR/cut" 2>"$BATS_TEST_TMPDIR/cut.log"
	tail -c 69 "$BATS_TEST_TMPDIR/cut" | cmp - <(printf '\r\n\r\n5\r\nhello\r\n31\r\n\n[albatros: internal error: the log ended early]\n\r\n')
	grep -qx 'alba-http: warning: the log stream ended before its end' "$BATS_TEST_TMPDIR/cut.log"
	printf '{"job":{"id":"x"}}\n5\r\nhello\r\n0\r\n\r\n' | alba-http -R -s >"$BATS_TEST_TMPDIR/whole" 2>"$BATS_TEST_TMPDIR/whole.log"
	tail -c 20 "$BATS_TEST_TMPDIR/whole" | cmp - <(printf 'e\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
	[ ! -s "$BATS_TEST_TMPDIR/whole.log" ]
	# a size line that is not hex digits: the body stops there, unended
	printf '{"job":{"id":"x"}}\n0x5\r\nhello\r\n0\r\n\r\n' | alba-http -R -s >"$BATS_TEST_TMPDIR/bad" 2>/dev/null
	tail -c 4 "$BATS_TEST_TMPDIR/bad" | cmp - <(printf '\r\n\r\n')
	[ "$stderr" = "" ]
}

@test "GET /build: a client that never reads is given up after ALBA_WRITE_TIMEOUT" {
	export ALBA_WRITE_TIMEOUT=2
	stack_start
	dispatch_build '{"log_bytes":{"stream":"stderr","size":31457280}}'
	wait_dead
	# A client that sends the request and never reads (a 4 KiB receive buffer).
	python3 - "$SERVE_PORT" "$jobq" <<-'PY' &
	import socket, sys, time
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	s.connect(("127.0.0.1", int(sys.argv[1])))
	s.sendall(("GET /build?job=%s&log=stderr HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
	time.sleep(30)
	PY
	client=$!
	# The answer is stuck: its processes are there...
	for i in $(seq 100); do
		[ "$(procs)" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(procs)" -ge 2 ]
	t0=$(date +%s%N)
	# ...and gone once no byte was taken for 2 s (10 s: a loaded machine).
	for i in $(seq 100); do
		[ "$(procs)" = 0 ] && break
		sleep 0.1
	done
	[ "$(procs)" = 0 ]
	echo "gone after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	kill "$client" 2>/dev/null || true
	grep -q 'alba-http: warning: the client took no byte for 2000 ms: giving up' "$ALBA_LOG"
}
