# The local stack for end-to-end suites and benchmarks: the Nomad and
# Consul emulators (and optionally the forge's), the builder registered in
# namespace ci, and socat running scripts/alba-serve on a free port.
# shellcheck shell=bash

REPO_URL=https://git.example.org/acme/widget.git
HOOK_TOKEN=t0k3n-for-hooks
HOOK_SECRET=hmac-s3cr3t-key
INJECT=$'DEPLOY_KEY=sup3r-s3cr3t-value\nAPI_TOKEN=an0ther-s3cr3t'

# stack_start [CONFIG-JSON]: emulators, builder, configuration, socat.
stack_start() {
	local config=${1:-}
	emu_start nomad ${NOMAD_EMU_ARGS[@]+"${NOMAD_EMU_ARGS[@]}"}
	emu_start consul
	export NOMAD_ADDR=$NOMAD_URL CONSUL_HTTP_ADDR=$CONSUL_URL
	# The HCL parser (node) takes seconds: once a suite.
	local cache=${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/builder-test.json
	if [ ! -s "$cache" ]; then
		python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" |
			jq '.Job.Namespace = "ci"' >"$cache.new" && mv "$cache.new" "$cache"
	fi
	cp "$cache" "$BATS_TEST_TMPDIR/builder.json"
	curl -sSf -X PUT --data-binary @"$BATS_TEST_TMPDIR/builder.json" \
		"$NOMAD_URL/v1/jobs?namespace=ci" >/dev/null
	if [ -z "$config" ]; then
		config=$(jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg i "$INJECT" \
			'{hook: {token: $t, secret: $s}, trusted: {senders: ["quentin"]}, inject: $i}')
	fi
	# The suite's own store is not under a bound a test lowered for its
	# cells (test/faults.bats): the default one.
	printf '%s' "$config" | ALBA_SERVICE_TIMEOUT='' alba-config -s "$REPO_URL" >/dev/null
	SERVE_PORT=$(free_port)
	SERVE_URL=http://127.0.0.1:$SERVE_PORT
	export ALBA_LOG=$BATS_TEST_TMPDIR/serve.log ALBA_BINDIR=$ALBA_BIN
	export ALBATROS_URL=$SERVE_URL
	socat -b 65536 "TCP-LISTEN:$SERVE_PORT,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:$TOP/scripts/alba-serve" 2>>"$BATS_TEST_TMPDIR/socat.log" 3>&- &
	SERVE_PID=$!
	EMU_PIDS+=("$SERVE_PID")
	for _ in $(seq 100); do
		curl -sf "$SERVE_URL/health" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "socat did not start" >&2
	return 1
}

# hook_gen DIR FORGE EVENT [webhook.py options...]: a signed delivery.
hook_gen() {
	local dir=$1 forge=$2 event=$3
	shift 3
	mkdir -p "$dir"
	python3 "$TOP/test/emu/webhook.py" gen --forge "$forge" --event "$event" \
		--repo-url "$REPO_URL" --secret "$HOOK_SECRET" --out "$dir" "$@" >/dev/null
}

# hook_send DIR [QUERY] [curl options...]: POST it to /hook; sets $status
# (HTTP) and $body.
hook_send() {
	local dir=$1 query=${2:-token=$HOOK_TOKEN}
	shift 2 || shift $#
	local out
	out=$(curl -sS -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' -H @"$dir/headers" \
		--data-binary @"$dir/body" "$@" "$SERVE_URL/hook?$query")
	# shellcheck disable=SC2034 # the tests read status and body
	status=$out
	# shellcheck disable=SC2034
	body=$(cat "$BATS_TEST_TMPDIR/resp")
}

# The dispatch requests Nomad received, one JSON object a line.
dispatches() {
	emu_requests "$NOMAD_URL" '.[] | select(.method == "POST" or .method == "PUT") | select(.path | test("/dispatch")) | {path, body: (.body | fromjson)}'
}

# How many child jobs Nomad holds.
children() {
	curl -sS "$NOMAD_URL/v1/jobs?namespace=*&prefix=builder/dispatch-" | jq length
}
