#!/usr/bin/env bats
# alba-dispatch: the dispatch request Nomad receives (meta, payload only for
# trusted builds, idempotency token, namespace, flavor -> job), .job, and
# Nomad's refusals; the secret never leaves but in the request body.

load helpers

URL=https://git.example.org/acme/widget.git
SHA=5f2c9e1a0b3d4c5e6f708192a3b4c5d6e7f80912
SECRET='SECRET1=hunter2-sekrit'$'\n''SECRET2=0p3n-s3same'
ID_RE='^builder/dispatch-[0-9]+-[0-9a-f]{8}$'

setup_file() {
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" \
		>"$BATS_FILE_TMPDIR/builder.json"
}

setup() {
	unset NOMAD_TOKEN NOMAD_NAMESPACE NOMAD_REGION NOMAD_HTTP_AUTH NOMAD_CACERT \
		NOMAD_CAPATH NOMAD_CLIENT_CERT NOMAD_CLIENT_KEY NOMAD_SKIP_VERIFY \
		NOMAD_TLS_SERVER_NAME
	emu_start nomad "$@"
	export NOMAD_ADDR=$NOMAD_URL
}

# register ID NAMESPACE [TOKEN]: register the test builder as job ID.
register() {
	jq --arg id "$1" '.Job.ID = $id | .Job.Name = $id' "$BATS_FILE_TMPDIR/builder.json" |
		curl -sS -X PUT ${3:+-H "X-Nomad-Token: $3"} --data-binary @- \
			"$NOMAD_URL/v1/jobs?namespace=$2" | jq -e '.EvalID' >/dev/null
	curl -sS -X DELETE "$NOMAD_URL/_emu/requests"
}

# doc BUILD-JSON [CONFIG-JSON]: a document with .build and .config.
doc() {
	jq -cn --argjson b "$1" --argjson c "${2:-{\}}" --arg s "$SECRET" \
		'{build: ({repo_url: "'$URL'", commit: "'$SHA'", branch: "main",
		   flavor: "default", sender: "ada"} + $b),
		  config: ({hook: {token: "t"}, inject: $s, consul_key: "albatros/x"} + $c),
		  request: {method: "POST", path: "/hook"}}'
}

# dispatches [JQ]: the dispatch requests Nomad received.
dispatches() {
	emu_requests "$NOMAD_URL" "[.[] | select(.path | test(\"/dispatch\"))]${1:+ | $1}"
}

# no_secret TEXT...: none of the injected values is in the texts.
no_secret() {
	local t
	for t in "$@"; do
		[[ "$t" != *hunter2-sekrit* && "$t" != *0p3n-s3same* ]] ||
			{ echo "secret leaked: $t"; return 1; }
	done
}

@test "trusted build: the four meta keys, the payload, the token; .job from Nomad's answer" {
	register builder ci
	in=$(doc '{"trusted":true,"delivery":"6c1f0a4e-delivery"}')
	run -0 --separate-stderr alba-dispatch <<<"$in"
	out=$output
	assert_equal "$stderr" ""
	run dispatches 'map([.method, .path])'
	assert_output '[["POST","/v1/job/builder/dispatch?namespace=ci"]]'
	body=$(dispatches '.[0].body')
	run jq -c 'fromjson | .Meta' <<<"$body"
	assert_output '{"REPO_URL":"'$URL'","COMMIT":"'$SHA'","BRANCH":"main","FLAVOR":"default"}'
	[ "$(jq -r 'fromjson | .Payload | @base64d' <<<"$body")" = "$SECRET" ]
	run jq -r 'fromjson | .IdempotencyToken' <<<"$body"
	assert_output 6c1f0a4e-delivery
	# .job
	id=$(jq -r .job.id <<<"$out")
	[[ "$id" =~ $ID_RE ]]
	run jq -c '.job | [.namespace, .parent, (.eval_id | length > 0), .nomad.DispatchedJobID == .id, .eval_id == .nomad.EvalID, (.nomad | keys)]' <<<"$out"
	assert_output '["ci","builder",true,true,true,["DispatchedJobID","EvalCreateIndex","EvalID","Index","JobCreateIndex"]]'
	[ "$(jq -c 'del(.job)' <<<"$out")" = "$(jq -c . <<<"$in")" ]
	# Nomad has the child with the meta.
	run curl -sS "$NOMAD_URL/v1/job/$(jq -rn --arg i "$id" '$i | @uri')?namespace=ci"
	run jq -c '[.ParentID, .Meta.REPO_URL, .Meta.BRANCH]' <<<"$output"
	assert_output '["builder","'$URL'","main"]'
	no_secret "$stderr" "$(jq -c '.job' <<<"$out")"
}

