#!/usr/bin/env bats
# alba-http: reading requests within bounds, and rendering responses.

load helpers

req() {
	printf "$@"
}

@test "a GET becomes the request member: decoded path and query, lower-cased headers" {
	run -0 --separate-stderr bash -c "printf 'GET /build?job=builder%%2Fdispatch-1-ab&log=stdout&log=stderr&e=a+b HTTP/1.1\r\nHost: ci\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n' | SOCAT_PEERADDR=10.0.0.9 alba-http"
	assert_output '{"request":{"method":"GET","path":"/build","query":{"job":"builder/dispatch-1-ab","log":"stdout","e":"a b"},"headers":{"host":"ci","x-thing":"1, 2"},"body":"","remote_addr":"10.0.0.9"}}'
}

@test "the peer address: TCPREMOTEIP, then SOCAT_PEERADDR, then REMOTE_ADDR" {
	r='GET / HTTP/1.1\r\n\r\n'
	run -0 bash -c "printf '$r' | TCPREMOTEIP=1.1.1.1 SOCAT_PEERADDR=2.2.2.2 REMOTE_ADDR=3.3.3.3 alba-http | jq -r .request.remote_addr"
	assert_output 1.1.1.1
	run -0 bash -c "printf '$r' | REMOTE_ADDR=3.3.3.3 alba-http | jq -r .request.remote_addr"
	assert_output 3.3.3.3
}

@test "a Content-Length body is kept byte for byte" {
	body=$(printf '{\n  "ref": "refs/heads/main",\n  "msg": "caf\xc3\xa9 \\\\u0000 \\" tab\t"\n}')
	n=$(printf '%s' "$body" | wc -c)
	printf 'POST /hook HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s' "$n" "$body" >"$BATS_TEST_TMPDIR/r"
	run -0 bash -c "alba-http <'$BATS_TEST_TMPDIR/r' | jq -j .request.body"
	[ "$output" = "$body" ]
}

@test "a chunked body is decoded" {
	run -0 bash -c "printf 'POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n' | alba-http | jq -r .request.body"
	assert_output 'hello, world'
}

@test "a body announced over the bound is refused at once with 413" {
	# The client keeps the connection open and sends nothing more: the
	# answer must not wait for the 100 MiB.
	run -100 --separate-stderr bash -c "(printf 'POST /hook HTTP/1.1\r\nContent-Length: 104857600\r\n\r\n'; sleep 20) | timeout 5 alba-http"
	[ "$(jq -r .error.status <<<"$output")" = 413 ]
	[ "$stderr" = "alba-http: fatal: the body (104857600 bytes) is over 4194304 bytes" ]
	run -0 bash -c "printf 'POST /hook HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world' | alba-http -b 11 | jq -r .request.body"
	assert_output 'hello world'
	run -100 --separate-stderr bash -c "printf 'POST /hook HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello world!' | alba-http -b 11"
	run -100 --separate-stderr bash -c "printf 'POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n' | alba-http -b 11"
	[ "$(jq -r .error.status <<<"$output")" = 413 ]
}

@test "a chunked body of exactly the bound is accepted" {
	run -0 bash -c "printf 'POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n' | alba-http -b 11 | jq -r .request.body"
	assert_output 'hello world'
}

@test "chunk sizes are hex digits only, with extensions per RFC 9112" {
	# Accepted: leading zeros, upper case, extensions with a token or a
	# quoted value and blanks around the semicolon.
	for c in '0005' '5;a' '5 ; a=b' '5;a="q \\" ;x";b=c' '5\t;a'; do
		run -0 bash -c "printf 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n$c\r\nhello\r\n0\r\n\r\n' | alba-http | jq -r .request.body"
		[ "$output" = hello ] || { echo "for $c: $output"; return 1; }
	done
	# Refused: what strtoull takes and RFC 9112 does not.
	for c in '' ';a' '0x5' '+5' '-0' ' 5' '5 ' '5 x' '5;' '5;=b' '5;a=' '5;a="b' '5;a=b c' \
		'00000000000000005' 'ffffffffffffffffff'; do
		run -100 --separate-stderr bash -c "printf 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n$c\r\nhello\r\n0\r\n\r\n' | alba-http"
		[ "$(jq -r .error.message <<<"$output")" = "bad chunk size" ] || { echo "for $c: $output"; return 1; }
	done
}

