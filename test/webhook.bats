#!/usr/bin/env bats
# The webhook flow end to end, through a real socket: socat in front, curl
# as the forge, the Nomad and Consul emulators behind.

load helpers
load stack

setup() {
	stack_start
}

# The payload Nomad received in the last dispatch, decoded ("" if none).
last_payload() {
	dispatches | tail -1 | jq -r '.body.Payload // empty' | { base64 -d 2>/dev/null || true; }
}

@test "a signed Gitea push dispatches: four meta, the secrets for a trusted sender, the delivery as token" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin --branch main --delivery 11111111-2222-3333-4444-555555555555
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	[[ "$body" =~ ^builder/dispatch-[0-9]+-[0-9a-f]{8}$ ]]
	run -0 dispatches
	[ "${#lines[@]}" = 1 ]
	d=${lines[0]}
	[ "$(jq -r .path <<<"$d")" = "/v1/job/builder/dispatch?namespace=ci" ] ||
		[ "$(jq -r .path <<<"$d")" = "/v1/job/builder/dispatch?namespace=ci&idempotency_token=11111111-2222-3333-4444-555555555555" ]
	commit=$(jq -r .after "$BATS_TEST_TMPDIR/h/json")
	[ "$(jq -c '.body.Meta' <<<"$d")" = "$(jq -nc --arg u "$REPO_URL" --arg c "$commit" '{REPO_URL: $u, COMMIT: $c, BRANCH: "main", FLAVOR: "default"}')" ]
	tok=$(jq -r '.body.IdempotencyToken // empty' <<<"$d")
	[ "$tok" = 11111111-2222-3333-4444-555555555555 ] || [[ "$(jq -r .path <<<"$d")" == *idempotency_token=11111111-2222-3333-4444-555555555555* ]]
	[ "$(last_payload)" = "$INJECT" ]
	# The child exists in Nomad with that ID.
	run -0 curl -sSf "$NOMAD_URL/v1/job/$(jq -rn --arg j "$body" '$j|@uri')?namespace=ci"
	[ "$(jq -r .ParentID <<<"$output")" = builder ]
	# One access-log line.
	grep -q "POST /hook 200 delivery=11111111-2222-3333-4444-555555555555 job=$body" "$ALBA_LOG"
}

@test "an untrusted sender's push dispatches without the secrets" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender mallory
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	[ "$(dispatches | wc -l)" = 1 ]
	[ -z "$(last_payload)" ]
}

@test "Forgejo, GitHub and Gitea's form-encoded deliveries dispatch too" {
	for v in "forgejo" "github" "gitea --form" "github --form"; do
		read -r forge extra <<<"$v"
		rm -rf "$BATS_TEST_TMPDIR/h"
		# shellcheck disable=SC2086
		hook_gen "$BATS_TEST_TMPDIR/h" $forge push --sender quentin $extra
		hook_send "$BATS_TEST_TMPDIR/h"
		[ "$status" = 200 ] || { echo "$v: $status $body"; return 1; }
		[[ "$body" =~ ^builder/dispatch- ]]
		[ "$(last_payload)" = "$INJECT" ]
	done
	[ "$(dispatches | wc -l)" = 4 ]
}

@test "the same delivery twice dispatches once; both answers carry the same job ID" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	first=$body
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 200 ]
	[ "$body" = "$first" ]
	[ "$(children)" = 1 ]
}

@test "JSON answers for a client that asks" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h" "token=$HOOK_TOKEN" -H 'Accept: application/json'
	[ "$status" = 200 ]
	[[ "$(jq -r .job.id <<<"$body")" =~ ^builder/dispatch- ]]
	hook_send "$BATS_TEST_TMPDIR/h" "token=wrong" -H 'Accept: application/json'
	[ "$status" = 403 ]
	[ "$(jq -r .error.code <<<"$body")" = forbidden ]
}

# Refusals: the status, no secret in the answer, nothing dispatched.
refused() {
	local want=$1
	[ "$status" = "$want" ] || { echo "got $status, want $want: $body"; return 1; }
	for s in "$HOOK_TOKEN" "$HOOK_SECRET" sup3r-s3cr3t-value an0ther-s3cr3t; do
		[[ "$body" != *"$s"* ]] || { echo "secret in the answer: $body"; return 1; }
	done
	[ -z "$(dispatches)" ] || { echo "something was dispatched"; return 1; }
}

