#!/usr/bin/env bats
# alba-logs: live build logs from the Nomad emulator, complete across cuts,
# rotations, restarts and reschedules, with secrets masked; the frame
# decoder against frames that lie (-F).

load helpers

setup() {
	SLOW=1
	[ -z "${ALBA_SLOW:-}" ] || SLOW=4
	D=$BATS_TEST_TMPDIR
}

# start: the emulator (short heartbeats) with the test builder registered.
start() {
	emu_start nomad --log-heartbeat 0.2
	export NOMAD_ADDR=$NOMAD_URL
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" |
		curl -sS -f -X PUT "$NOMAD_URL/v1/jobs" --data-binary @- >/dev/null
}

behave() {
	curl -sS -f -X POST --data-binary "$1" "$NOMAD_URL/_emu/nomad/behavior" >/dev/null
}

# dispatch: a build of the builder; sets $J.
dispatch() {
	J=$(curl -sS -f -X POST "$NOMAD_URL/v1/job/builder/dispatch" \
		--data '{"Meta":{"REPO_URL":"https://git.example.org/a/b.git","COMMIT":"0123456789abcdef0123456789abcdef01234567","BRANCH":"main","FLAVOR":"default"}}' |
		jq -r .DispatchedJobID)
	[[ $J == builder/dispatch-* ]]
}

# doc [INJECT]: the input document of the build $J.
doc() {
	jq -n --arg j "$J" --arg inj "${1:-}" \
		'{job:{id:$j,namespace:"default",parent:"builder",meta:{}}} + (if $inj == "" then {} else {config:{inject:$inj}} end)'
}

enc() { jq -rn --arg s "$1" '$s|@uri'; }