@test "Transfer-Encoding on HTTP/1.0, or with Content-Length, is refused" {
	run -100 --separate-stderr bash -c "printf 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | alba-http"
	[ "$(jq -c .error <<<"$output")" = '{"status":400,"code":"bad_request","message":"Transfer-Encoding in an HTTP/1.0 request"}' ]
	for h in 'Content-Length: 5\r\nTransfer-Encoding: chunked' 'Transfer-Encoding: chunked\r\nContent-Length: 5' \
		'transfer-encoding: CHUNKED\r\ncontent-length: 0'; do
		run -100 --separate-stderr bash -c "printf 'POST / HTTP/1.1\r\n$h\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | alba-http"
		[ "$(jq -r .error.message <<<"$output")" = "both Content-Length and Transfer-Encoding" ] || { echo "for $h: $output"; return 1; }
	done
	run -0 bash -c "printf 'POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello' | alba-http | jq -r .request.body"
	assert_output hello
}

@test "a NUL byte in the request line or a header is 400" {
	for r in 'G\0T /health HTTP/1.1\r\n\r\n' 'GET /health\0x HTTP/1.1\r\n\r\n' 'GET /health HTTP/1.1\0\r\n\r\n' \
		'GET / HTTP/1.1\r\nX-A\0: b\r\n\r\n' 'GET / HTTP/1.1\r\nX-A: b\0c\r\n\r\n' 'GET / HTTP/1.1\r\n\0\r\n\r\n'; do
		run -100 --separate-stderr bash -c "printf '$r' | alba-http"
		[ "$(jq -r .error.status <<<"$output")" = 400 ] || { echo "for $r: $output"; return 1; }
		[[ "$(jq -r .error.message <<<"$output")" == "a NUL byte in "* ]] || { echo "for $r: $output"; return 1; }
	done
}

@test "a chunk longer than its size is 400 with a true message" {
	for d in 'helloXX' 'helloX'; do
		run -100 --separate-stderr bash -c "printf 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n$d\r\n0\r\n\r\n' | alba-http"
		[ "$(jq -c .error <<<"$output")" = '{"status":400,"code":"bad_request","message":"bad chunk: its data is longer than its size"}' ] || { echo "for $d: $output"; return 1; }
	done
}

@test "a long request line is 414; too many or too large headers 431" {
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	run -100 --separate-stderr bash -c "printf 'GET /$long HTTP/1.1\r\n\r\n' | alba-http"
	[ "$(jq -r .error.status <<<"$output")" = 414 ]
	run -100 --separate-stderr bash -c "for i in \$(seq 101); do printf 'X-H%d: v\r\n' \$i; done | { printf 'GET / HTTP/1.1\r\n'; cat; printf '\r\n'; } | alba-http"
	[ "$(jq -r .error.status <<<"$output")" = 431 ]
	big=$(head -c 33000 /dev/zero | tr '\0' b)
	run -100 --separate-stderr bash -c "printf 'GET / HTTP/1.1\r\nX-Big: $big\r\n\r\n' | alba-http"
	[ "$(jq -r .error.status <<<"$output")" = 431 ]
}

@test "headers that use up their byte budget exactly leave room for the empty line only" {
	# 32768 bytes of header line: the budget is spent; the next line must
	# not be read without a bound (it used to be: the remainder wrapped).
	pad=$(head -c 32762 /dev/zero | tr '\0' a)
	big=$(head -c 40000 /dev/zero | tr '\0' b)
	printf 'GET / HTTP/1.1\r\nX-A: %s\r\nX-B: %s\r\n\r\n' "$pad" "$big" >"$BATS_TEST_TMPDIR/r"
	run -100 --separate-stderr bash -c "alba-http <'$BATS_TEST_TMPDIR/r'"
	[ "$(jq -r .error.status <<<"$output")" = 431 ]
	[ "$stderr" = "alba-http: fatal: the headers are over 32768 bytes" ]
	printf 'GET / HTTP/1.1\r\nX-A: %s\r\n\r\n' "$pad" >"$BATS_TEST_TMPDIR/r"
	run -0 bash -c "alba-http <'$BATS_TEST_TMPDIR/r' | jq -r '.request.headers[\"x-a\"] | length'"
	assert_output 32762
}