@test "a wrong token is 403" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/h" "token=nope"
	refused 403
}

@test "a wrong signature, or none while a secret is configured, is 403" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin --secret not-the-secret
	hook_send "$BATS_TEST_TMPDIR/h"
	refused 403
	hook_gen "$BATS_TEST_TMPDIR/u" gitea push --sender quentin --secret ''
	hook_send "$BATS_TEST_TMPDIR/u"
	refused 403
	hook_gen "$BATS_TEST_TMPDIR/g" github push --sender quentin --secret ''
	hook_send "$BATS_TEST_TMPDIR/g"
	refused 403
}

@test "an unregistered repository is 404" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin --repo-url https://git.example.org/acme/other.git
	hook_send "$BATS_TEST_TMPDIR/h"
	refused 404
}

@test "malformed JSON is 400" {
	printf 'X-Gitea-Event: push\nContent-Type: application/json\n' >"$BATS_TEST_TMPDIR/hdr"
	mkdir -p "$BATS_TEST_TMPDIR/m"
	printf '{"ref": "refs/heads/main", "repository": {' >"$BATS_TEST_TMPDIR/m/body"
	cp "$BATS_TEST_TMPDIR/hdr" "$BATS_TEST_TMPDIR/m/headers"
	hook_send "$BATS_TEST_TMPDIR/m"
	refused 400
}

@test "a 100 MiB Content-Length is 413 at once" {
	run -0 bash -c "(printf 'POST /hook?token=$HOOK_TOKEN HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n'; sleep 10) |
		timeout 5 socat - TCP:127.0.0.1:$SERVE_PORT 2>/dev/null | head -1"
	assert_output $'HTTP/1.1 413 Content Too Large\r'
	# curl streaming a real 100 MiB body gets the answer too.
	status=$(head -c 104857600 /dev/zero | curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @- "$SERVE_URL/hook?token=$HOOK_TOKEN" || true)
	body=
	refused 413
}

@test "a client that stops sending is 408" {
	export ALBA_READ_TIMEOUT=0.5
	kill "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	socat "TCP-LISTEN:$SERVE_PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$TOP/scripts/alba-serve" 3>&- &
	EMU_PIDS+=("$!")
	sleep 0.3
	run -0 bash -c "(printf 'POST /hook HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"ref\"'; sleep 5) |
		timeout 4 socat - TCP:127.0.0.1:$SERVE_PORT 2>/dev/null | head -1"
	assert_output $'HTTP/1.1 408 Request Timeout\r'
	[ -z "$(dispatches)" ]
}

@test "a GET on /hook is 405; an unknown path 404; /health 200 ok" {
	status=$(curl -sS -o "$BATS_TEST_TMPDIR/r" -w '%{http_code}' "$SERVE_URL/hook?token=$HOOK_TOKEN")
	body=$(cat "$BATS_TEST_TMPDIR/r")
	refused 405
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/nope")" = 404 ]
	run -0 curl -sSf "$SERVE_URL/health"
	assert_output ok
}

@test "a pull request from a fork: secrets only if its sender is trusted" {
	hook_gen "$BATS_TEST_TMPDIR/u" gitea pr-opened --fork --sender mallory
	hook_send "$BATS_TEST_TMPDIR/u"
	[ "$status" = 200 ]
	d=$(dispatches | tail -1)
	[ "$(jq -r .body.Meta.REPO_URL <<<"$d")" = "$(jq -r .pull_request.head.repo.clone_url "$BATS_TEST_TMPDIR/u/json")" ]
	[ "$(jq -r .body.Meta.COMMIT <<<"$d")" = "$(jq -r .pull_request.head.sha "$BATS_TEST_TMPDIR/u/json")" ]
	[ -z "$(last_payload)" ]
	hook_gen "$BATS_TEST_TMPDIR/t" github pr-synchronized --fork --sender quentin
	hook_send "$BATS_TEST_TMPDIR/t"
	[ "$status" = 200 ]
	[ "$(last_payload)" = "$INJECT" ]
}

# How many reads of job $1 Nomad received (a waiter follows the job it has).
job_reads() {
	local p
	p=$(jq -rn --arg j "$1" '"/v1/job/" + ($j|@uri)')
	emu_requests "$NOMAD_URL" "[.[] | select(.method == \"GET\" and (.path | startswith(\"$p\")))] | length"
}

