#!/usr/bin/env bats
# scripts/alba-listen: the webhook port behind socat (and tcpserver, when
# ucspi-tcp is installed) with a bound on connections at once.

load helpers

setup() {
	PORT=$(free_port)
	export ALBA_PORT=$PORT ALBA_LISTEN=127.0.0.1 ALBA_BINDIR=$ALBA_BIN
	export ALBA_LOG=$BATS_TEST_TMPDIR/serve.log
}

teardown() {
	[ -z "${LPID:-}" ] || { kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null || true; }
}

listening() { curl -sf -m 2 "http://127.0.0.1:$PORT/health" >/dev/null; }

start() {
	"$TOP/scripts/alba-listen" "$@" 2>"$BATS_TEST_TMPDIR/listen.err" 3>&- &
	LPID=$!
	local i
	for i in $(seq 100); do listening && return 0; sleep 0.05; done
	echo "alba-listen $* did not answer (attempt $i)" >&2
	cat "$BATS_TEST_TMPDIR/listen.err" >&2
	return 1
}

# bounded FRONT: with a bound of 2, /health is answered, two idle
# connections take both slots, a third is served only once one closes.
bounded() {
	ALBA_MAX_CONNECTIONS=2 start "$1"
	run curl -sS "http://127.0.0.1:$PORT/health"
	assert_success
	assert_output ok
	exec 5<>"/dev/tcp/127.0.0.1/$PORT" 6<>"/dev/tcp/127.0.0.1/$PORT"
	sleep 0.5
	run curl -sS -m 1 "http://127.0.0.1:$PORT/health"
	assert_failure
	exec 5>&-
	run curl -sS -m 5 "http://127.0.0.1:$PORT/health"
	assert_success
	exec 6>&-
}

@test "socat: max-children holds a third connection until one ends" {
	bounded socat
}

@test "tcpserver: -c holds a third connection until one ends" {
	command -v tcpserver >/dev/null || skip "ucspi-tcp is not installed"
	bounded tcpserver
}

@test "an unknown front end is a usage error" {
	run "$TOP/scripts/alba-listen" inetd
	assert_failure 100
	assert_output --partial "usage: alba-listen"
}