@test "a client that stops sending gets 408" {
	run -99 --separate-stderr bash -c "(printf 'POST /hook HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'; sleep 5) | alba-http -t 0.5"
	[ "$(jq -c .error <<<"$output")" = '{"status":408,"code":"timeout","message":"the client was too slow sending the body"}' ]
	run -99 --separate-stderr bash -c "(printf 'POST /hook HTTP/1.1\r\nHost: x\r\n'; sleep 5) | alba-http -t 0.5"
}

@test "malformed requests are 400" {
	for r in 'GARBAGE\r\n\r\n' 'GET / HTTP/1.1 extra\r\n\r\n' 'get / HTTP/1.1\r\n\r\n' 'GET nopath HTTP/1.1\r\n\r\n' \
		'GET / HTTP/1.1\r\nNoColon\r\n\r\n' 'GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n' \
		'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n' \
		'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n' 'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n\xff\xfe' \
		'GET /a%%00b HTTP/1.1\r\n\r\n' 'GET /?a=%%zz HTTP/1.1\r\n\r\n' 'GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n' \
		'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n' 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' \
		'POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n' 'GET / HTTP/1.1\r\nX A: b\r\n\r\n'; do
		run -100 --separate-stderr bash -c "printf '$r' | alba-http"
		[ "$(jq -r .error.status <<<"$output")" = 400 ] || { echo "for $r: $output"; return 1; }
	done
	run -100 --separate-stderr bash -c "printf 'GET / HTTP/2.0\r\n\r\n' | alba-http"
	[ "$(jq -r .error.status <<<"$output")" = 505 ]
}

@test "routes: -o names the route, -a answers 404 and 405" {
	run -0 bash -c "printf 'POST /hook?token=x HTTP/1.1\r\n\r\n' | alba-http -a 'POST /hook' -o 3 3>&1 >/dev/null"
	assert_output 'POST /hook -'
	run -100 --separate-stderr bash -c "printf 'GET /hook HTTP/1.1\r\n\r\n' | alba-http -a 'POST /hook' -a 'GET /health'"
	[ "$(jq -c '.error|[.status,.code]' <<<"$output")" = '[405,"method_not_allowed"]' ]
	run -1 --separate-stderr bash -c "printf 'GET /etc/passwd HTTP/1.1\r\n\r\n' | alba-http -a 'POST /hook'"
	[ "$(jq -r .error.status <<<"$output")" = 404 ]
	run -0 bash -c "printf 'GET /a%%20b\$x HTTP/1.1\r\n\r\n' | alba-http -o 3 3>&1 >/dev/null"
	assert_output 'GET ?'
	run -100 --separate-stderr bash -c "printf 'junk\r\n\r\n' | alba-http -o 3 3>&1 >/dev/null"
	assert_output '- ?'
}

# ---- responses

@test "-R answers the job ID as text, or as JSON when the client asks" {
	doc='{"request":{"headers":{}},"job":{"id":"builder/dispatch-1700000000-0a1b2c3d","namespace":"ci"},"config":{"hook":{"token":"s3cr3t"},"inject":"K=topsecret"}}'
	run -0 bash -c "printf '%s' '$doc' | alba-http -R | tr -d '\r'"
	assert_output "$(printf 'HTTP/1.1 200 OK\nContent-Type: text/plain; charset=utf-8\nContent-Length: 37\nCache-Control: no-store\nX-Content-Type-Options: nosniff\nConnection: close\n\nbuilder/dispatch-1700000000-0a1b2c3d')"
	doc=$(jq -c '.request.headers.accept = "application/json, */*"' <<<"$doc")
	run -0 bash -c "printf '%s' '$doc' | alba-http -R | sed '1,/^\r$/d'"
	assert_output '{"job":{"id":"builder/dispatch-1700000000-0a1b2c3d","namespace":"ci"}}'
	refute_output --partial s3cr3t
}