wait_dead() {
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sS "$NOMAD_URL/v1/job/$(enc "$J")" | jq -e '.Status == "dead"' >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

allocs() { curl -sS "$NOMAD_URL/v1/job/$(enc "$J")/allocations" | jq -r 'sort_by(.CreateIndex) | .[].ID'; }

# plain ALLOC TYPE: the whole log as Nomad has it (follow=false, plain).
plain() {
	curl -sS -f "$NOMAD_URL/v1/client/fs/logs/$1?task=executor&type=$2&plain=true&origin=start&offset=0"
}

lines() { seq -f "${2:-line} %g" "$1"; }

@test "10,000 lines over 5 s on stderr and stdout: exactly those bytes, and the end" {
	start
	behave '{"job":"builder","logs":{"lines":10000,"over":5,"stream":"both"}}'
	dispatch
	doc >"$D/doc"
	alba-logs -r -t stderr <"$D/doc" >"$D/err" 2>"$D/err.log" &
	p1=$!
	alba-logs -r -t stdout <"$D/doc" >"$D/out" 2>"$D/out.log" &
	p2=$!
	alba-logs <"$D/doc" >"$D/json" 2>"$D/json.log" &
	p3=$!
	wait_dead
	# Ended (not killed, not hanging) within 2 s of the task's end.
	for ((i = 0; i < 20 * SLOW; i++)); do
		kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null || kill -0 $p3 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 $p1 2>/dev/null
	! kill -0 $p2 2>/dev/null
	! kill -0 $p3 2>/dev/null
	wait $p1
	wait $p2
	wait $p3
	lines 10000 >"$D/expect"
	cmp "$D/expect" "$D/err"
	cmp "$D/expect" "$D/out"
	a=$(allocs)
	plain "$a" stderr | cmp - "$D/err"
	plain "$a" stdout | cmp - "$D/out"
	[ ! -s "$D/err.log" ]
	# NDJSON: stream, alloc and offsets that add up; the data is the log.
	jq -j .data "$D/json" | cmp - "$D/expect"
	jq -se --arg a "$a" 'all(.[]; .stream == "stderr" and .alloc == $a and (keys == ["alloc","data","offset","stream"]))' "$D/json"
	jq -se '. as $r | [range(1; length)] | all(. as $i | $r[$i].offset == $r[$i-1].offset + ($r[$i-1].data | utf8bytelength))' "$D/json"
	[ "$(head -1 "$D/json" | jq .offset)" = 0 ]
	# What it asked Nomad: the first alloc, task executor, from the start.
	emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/client/fs/logs/")) | .path] | .[0]' |
		grep -F "/v1/client/fs/logs/$a?task=executor&type=" | grep -F 'follow=true&origin=start&offset=0&namespace=default'
}

# wait_file FILE TEXT: until FILE holds TEXT (10 s, more under valgrind).
wait_file() {
	local i
	for ((i = 0; i < 100 * SLOW; i++)); do
		grep -qF "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

@test "live: a line reaches the reader while the build runs; the end ends it" {
	start
	behave '{"job":"builder","hold":true,"logs":[{"stream":"stderr","data":"first\n"}]}'
	dispatch
	alba-logs -t stderr < <(doc) >"$D/json" 2>"$D/log" &
	p=$!
	wait_file "$D/json" 'first'
	curl -sS -f -X POST "$NOMAD_URL/_emu/nomad/log" --data "{\"job\":\"$J\",\"stream\":\"stderr\",\"data\":\"second\\n\"}" >/dev/null
	wait_file "$D/json" 'second'
	# Still running: what came so far came live.
	curl -sS "$NOMAD_URL/v1/job/$(enc "$J")" | jq -e '.Status == "running"'
	kill -0 $p
	curl -sS -f -X POST "$NOMAD_URL/_emu/nomad/finish" --data "{\"job\":\"$J\",\"exit_code\":0}" >/dev/null
	for ((i = 0; i < 30 * SLOW; i++)); do
		kill -0 $p 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 $p 2>/dev/null
	wait $p
	assert_equal "$(jq -j .data "$D/json")" $'first\nsecond'
	[ "$(wc -l <"$D/json")" = 2 ]
	[ ! -s "$D/log" ]
}

@test "the stream cut 3 times at random byte offsets: still byte-identical" {
	start
	behave '{"job":"builder","logs":{"lines":4000,"over":1.5,"stream":"stderr"}}'
	for i in 1 2 3; do
		emu_fault "$NOMAD_URL" "{\"path\":\"^/v1/client/fs/logs/\",\"cut_after\":$((RANDOM % 20000 + 50)),\"times\":1}"
	done
	dispatch
	run -0 --separate-stderr alba-logs -r -t stderr < <(doc)
	lines 4000 >"$D/expect"
	cmp "$D/expect" <(printf '%s\n' "$output")
	[ "$stderr" = "" ]
	# Three cut transfers, then one more at least; each resumed at a byte
	# count, never going back.
	run -0 emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/client/fs/logs/")) | .path | capture("offset=(?<o>[0-9]+)").o | tonumber]'
	jq -e 'length >= 4 and . == sort' <<<"$output"
}

@test "rotation and a restarted task: complete output, in order" {
	start
	behave '{"job":"builder","logs":{"lines":400,"over":0.8,"stream":"stderr"},"rotate_bytes":1000,"max_files":20,"restarts":1,"restart_delay":0.2}'
	dispatch
	run -0 --separate-stderr alba-logs -r -t stderr < <(doc)
	{ lines 400; lines 400; } >"$D/expect"
	cmp "$D/expect" <(printf '%s\n' "$output")
	# It did cross files .0 .. .N (the emulator's rotation happened).
	a=$(allocs)
	[ "$(curl -sS "$NOMAD_URL/v1/client/fs/logs/$a?task=executor&type=stderr" | grep -o 'executor.stderr.[0-9]*' | sort -u | wc -l)" -gt 5 ]
}

@test "a reschedule is followed to the next allocation, after a separator" {
	start
	behave '{"job":"builder","logs":{"lines":3,"stream":"stderr"},"reschedule":true}'
	dispatch
	run -0 --separate-stderr alba-logs -r -t stderr < <(doc)
	mapfile -t ids < <(allocs)
	[ "${#ids[@]}" = 2 ]
	expect=$(printf 'line 1\nline 2\nline 3\n--- albatros: allocation %s (attempt 2) ---\nline 1\nline 2\nline 3' "${ids[1]:0:8}")
	assert_equal "$output" "$expect"
	run -0 --separate-stderr alba-logs -t stderr < <(doc)
	jq -se --arg a "${ids[0]}" --arg b "${ids[1]}" \
		'.[0].alloc == $a and .[1].alloc == $b and .[1].separator == true and .[2].alloc == $b and .[1].data == "--- albatros: allocation \($b[0:8]) (attempt 2) ---\n"' <<<"$output"
}

@test "secrets: split across frames, at a rotation, in stdout and stderr: never shown" {
	start
	behave '{"job":"builder","rotate_bytes":20,"max_files":20,"logs":[
	  {"at":0.05,"stream":"stderr","data":"0123456789abcdefMYSECRETVALUE tail\n"},
	  {"at":0.1,"stream":"stdout","data":"out: before SUPER-SE"},
	  {"at":0.7,"stream":"stdout","data":"CRET-PART2 after MYSECRETVALUE\n"},
	  {"at":0.8,"stream":"stdout","data":"short abc stays, xMYSECRETVALUEx\n"}]}'
	dispatch
	inj=$'A=SUPER-SECRET-PART2\nB=MYSECRETVALUE\nC=abc\n\nnoequal'
	run -0 --separate-stderr alba-logs -r -t stderr < <(doc "$inj")
	assert_equal "$output" "0123456789abcdef*** tail"
	[ "$stderr" = "" ]
	run -0 --separate-stderr alba-logs -r -t stdout < <(doc "$inj")
	assert_equal "$output" $'out: before *** after ***\nshort abc stays, x***x'
	run -0 --separate-stderr alba-logs -t stdout < <(doc "$inj")
	! grep -q -e SECRET -e SUPER-SE <<<"$output$stderr"
	jq -j .data <<<"$output" >"$D/data"
	printf 'out: before *** after ***\nshort abc stays, x***x\n' | cmp - "$D/data"
	# The secret did cross a frame and a file: Nomad has it in pieces.
	a=$(allocs)
	[ "$(plain "$a" stderr)" = "0123456789abcdefMYSECRETVALUE tail" ]
	curl -sS "$NOMAD_URL/v1/client/fs/logs/$a?task=executor&type=stderr" | grep -q 'executor.stderr.1'
}