@test "untrusted (false, absent, a string), or an empty inject: no Payload at all" {
	register builder ci
	for b in '{"trusted":false}' '{}' '{"trusted":"true"}'; do
		run -0 --separate-stderr alba-dispatch <<<"$(doc "$b")"
	done
	run -0 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}' '{"inject":""}')"
	run -0 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}' '{"inject":null}')"
	run dispatches 'map(.body | fromjson | has("Payload"))'
	assert_output '[false,false,false,false,false]'
	run dispatches 'map(.body | fromjson | has("IdempotencyToken"))'
	assert_output '[false,false,false,false,false]'
}

@test "a repeated delivery gives the same job (Nomad's idempotency); another delivery a new one" {
	register builder ci
	run -0 alba-dispatch <<<"$(doc '{"trusted":true,"delivery":"d-1"}')"
	first=$(jq -r .job.id <<<"$output")
	run -0 alba-dispatch <<<"$(doc '{"trusted":true,"delivery":"d-1"}')"
	run jq -c '[.job.id, .job.eval_id]' <<<"$output"
	assert_output '["'$first'",""]'
	run -0 alba-dispatch <<<"$(doc '{"trusted":true,"delivery":"d-2"}')"
	[ "$(jq -r .job.id <<<"$output")" != "$first" ]
}

@test "namespace and flavor -> job mapping: config.flavors, config.builder, the default" {
	register b1 team
	register nixbuilder team
	cfg='{"namespace":"team","builder":"b1","flavors":{"nix":"nixbuilder"}}'
	run -0 --separate-stderr alba-dispatch <<<"$(doc '{"flavor":"nix"}' "$cfg")"
	run jq -c '.job | [.parent, .namespace, (.id | startswith("nixbuilder/dispatch-"))]' <<<"$output"
	assert_output '["nixbuilder","team",true]'
	run -0 --separate-stderr alba-dispatch <<<"$(doc '{"flavor":"default"}' "$cfg")"
	assert_equal "$stderr" ""
	[ "$(jq -r .job.parent <<<"$output")" = b1 ]
	run -0 --separate-stderr alba-dispatch <<<"$(doc '{"flavor":"arm64"}' "$cfg")"
	assert_equal "$stderr" "alba-dispatch: warning: flavor arm64 has no entry in config.flavors: dispatching the builder"
	[ "$(jq -r .job.parent <<<"$output")" = b1 ]
	run dispatches 'map([.path, (.body | fromjson | .Meta.FLAVOR)])'
	assert_output '[["/v1/job/nixbuilder/dispatch?namespace=team","nix"],["/v1/job/b1/dispatch?namespace=team","default"],["/v1/job/b1/dispatch?namespace=team","arm64"]]'
}

@test "the job ID is percent-encoded in the path; NOMAD_REGION is passed on" {
	register ci/builder ci
	NOMAD_REGION=eu run -0 --separate-stderr alba-dispatch <<<"$(doc '{}' '{"builder":"ci/builder"}')"
	[[ "$(jq -r .job.id <<<"$output")" == ci/builder/dispatch-* ]]
	run dispatches 'map(.path)'
	assert_output '["/v1/job/ci%2Fbuilder/dispatch?namespace=ci&region=eu"]'
}