@test "-R renders an error with its status and message only" {
	doc='{"request":{"headers":{}},"config":{"hook":{"token":"s3cr3t"},"inject":"K=topsecret"},"error":{"status":403,"code":"forbidden","message":"bad token"}}'
	run -0 bash -c "printf '%s' '$doc' | alba-http -R"
	assert_line --index 0 $'HTTP/1.1 403 Forbidden\r'
	assert_line --index 7 'bad token'
	refute_output --partial s3cr3t
	refute_output --partial topsecret
	doc=$(jq -c '.request.headers.accept = "application/json"' <<<"$doc")
	run -0 bash -c "printf '%s' '$doc' | alba-http -R | sed '1,/^\r$/d'"
	assert_output '{"error":{"status":403,"code":"forbidden","message":"bad token"}}'
	run -0 bash -c "printf '%s' '{\"error\":{\"status\":202,\"code\":\"ignored\",\"message\":\"branch deleted\"}}' | alba-http -R | head -1"
	assert_output $'HTTP/1.1 202 Accepted\r'
}

@test "-R answers 500 when a stage died, and -j renders a member as JSON" {
	run -0 bash -c "printf 'not json' | alba-http -R | head -1"
	assert_output $'HTTP/1.1 500 Internal Server Error\r'
	run -0 bash -c "alba-http -R </dev/null | sed '1,/^\r$/d'"
	assert_output 'internal error'
	run -0 bash -c "printf '%s' '{\"status\":{\"state\":\"success\",\"exit_code\":0}}' | alba-http -R -j status | sed '1,/^\r$/d'"
	assert_output '{"state":"success","exit_code":0}'
	run -0 bash -c "printf '%s' '{\"health\":\"ok\"}' | alba-http -R -p health | sed '1,/^\r$/d'"
	assert_output 'ok'
}

@test "-R -l writes one sanitised access-log line" {
	doc='{"request":{"method":"POST","path":"/hook\u001b[31m%x","headers":{"x-gitea-delivery":"d-1\nforged"},"remote_addr":"127.0.0.1"},"job":{"id":"builder/dispatch-1-ab"}}'
	run -0 --separate-stderr bash -c "printf '%s' '$doc' | alba-http -R -l >/dev/null"
	[ "$stderr" = 'alba-http: 127.0.0.1 POST /hook%1B[31m%25x 200 delivery=d-1%0Aforged job=builder/dispatch-1-ab' ]
}

@test "-R -l: no client-controlled value adds or fakes a field of the access line" {
	# A decoded path with spaces and '=', an unauthenticated delivery
	# header, a peer and a job: each stays one field, escaped %XX.
	run -0 --separate-stderr bash -c "printf 'GET /status%%20200%%20delivery=abc%%20job=x%%209ms?job=j HTTP/1.1\r\nX-Gitea-Delivery: d 200 delivery=spoof\r\n\r\n' | REMOTE_ADDR='1.2.3.4 GET' alba-http -a 'GET /health' 2>/dev/null | alba-http -R -l >/dev/null"
	[ "$stderr" = 'alba-http: 1.2.3.4%20GET GET /status%20200%20delivery%3Dabc%20job%3Dx%209ms 404 delivery=d%20200%20delivery%3Dspoof job=-' ]
	read -ra f <<<"$stderr"
	[ "${#f[@]}" = 7 ]
	[ "$(grep -o 'delivery=' <<<"$stderr" | wc -l)" = 1 ]
	doc='{"request":{"method":"GET","path":"-","headers":{"x-github-delivery":"\"q\"\\\\ \u007f\u00e9"},"remote_addr":""},"job":{"id":"a job=b"}}'
	run -0 --separate-stderr bash -c "printf '%s' '$doc' | alba-http -R -l >/dev/null"
	[ "$stderr" = 'alba-http: - GET %2D 200 delivery=%22q%22%5C%5C%20%7F%C3%A9 job=a%20job%3Db' ]
}

