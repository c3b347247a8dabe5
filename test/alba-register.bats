#!/usr/bin/env bats
# alba-register against the Nomad emulator: HCL through /v1/jobs/parse,
# JSON as it is, the builder contract refused with what it lacks, the
# registration read back, a dry run through the plan, ACLs.

load helpers

setup() {
	emu_start nomad --acl --token m=management --token "ro=read-job,list-jobs@ci"
	export NOMAD_ADDR=$NOMAD_URL NOMAD_TOKEN=m
	unset NOMAD_NAMESPACE
}

teardown() {
	emu_stop
}

puts() { emu_requests "$NOMAD_URL" '[.[] | select(.method == "PUT" and (.path | startswith("/v1/jobs?")))] | length'; }

@test "hcl/builder.hcl: parsed by Nomad, registered in its namespace, read back on stdout" {
	run --separate-stderr alba-register <"$TOP/hcl/builder.hcl"
	assert_success
	assert_equal "$(jq -c '.Job | [.ID, .Namespace, .ParameterizedJob.MetaRequired, .ParameterizedJob.MetaOptional, .Meta.IMAGE]' <<<"$output")" \
		'["builder","ci",["REPO_URL","COMMIT","BRANCH","FLAVOR"],["IMAGE"],"debian:bookworm"]'
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/jobs/parse")) | .method]')" '["POST"]'
	run curl -sS -f -H "X-Nomad-Token: m" "$NOMAD_URL/v1/job/builder?namespace=ci"
	assert_success
	assert_equal "$(jq -r .Type <<<"$output")" batch
}

@test "JSON in: {\"Job\": job} or a bare job; -N names the namespace" {
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/hcl/demo.hcl" >"$BATS_TEST_TMPDIR/j.json"
	run --separate-stderr alba-register -N other <"$BATS_TEST_TMPDIR/j.json"
	assert_success
	assert_equal "$(jq -r '.Job.Namespace' <<<"$output")" other
	jq '.Job | .ID = "builder-2"' "$BATS_TEST_TMPDIR/j.json" | alba-register >"$BATS_TEST_TMPDIR/out"
	assert_equal "$(jq -r '.Job | "\(.ID) \(.Namespace)"' "$BATS_TEST_TMPDIR/out")" "builder-2 ci"
	# No parse for JSON.
	assert_equal "$(emu_requests "$NOMAD_URL" '[.[] | select(.path | startswith("/v1/jobs/parse"))] | length')" 0
}

@test "a job that breaks the builder contract: refused, naming all it lacks, nothing written" {
	sed 's/"runner"/"run"/; s/, "FLAVOR"\]/]/; s/"batch"/"service"/' "$TOP/hcl/demo.hcl" >"$BATS_TEST_TMPDIR/bad.hcl"
	run --separate-stderr alba-register <"$BATS_TEST_TMPDIR/bad.hcl"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" 'alba-register: fatal: not a builder: it lacks type "batch", meta_required FLAVOR, group "runner"'
	printf '{"ID":"x","Type":"batch","TaskGroups":[{"Name":"runner","Tasks":[{"Name":"build"}]}]}' >"$BATS_TEST_TMPDIR/bad.json"
	run --separate-stderr alba-register <"$BATS_TEST_TMPDIR/bad.json"
	assert_failure 1
	assert_equal "$stderr" 'alba-register: fatal: not a builder: it lacks a parameterized block, meta_required REPO_URL, meta_required COMMIT, meta_required BRANCH, meta_required FLAVOR, task "executor" in group "runner"'
	assert_equal "$(puts)" 0
}

@test "-n: the plan, nothing registered; Added, then Edited once it is" {
	run --separate-stderr alba-register -n <"$TOP/hcl/builder.hcl"
	assert_success
	assert_equal "$(jq -c '[.Job.ID, .Plan.Diff.Type]' <<<"$output")" '["builder","Added"]'
	assert_equal "$(puts)" 0
	alba-register <"$TOP/hcl/builder.hcl" >/dev/null
	run --separate-stderr alba-register -n <"$TOP/hcl/builder.hcl"
	assert_success
	assert_equal "$(jq -r .Plan.Diff.Type <<<"$output")" Edited
	assert_equal "$(puts)" 1
}

@test "errors: HCL Nomad cannot parse (100), a token without submit-job (1), usage (100)" {
	printf 'job "x" {\n  group "g" {\n' >"$BATS_TEST_TMPDIR/broken.hcl"
	run --separate-stderr alba-register <"$BATS_TEST_TMPDIR/broken.hcl"
	assert_failure 100
	assert_output ""
	[[ $stderr == "alba-register: fatal: nomad could not parse the job: "*"400"* ]]
	NOMAD_TOKEN=ro run --separate-stderr alba-register <"$TOP/hcl/builder.hcl"
	assert_failure 1
	[[ $stderr == *"403"* ]]
	run --separate-stderr alba-register -x
	assert_failure 100
	run --separate-stderr alba-register -m 10 <"$TOP/hcl/builder.hcl"
	assert_failure 100
	assert_equal "$(puts)" 0
}