@test "Nomad 500 (unknown builder): 502 nomad_rejected, exit 100, Nomad's text in the message" {
	register builder ci
	run -100 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}' '{"builder":"nope"}')"
	msg="nomad refused the dispatch of nope: parameterized job not found"
	assert_equal "$stderr" "alba-dispatch: fatal: $msg"
	run jq -c '[.error, has("job")]' <<<"$output"
	assert_output '[{"status":502,"code":"nomad_rejected","message":"'"$msg"'"},false]'
	no_secret "$stderr" "$(jq -c .error <<<"$output")"
	run dispatches length
	assert_output 1
}

@test "Nomad 400: 502 nomad_rejected with Nomad's text" {
	register builder ci
	emu_fault "$NOMAD_URL" '{"path":"/dispatch","status":400,"body":"Job ID does not match","times":1}'
	run -100 --separate-stderr alba-dispatch <<<"$(doc '{}')"
	assert_equal "$stderr" "alba-dispatch: fatal: nomad refused the dispatch of builder: Job ID does not match"
	[ "$(jq -c '.error | [.status, .code]' <<<"$output")" = '[502,"nomad_rejected"]' ]
}

@test "ACL mode: NOMAD_TOKEN goes as X-Nomad-Token; a wrong token gives 502, exit 100" {
	emu_stop
	setup --acl --token mgmt=management --token disp=dispatch-job
	register builder ci mgmt
	NOMAD_TOKEN=disp run -0 --separate-stderr alba-dispatch <<<"$(doc '{}')"
	[[ "$(jq -r .job.id <<<"$output")" =~ $ID_RE ]]
	run dispatches '[.[0].headers[] | select(.[0] | ascii_downcase == "x-nomad-token") | .[1]]'
	assert_output '["disp"]'
	NOMAD_TOKEN=wrong-token run -100 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}')"
	msg="nomad refused: permission denied (Permission denied): check NOMAD_TOKEN"
	assert_equal "$stderr" "alba-dispatch: fatal: $msg"
	run jq -c .error <<<"$output"
	assert_output '{"status":502,"code":"nomad_denied","message":"'"$msg"'"}'
	refute_output --partial wrong-token
}

@test "Nomad down: 503 nomad_unreachable, exit 111, no retry" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	NOMAD_ADDR=http://127.0.0.1:$port run -111 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}')"
	doc=$output
	run jq -r '.error | "\(.status) \(.code)"' <<<"$doc"
	assert_output "503 nomad_unreachable"
	[[ "$stderr" == "alba-dispatch: fatal: unable to reach nomad at http://127.0.0.1:$port: "* ]]
	no_secret "$stderr" "$(jq -c .error <<<"$doc")"
}

@test "a bad NOMAD_ADDR is named without its password" {
	NOMAD_ADDR='ftp://alice:pa55w0rd-do-not-leak@nomad.example:4646/x' \
		run -100 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}')"
	msg='NOMAD_ADDR is not an http, https or unix address: ftp://***@nomad.example:4646/x'
	assert_equal "$stderr" "alba-dispatch: fatal: $msg"
	run jq -c .error <<<"$output"
	assert_output '{"status":502,"code":"bad_environment","message":"'"$msg"'"}'
	NOMAD_ADDR="alice:$(head -c 300 /dev/zero | tr '\0' p)@nomad.example:4646" \
		run -100 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}')"
	assert_equal "$stderr" "alba-dispatch: fatal: NOMAD_ADDR is not an http, https or unix address: ***@nomad.example:4646"
	run emu_requests "$NOMAD_URL" length
	assert_output 0
}