# append STREAM N [CHAR]: N bytes (63 CHARs and a newline per line) to the
# log of the running build $J.
append() {
	python3 -c 'import base64, sys; n = int(sys.argv[1]); print(base64.b64encode((sys.argv[2].encode() * 63 + b"\n") * (n // 64) + b"z" * (n % 64)).decode())' "$2" "${3:-x}" |
		jq -Rc --arg j "$J" --arg s "$1" '{job: $j, stream: $s, data_b64: .}' |
		curl -sS -f -X POST --data-binary @- "$NOMAD_URL/_emu/nomad/log" >/dev/null
}

running() {
	local i
	for ((i = 0; i < 100; i++)); do
		curl -sS "$NOMAD_URL/v1/job/$(enc "$J")/allocations" | jq -e '.[0].TaskStates.executor.StartedAt != null' >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

finish() {
	curl -sS -f -X POST "$NOMAD_URL/_emu/nomad/finish" --data "{\"job\":\"$J\",\"exit_code\":0}" >/dev/null
}

@test "a log of 150 KiB then more, read live: Nomad's inflated, then smaller Offsets are fine" {
	start
	behave '{"job":"builder","hold":true}'
	dispatch
	running
	append stderr 153600 a
	alba-logs -r -t stderr < <(doc) >"$D/live" 2>"$D/live.log" &
	p=$!
	alba-logs -t stderr < <(doc) >"$D/json" 2>"$D/json.log" &
	p2=$!
	sleep 0.8
	# The frames so far: Offsets 65536, 131072, 196608; the next, 154624.
	append stderr 1024 b
	sleep 0.5
	append stderr 200000 c
	sleep 0.3
	finish
	wait $p
	wait $p2
	a=$(allocs)
	plain "$a" stderr >"$D/expect"
	[ "$(stat -c %s "$D/expect")" = 354624 ]
	cmp "$D/expect" "$D/live"
	jq -j .data "$D/json" | cmp "$D/expect" -
	# offsets are the bytes delivered, whatever Nomad's Offsets said
	jq -se '. as $r | [range(1; length)] | all(. as $i | $r[$i].offset == $r[$i-1].offset + ($r[$i-1].data | utf8bytelength))' "$D/json"
	[ ! -s "$D/live.log" ] && [ ! -s "$D/json.log" ]
}

@test "a growing 600 KiB log cut 4 times at random byte offsets: still byte-identical" {
	start
	behave '{"job":"builder","hold":true}'
	dispatch
	running
	append stdout 200000 a
	for i in 1 2 3 4; do
		emu_fault "$NOMAD_URL" "{\"path\":\"^/v1/client/fs/logs/\",\"cut_after\":$((RANDOM * 8 + 50)),\"times\":1}"
	done
	alba-logs -r -t stdout < <(doc) >"$D/out" 2>"$D/log" &
	p=$!
	for c in b c d e; do
		sleep 0.3
		append stdout 100000 $c
	done
	finish
	wait $p
	plain "$(allocs)" stdout | cmp - "$D/out"
	[ ! -s "$D/log" ]
}

@test "a follow stream that lags when the task dies: the final read gets the tail" {
	start
	# Follow streams see the log as it was 5 s ago: only the follow=false
	# read after the task's end can deliver the end of this log.
	behave '{"job":"builder","follow_lag":5,"logs":[{"at":0.1,"stream":"stderr","data":"early\n"},{"at":0.4,"stream":"stderr","data":"last words\n"}]}'
	dispatch
	run -0 --separate-stderr timeout 4 alba-logs -r -t stderr < <(doc)
	assert_equal "$output" $'early\nlast words'
	[ "$stderr" = "" ]
	# It did read with follow=false from the bytes it had (none).
	emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/client/fs/logs/")) | .path] | last' |
		grep -F 'follow=false&origin=start&offset=0&'
}

@test "an unknown job: a 404 document" {
	start
	J=builder/dispatch-1700000000-00000000
	run -1 --separate-stderr alba-logs < <(doc)
	jq -e '.error == {status:404, code:"unknown_job", message:"no job builder/dispatch-1700000000-00000000 in namespace default"} and .job.parent == "builder"' <<<"$output"
	assert_equal "$stderr" "alba-logs: fatal: no job builder/dispatch-1700000000-00000000 in namespace default"
}

@test "a document carrying an error passes through" {
	in='{"request":{"query":{"job":"x"}},"error":{"status":400,"code":"bad_job","message":"not a build"}}'
	run -100 --separate-stderr alba-logs <<<"$in"
	assert_equal "$output" "$(jq -c . <<<"$in")"
}

@test "nomad down: a 503 document; a job never placed: 504 after -w" {
	NOMAD_ADDR=http://127.0.0.1:9 run -111 --separate-stderr alba-logs < <(J=x doc)
	jq -e '.error.status == 503 and .error.code == "nomad_unavailable"' <<<"$output"
	start
	behave '{"job":"builder","outcome":"never_placed"}'
	dispatch
	run -99 --separate-stderr alba-logs -w 0.5 < <(doc)
	jq -e --arg j "$J" '.error == {status:504, code:"no_allocation", message:"job \($j) has no allocation after 0.5 s"}' <<<"$output"
}

@test "the log type: -t wins over request.query.log; a bad one is a 400" {
	start
	behave '{"job":"builder","logs":[{"stream":"stdout","data":"to stdout\n"},{"stream":"stderr","data":"to stderr\n"}]}'
	dispatch
	run -0 alba-logs -r < <(doc | jq '.request.query.log = "stdout"')
	assert_equal "$output" "to stdout"
	run -0 alba-logs -r -t stderr < <(doc | jq '.request.query.log = "stdout"')
	assert_equal "$output" "to stderr"
	run -0 alba-logs -r < <(doc)
	assert_equal "$output" "to stderr"
	run -100 --separate-stderr alba-logs < <(doc | jq '.request.query.log = "both"')
	jq -e '.error == {status:400, code:"bad_request", message:"log must be stdout or stderr"}' <<<"$output"
}

# ---- the decoder, fed directly (-F)

b64() { printf '%s' "$1" | base64 -w0; }

@test "-F: frames back to back, heartbeats, a rotation, UTF-8 split across frames" {
	{
		printf '{}{"Offset":4,"Data":"%s","File":"alloc/logs/executor.stderr.0"}' "$(b64 'caf')"
		printf '{"Offset":5,"Data":"%s","File":"alloc/logs/executor.stderr.0"}{}' "$(printf '\xc3' | base64)"
		printf '{"Offset":3,"Data":"%s","File":"alloc/logs/executor.stderr.1"}' "$(printf '\xa9\n\xff' | base64)"
		printf ' {"Data":"%s","Offset":2,"File":"alloc/logs/executor.stderr.1","FileEvent":"file truncated"}\n' "$(b64 $'\t"')"
	} >"$D/frames"
	run -0 --separate-stderr alba-logs -F -t stdout <"$D/frames"
	assert_equal "$(jq -j .data <<<"$output")" $'caf\xc3\xa9\n\xef\xbf\xbd\t"'
	jq -se 'map(.offset) == [0, 3, 7] and all(.[]; .alloc == null and .stream == "stdout")' <<<"$output"
	run -0 alba-logs -F -r <"$D/frames"
	assert_equal "$output" "$(printf 'caf\xc3\xa9\n\xff\t"')"
}

@test "-F: an Offset that goes back is Nomad's StreamFramer, not an error (issue 10)" {
	a=$(printf aaaaaaaaaa | base64 -w0)
	run -0 --separate-stderr bash -c "printf '{\"File\":\"alloc/logs/executor.stderr.0\",\"Offset\":131072,\"Data\":\"%s\"}{\"File\":\"alloc/logs/executor.stderr.0\",\"Offset\":102411,\"Data\":\"%s\"}' '$a' '$a' | alba-logs -F -r"
	assert_equal "$output" aaaaaaaaaaaaaaaaaaaa
	[ "$stderr" = "" ]
	run -0 alba-logs -F < <(printf '{"File":"alloc/logs/executor.stderr.0","Offset":65536,"Data":"%s"}{"File":"alloc/logs/executor.stderr.0","Offset":12,"Data":"%s"}' "$a" "$a")
	jq -se 'map(.offset) == [0, 10]' <<<"$output"
}

@test "-c: a first line, then the log as a chunked body; a late error is its last lines" {
	f='"File":"alloc/logs/executor.stderr.0"'
	printf '{"Offset":4,"Data":"%s",%s}{}{"Offset":9,"Data":"%s",%s}' "$(b64 abcd)" "$f" "$(b64 $'ef\n')" "$f" >"$D/frames"
	alba-logs -F -c <"$D/frames" >"$D/out"
	cmp "$D/out" <(printf '{"stream":"stderr"}\n4\r\nabcd\r\n3\r\nef\n\r\n0\r\n\r\n')
	# an empty log: the line and the last chunk
	alba-logs -F -c </dev/null >"$D/out"
	cmp "$D/out" <(printf '{"stream":"stderr"}\n0\r\n\r\n')
	run -100 --separate-stderr alba-logs -F -c < <(cat "$D/frames"; printf '{"Offset":1,"Data":"QQ==QQ==",%s}' "$f")
	assert_equal "$output" "$(printf '{"stream":"stderr"}\n4\r\nabcd\r\n3\r\nef\n\r\n2a\r\n\n[albatros: a frame'"'"'s Data is not base64]\n\r\n0\r\n\r\n')"
	assert_equal "$stderr" "alba-logs: fatal: a frame's Data is not base64"
}

