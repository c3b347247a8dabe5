#!/usr/bin/env bats
# The conformance run (issue 10) for Nomad with ACLs: the 403s of
# test/emu-nomad.bats, asked of the emulator (--acl, 1.6.3's chunked event
# stream) and of a real Nomad 1.6.3 with its ACL system bootstrapped, with
# the same tokens: made in the real one, then given to the emulator.

load helpers
. "$TOP/test/real.bash"
. "$TOP/test/nomad-api.bash"

# token NAME RULES: a client token of a new policy NAME; prints its secret.
token() {
	local rules
	rules=$(jq -Rsc '{Name: "'"$1"'", Rules: .}' <<<"$2")
	_real_nomad_api POST "/v1/acl/policy/$1" "$rules" >/dev/null
	_real_nomad_api POST /v1/acl/token "{\"Name\":\"$1\",\"Type\":\"client\",\"Policies\":[\"$1\"]}" |
		jq -r .SecretID
}

setup_file() {
	EMU_DIR=$BATS_FILE_TMPDIR emu_start nomad --acl --event-transport chunked
	EMU_U=$NOMAD_URL
	real_nomad_start acl
	REAL_U=$NOMAD_URL
	CI_TOKEN=$(token ci 'namespace "default" { capabilities = ["submit-job", "dispatch-job", "read-job", "list-jobs", "read-logs"] }')
	RO_TOKEN=$(token ro 'namespace "default" { capabilities = ["read-job"] }')
	curl -sSf -X POST --data "{\"secret\":\"$CI_TOKEN\",\"capabilities\":[\"submit-job\",\"dispatch-job\",\"read-job\",\"list-jobs\",\"read-logs\"],\"namespaces\":[\"default\"]}" \
		"$EMU_U/_emu/nomad/token" >/dev/null
	curl -sSf -X POST --data "{\"secret\":\"$RO_TOKEN\",\"capabilities\":[\"read-job\"],\"namespaces\":[\"default\"]}" \
		"$EMU_U/_emu/nomad/token" >/dev/null
	export EMU_U REAL_U CI_TOKEN RO_TOKEN
}

teardown_file() {
	emu_stop
	real_stop
}

both() {
	local d=$BATS_TEST_TMPDIR
	U=$EMU_U TMPD=$d "$@" >"$d/emu.out"
	U=$REAL_U TMPD=$d "$@" >"$d/real.out"
	[ -s "$d/real.out" ] || { echo "probe $1 said nothing" >&2; return 1; }
	diff -u --label emulator --label "real nomad" "$d/emu.out" "$d/real.out"
}

answer() { printf '%s: %s\n' "$1" "$code $(jq -Rsc . <"$TMPD/body")"; }

p_acl() {
	local job='{"Job":{"ID":"acl","Type":"batch","Datacenters":["*"],"ParameterizedJob":{},"TaskGroups":[{"Name":"runner","Tasks":[{"Name":"executor","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}'
	req PUT /v1/jobs --data "$job"
	answer no-token
	req PUT /v1/jobs -H "X-Nomad-Token: 00000000-0000-0000-0000-000000000000" --data "$job"
	answer unknown-token
	req PUT /v1/jobs -H "X-Nomad-Token: $CI_TOKEN" --data "$job"
	printf 'register: %s\n' "$code"
	req PUT /v1/job/acl/dispatch -H "X-Nomad-Token: $RO_TOKEN" --data '{}'
	answer read-only-dispatch
	req PUT /v1/job/acl/dispatch -H "Authorization: Bearer $CI_TOKEN" --data '{}'
	printf 'bearer: %s\n' "$code"
	req GET /v1/job/acl -H "X-Nomad-Token: $RO_TOKEN"
	printf 'read-only-read: %s\n' "$code"
	req GET "/v1/job/acl?namespace=ci" -H "X-Nomad-Token: $CI_TOKEN"
	answer other-namespace
	req GET "/v1/jobs" -H "X-Nomad-Token: $RO_TOKEN"
	answer list-without-list-jobs
	req GET "/v1/event/stream?topic=Job" -H "X-Nomad-Token: 00000000-0000-0000-0000-000000000000"
	answer event-unknown-token
}

@test "ACL: 403 texts without a token, with an unknown one, without the capability; Bearer" { both p_acl; }