@test "-R -s -l: the streamed line names the peer, the route and the job" {
	# The route line of the request, as alba-serve passes it on.
	run -0 bash -c "printf 'GET /build?job=builder%%2Fdispatch-1-ab%%20x%%3Dy&log=stderr HTTP/1.1\r\n\r\n' | alba-http -o 3 3>&1 >/dev/null"
	assert_output 'GET /build builder/dispatch-1-ab%20x%3Dy'
	# alba-logs -c's first line: the request without its peer, and the job.
	printf '%s\n0\r\n\r\n' '{"request":{"method":"GET","path":"/build"},"job":{"id":"builder/dispatch-1-ab x=y"}}' >"$BATS_TEST_TMPDIR/body"
	run -0 --separate-stderr bash -c "ALBA_ROUTE='$output' SOCAT_PEERADDR=10.0.0.7 alba-http -R -s -l <'$BATS_TEST_TMPDIR/body' >/dev/null"
	[ "$stderr" = 'alba-http: 10.0.0.7 GET /build 200 delivery=- job=builder/dispatch-1-ab%20x%3Dy' ]
	# A stage that died before its first line: the route line names the job.
	run -0 --separate-stderr bash -c "ALBA_ROUTE='GET /build builder/dispatch-1-ab%20x%3Dy' alba-http -R -s -l </dev/null >/dev/null"
	[[ "$stderr" == 'alba-http: - GET /build 500 delivery=- job=builder/dispatch-1-ab%20x%3Dy'* ]]
	# A route that is not one alba-http wrote names no job.
	run -0 --separate-stderr bash -c "ALBA_ROUTE='GET /build a=b' alba-http -R -s -l </dev/null >/dev/null"
	[[ "$stderr" == 'alba-http: - GET /build 500 delivery=- job=-'* ]]
}

@test "-R -s passes alba-logs -c's chunked body on; a first error line sets the status" {
	printf '{"request":{"method":"GET","path":"/build","remote_addr":"10.0.0.1"},"job":{"id":"b/dispatch-1-ab"},"stream":"stderr"}\n7\r\nline 1\n\r\n6\r\ncaf\xc3\xa9\n\r\n18\r\n\n[albatros: lost nomad]\n\r\n0\r\n\r\n' >"$BATS_TEST_TMPDIR/body"
	run -0 --separate-stderr bash -c "alba-http -R -s -l <'$BATS_TEST_TMPDIR/body'"
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line --partial 'Transfer-Encoding: chunked'
	assert_line --partial 'X-Accel-Buffering: no'
	[ "$stderr" = 'alba-http: 10.0.0.1 GET /build 200 delivery=- job=b/dispatch-1-ab' ]
	# Decode the chunked body with a parser of its own: the bytes as sent.
	run -0 bash -c "alba-http -R -s <'$BATS_TEST_TMPDIR/body' | sed '1,/^\r$/d' | python3 -c '
import sys
d = sys.stdin.buffer.read(); out = b\"\"
while True:
    n, _, d = d.partition(b\"\r\n\"); n = int(n, 16)
    if n == 0: break
    out += d[:n]; d = d[n + 2:]
sys.stdout.buffer.write(out)'"
	assert_output "$(printf 'line 1\ncafé\n\n[albatros: lost nomad]')"
	run -0 bash -c "printf '%s\n' '{\"request\":{},\"error\":{\"status\":404,\"code\":\"unknown_job\",\"message\":\"no such job\"}}' | alba-http -R -s | head -1"
	assert_output $'HTTP/1.1 404 Not Found\r'
	# no record at all: 500, logged (and nothing leaked: ALBA_VALGRIND=1)
	run -0 --separate-stderr bash -c "alba-http -R -s -l </dev/null >'$BATS_TEST_TMPDIR/out'"
	[ "$stderr" = 'alba-http: - - - 500 delivery=- job=-' ]
	run -0 head -1 "$BATS_TEST_TMPDIR/out"
	assert_output $'HTTP/1.1 500 Internal Server Error\r'
}