@test "each build gets a waiter; with ALBA_WATCHER, only a fork's pull request does" {
	hook_gen "$BATS_TEST_TMPDIR/p" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/p"
	[ "$status" = 200 ]
	j=$body
	for _ in $(seq 100); do [ "$(job_reads "$j")" -gt 0 ] && break; sleep 0.05; done
	[ "$(job_reads "$j")" -gt 0 ]
	kill "$SERVE_PID"
	export ALBA_WATCHER=1
	stack_start
	hook_gen "$BATS_TEST_TMPDIR/q" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/q"
	[ "$status" = 200 ]
	j=$body
	hook_gen "$BATS_TEST_TMPDIR/f" gitea pr-opened --fork --sender quentin
	hook_send "$BATS_TEST_TMPDIR/f"
	[ "$status" = 200 ]
	f=$body
	for _ in $(seq 100); do [ "$(job_reads "$f")" -gt 0 ] && break; sleep 0.05; done
	[ "$(job_reads "$f")" -gt 0 ]
	sleep 0.5
	[ "$(job_reads "$j")" = 0 ]
}

@test "branch names are data: a shell command or a newline is refused, never run" {
	rm -f /tmp/albatros-pwned
	for b in '$(touch /tmp/albatros-pwned)' $'evil\nbranch' '`touch /tmp/albatros-pwned`'; do
		hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin --branch "$b"
		hook_send "$BATS_TEST_TMPDIR/h"
		refused 400
	done
	[ ! -e /tmp/albatros-pwned ]
}

@test "ignored events answer 202 with the reason and dispatch nothing" {
	for e in branch-delete tag-delete test-delivery issue-comment; do
		rm -rf "$BATS_TEST_TMPDIR/h"
		hook_gen "$BATS_TEST_TMPDIR/h" gitea "$e" --sender quentin
		hook_send "$BATS_TEST_TMPDIR/h"
		[ "$status" = 202 ] || { echo "$e: $status $body"; return 1; }
		[ -n "$body" ]
	done
	[ -z "$(dispatches)" ]
}

@test "the original's example: curl -d @payload.json with ?token= and &flavor=" {
	python3 "$TOP/test/emu/webhook.py" gen --forge gitea --event push --repo-url "$REPO_URL" \
		--sender quentin --out "$BATS_TEST_TMPDIR/h" >/dev/null
	tr -d '\n' <"$BATS_TEST_TMPDIR/h/json" >"$BATS_TEST_TMPDIR/payload.json"
	cd "$BATS_TEST_TMPDIR"
	# With no secret configured, as in the original.
	jq -n --arg t "$HOOK_TOKEN" --arg i "$INJECT" '{hook: {token: $t}, trusted: {senders: ["quentin"]}, inject: $i}' |
		alba-config -s "$REPO_URL" >/dev/null
	run -0 curl -sS -d @payload.json "$SERVE_URL/hook?token=$HOOK_TOKEN&flavor=default"
	[[ "$output" =~ ^builder/dispatch-[0-9]+-[0-9a-f]{8}$ ]]
	[ "$(dispatches | jq -r .body.Meta.FLAVOR)" = default ]
}

@test "Consul down is 503; Nomad down 503; Nomad 500 and 403 are 502 with what to fix" {
	hook_gen "$BATS_TEST_TMPDIR/h" gitea push --sender quentin
	emu_fault "$NOMAD_URL" '{"method":"POST","path":"/dispatch","status":500,"body":"parameterized job not found","times":1}'
	emu_fault "$NOMAD_URL" '{"method":"PUT","path":"/dispatch","status":500,"body":"parameterized job not found","times":1}'
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 502 ]
	[[ "$body" == *"parameterized job not found"* ]]
	curl -sS -X DELETE "$NOMAD_URL/_emu/faults" >/dev/null
	emu_fault "$NOMAD_URL" '{"path":"/dispatch","status":403,"body":"Permission denied"}'
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 502 ]
	[[ "$body" == *"permission denied"* ]]
	curl -sS -X DELETE "$NOMAD_URL/_emu/faults" >/dev/null
	kill "$NOMAD_PID"
	sleep 0.2
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 503 ]
	[[ "$body" == *nomad* ]]
	kill "$CONSUL_PID"
	sleep 0.2
	hook_send "$BATS_TEST_TMPDIR/h"
	[ "$status" = 503 ]
	[[ "$body" == *consul* ]]
}