@test "-F: frames that lie give a clear error, no crash" {
	f='"File":"alloc/logs/executor.stderr.0"'
	# Data that is not base64; JSON mode ends with the error line.
	run -100 --separate-stderr alba-logs -F <<<"{\"Offset\":4,\"Data\":\"$(b64 abcd)\",$f}{\"Offset\":9,\"Data\":\"ab\$d\",$f}"
	assert_equal "$(sed -n 2p <<<"$output")" '{"error":{"status":502,"code":"bad_frames","message":"a frame'"'"'s Data is not base64"}}'
	assert_equal "$stderr" "alba-logs: fatal: a frame's Data is not base64"
	run -100 --separate-stderr alba-logs -F -r <<<"{\"Offset\":1,\"Data\":\"QQ==QQ==\",$f}"
	assert_equal "$stderr" "alba-logs: fatal: a frame's Data is not base64"
	# A frame that never ends.
	run -100 --separate-stderr alba-logs -F -r < <(printf '{"Offset":5,"Data":"aGVsbG8=')
	assert_equal "$stderr" "alba-logs: fatal: the log stream ended inside a frame (a frame that never ends)"
	# An error appended as text after the 200.
	run -100 --separate-stderr alba-logs -F -r <<<"{\"Offset\":5,\"Data\":\"aGVsbG8=\",$f}failed to list entries: open /x/alloc/logs: no such file or directory"
	assert_equal "$output" "hello"
	assert_equal "$stderr" "alba-logs: fatal: nomad ended the log stream with an error: failed to list entries: open /x/alloc/logs: no such file or directory"
	# Not JSON at all from the first byte, a nested value, a negative Offset.
	run -100 --separate-stderr alba-logs -F <<<"<html>"
	assert_equal "$output" '{"error":{"status":502,"code":"bad_frames","message":"nomad ended the log stream with an error: <html>"}}'
	assert_equal "$stderr" "alba-logs: fatal: nomad ended the log stream with an error: <html>"
	run -100 --separate-stderr alba-logs -F -r <<<'{"Offset":1,"X":{"a":1}}'
	assert_equal "$stderr" "alba-logs: fatal: a frame has a nested value"
	run -100 --separate-stderr alba-logs -F -r <<<'{"Offset":-1}'
	assert_equal "$stderr" "alba-logs: fatal: a frame's Offset is negative"
}