@test "Nomad 502/503/504: 503, exit 111, the POST never retried" {
	register builder ci
	for st in 502 503 504; do
		curl -sS -X DELETE "$NOMAD_URL/_emu/faults"
		emu_fault "$NOMAD_URL" '{"path":"/dispatch","status":'$st',"body":"bad gateway"}'
		run -111 --separate-stderr alba-dispatch <<<"$(doc '{}')"
		assert_equal "$stderr" "alba-dispatch: fatal: nomad at $NOMAD_URL answered $st: bad gateway"
		[ "$(jq -r .error.code <<<"$output")" = nomad_unreachable ]
	done
	run dispatches length
	assert_output 3
}

@test "a payload over 16 KiB: 502 payload_too_large, nothing sent to Nomad; 16384 bytes exactly pass" {
	register builder ci
	big=$(head -c 16385 /dev/zero | tr '\0' 'x')
	run -100 --separate-stderr alba-dispatch <<<"$(doc '{"trusted":true}' "$(jq -cn --arg s "$big" '{inject: $s}')")"
	msg="config.inject is 16385 bytes, over Nomad's dispatch payload limit of 16384 bytes"
	assert_equal "$stderr" "alba-dispatch: fatal: $msg"
	run jq -c .error <<<"$output"
	assert_output '{"status":502,"code":"payload_too_large","message":"'"$msg"'"}'
	run emu_requests "$NOMAD_URL" length
	assert_output 0
	run -0 alba-dispatch <<<"$(doc '{"trusted":true}' "$(jq -cn --arg s "${big:1}" '{inject: $s}')")"
	run dispatches '.[0].body | fromjson | .Payload | @base64d | length'
	assert_output 16384
}

@test "a .build without commit, branch or repo_url, or no .config: 400, Nomad not called" {
	register builder ci
	for m in commit branch repo_url; do
		run -100 --separate-stderr alba-dispatch <<<"$(doc '{}' | jq -c "del(.build.$m)")"
		assert_equal "$stderr" "alba-dispatch: fatal: .build.$m is missing or empty"
		[ "$(jq -c '.error | [.status, .code]' <<<"$output")" = '[400,"bad_build"]' ]
	done
	run -100 --separate-stderr alba-dispatch <<<'{"config":{}}'
	assert_equal "$stderr" "alba-dispatch: fatal: the document has no .build object"
	run -100 --separate-stderr alba-dispatch <<<"$(doc '{}' | jq -c 'del(.config)')"
	assert_equal "$stderr" "alba-dispatch: fatal: the document has no .config object: run alba-config first"
	run emu_requests "$NOMAD_URL" length
	assert_output 0
}

@test "a document carrying .error passes unchanged" {
	in=$(doc '{}' | jq -c '.error = {status: 202, code: "ignored", message: "branch deleted"}')
	run -0 --separate-stderr alba-dispatch <<<"$in"
	assert_output "$in"
	assert_equal "$stderr" ""
	run emu_requests "$NOMAD_URL" length
	assert_output 0
}

@test "the cron pipeline of SPEC §2 prints a job ID" {
	emu_start consul
	export CONSUL_HTTP_ADDR=$CONSUL_URL
	unset CONSUL_HTTP_TOKEN CONSUL_HTTP_TOKEN_FILE CONSUL_NAMESPACE CONSUL_PARTITION
	register builder ci
	jq -cn --arg s "$SECRET" '{inject: $s, flavors: {nightly: "builder"}}' |
		alba-config -s "$URL" >/dev/null
	run -0 --separate-stderr bash -c 'set -o pipefail
		printf '\''{"build":{"repo_url":"%s","commit":"%s","branch":"main","flavor":"nightly","trusted":true}}'\'' "$1" "$2" |
		alba-config | alba-dispatch | jq -r .job.id' _ "$URL" "$SHA"
	assert_output --regexp "$ID_RE"
	assert_equal "$stderr" ""
	[ "$(dispatches '.[0].body | fromjson | .Payload | @base64d')" = "$(jq -cn --arg s "$SECRET" '$s')" ]
}