@test "-F: a huge Data claim fails fast with bounded memory" {
	python3 -c 'import sys; sys.stdout.write("{\"Offset\":1,\"Data\":\"" + "QUFB" * (10 << 18))' >"$D/huge"
	[ "$(stat -c %s "$D/huge")" -gt $((10 << 20)) ]
	if [ -z "${ALBA_SLOW:-}" ] && [ -x /usr/bin/time ] && [[ $ALBA_BIN != *asan* ]]; then
		run -100 --separate-stderr /usr/bin/time -f 'rss %M' alba-logs -F -r <"$D/huge"
		rss=$(grep -o 'rss [0-9]*' <<<"$stderr" | cut -d' ' -f2)
		[ "$rss" -lt 16384 ]	# KiB
	else
		run -100 --separate-stderr alba-logs -F -r <"$D/huge"
	fi
	[ "$output" = "" ]
	grep -Fx "alba-logs: fatal: a frame's Data is over 1048576 characters of base64 (Nomad's frames hold at most 64 KiB)" <<<"$stderr"
}

@test "-F: Data after its padding gets one message wherever the stream was cut" {
	f='"File":"alloc/logs/executor.stderr.0"'
	run -100 --separate-stderr alba-logs -F -r <<<"{\"Offset\":1,\"Data\":\"QQ==QQ==\",$f}"
	assert_equal "$stderr" "alba-logs: fatal: a frame's Data is not base64"
	# The same bytes in two reads, cut right after the padding (found by
	# fuzz/logframe.c: the second piece had its own message).
	run -100 --separate-stderr alba-logs -F -r < <(printf '{"Offset":1,"Data":"QQ=='
		sleep 1
		printf 'QQ==",%s}' "$f")
	assert_equal "$stderr" "alba-logs: fatal: a frame's Data is not base64"
}
