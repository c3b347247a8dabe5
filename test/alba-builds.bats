#!/usr/bin/env bats
# alba-builds against the Nomad emulator (scripted builds): the list newest
# first and its pages, the builders of the flavors, the badge, the requests
# it sends Nomad, and what it refuses.

load helpers

REPO=https://git.example.org/acme/widget.git

setup_file() {
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" |
		jq '.Job.Namespace = "ci"' >"$BATS_FILE_TMPDIR/builder.json"
}

setup() {
	emu_start nomad
	export NOMAD_ADDR=$NOMAD_URL
	unset NOMAD_NAMESPACE NOMAD_TOKEN
	local id
	for id in builder big; do
		jq --arg id "$id" '.Job.ID = $id | .Job.Name = $id' "$BATS_FILE_TMPDIR/builder.json" |
			curl -sS -f -X PUT "$NOMAD_URL/v1/jobs?namespace=ci" --data-binary @- >/dev/null
	done
	CONFIG='{"flavors": {"large": "big"}, "inject": "K=s3cr3t-never-shown"}'
}

# dispatch PARENT BRANCH [REPO] [OUTCOME]: a child of PARENT; sets $job.
dispatch() {
	curl -sS -f -X POST -d "{\"job\": \"$1\", \"namespace\": \"ci\", \"outcome\": \"${4:-success}\", \"run_time\": 0.05}" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
	job=$(jq -nc --arg r "${3:-$REPO}" --arg b "$2" --arg c "$(openssl rand -hex 20)" \
		'{Meta: {REPO_URL: $r, COMMIT: $c, BRANCH: $b, FLAVOR: "default"}}' |
		curl -sS -f -X POST --data-binary @- "$NOMAD_URL/v1/job/$1/dispatch?namespace=ci" |
		jq -r .DispatchedJobID)
}

wait_all_dead() {
	local i
	for i in $(seq 100); do
		[ "$(curl -sS "$NOMAD_URL/v1/jobs?namespace=ci&prefix=$1" | jq '[.[] | select(.Status != "dead")] | length')" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# builds [QUERY-JSON] [OPTIONS...]: alba-builds on a request for $REPO.
builds() {
	local q=${1:-{\}}
	shift || true
	jq -nc --arg r "$REPO" --argjson q "$q" --argjson c "$CONFIG" \
		'{request: {query: ({repo: $r} + $q)}, config: $c}' | alba-builds "$@"
}

@test "the list: the repository's builds of every builder, newest first, paged, no secret" {
	dispatch builder main; a=$job
	dispatch big main; b=$job
	dispatch builder other https://git.example.org/acme/other.git
	dispatch builder fix; c=$job
	wait_all_dead builder/
	wait_all_dead big/
	run -0 builds
	jq -e --arg a "$a" --arg b "$b" --arg c "$c" '.builds.builds | map(.id) == [$c, $b, $a]' <<<"$output"
	jq -e '.builds.builds | all(.state == "success" and .exit_code == 0 and (.alloc_id | length) == 36)' <<<"$output"
	jq -e --arg c "$c" '.builds.builds[0] | .branch == "fix" and .flavor == "default" and
		.url == "/build?job=\($c | @uri)&log=stderr" and (.submitted_at | test("Z$"))' <<<"$output"
	jq -e '.builds.next == null' <<<"$output"
	[[ $(jq -c .builds <<<"$output") != *s3cr3t* ]]
	# Two pages of two.
	run -0 builds '{}' -n 2
	jq -e --arg b "$b" --arg c "$c" '.builds.builds | map(.id) == [$c, $b]' <<<"$output"
	next=$(jq -r .builds.next <<<"$output")
	[ "$next" = "$b" ]
	run -0 builds "$(jq -nc --arg n "$next" '{before: $n}')" -n 2
	jq -e --arg a "$a" '(.builds.builds | map(.id)) == [$a] and .builds.next == null' <<<"$output"
	# On a branch.
	run -0 builds '{"branch": "main"}'
	jq -e --arg a "$a" --arg b "$b" '(.builds.builds | map(.id)) == [$b, $a] and .builds.branch == "main"' <<<"$output"
}

@test "the list costs two Nomad requests: the filtered jobs, and the page's allocations" {
	for i in 1 2 3 4 5 6; do dispatch builder main; done
	wait_all_dead builder/
	emu_requests "$NOMAD_URL" >/dev/null
	n0=$(emu_requests "$NOMAD_URL" 'length')
	run -0 builds '{}' -n 3
	jq -e '.builds.builds | length == 3' <<<"$output"
	run -0 emu_requests "$NOMAD_URL" ".[$n0:] | map(.path)"
	jq -e 'length == 2' <<<"$output"
	jq -e '.[0] | startswith("/v1/jobs?namespace=ci&meta=true&filter=")' <<<"$output"
	jq -e '.[0] | test("ParentID%20%3D%3D%20%22builder%22%20or%20ParentID%20%3D%3D%20%22big%22")' <<<"$output"
	jq -e '.[1] | startswith("/v1/allocations?namespace=ci&filter=JobID%20%3D%3D%20")' <<<"$output"
}

@test "the badge: the latest finished build of the branch; running; unknown" {
	dispatch builder main; wait_all_dead builder/
	dispatch builder broken "$REPO" failure; wait_all_dead builder/
	run -0 builds '{"branch": "broken"}' -b
	jq -e --arg j "$job" '.badge.state == "failing" and .badge.job == $j' <<<"$output"
	jq -e '.badge.svg | startswith("<svg xmlns=\"http://www.w3.org/2000/svg\"") and test(">failing</text>")' <<<"$output"
	run -0 builds '{"branch": "main"}' -b
	jq -e '.badge.state == "passing"' <<<"$output"
	curl -sS -f -X POST -d '{"job": "builder", "namespace": "ci", "hold": true}' \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
	job=$(jq -nc --arg r "$REPO" '{Meta: {REPO_URL: $r, COMMIT: "c", BRANCH: "new", FLAVOR: "default"}}' |
		curl -sS -f -X POST --data-binary @- "$NOMAD_URL/v1/job/builder/dispatch?namespace=ci" | jq -r .DispatchedJobID)
	run -0 builds '{"branch": "new"}' -b
	jq -e '.badge.state == "running" and .badge.job == null' <<<"$output"
	run -0 builds '{"branch": "none"}' -b
	jq -e '.badge.state == "unknown"' <<<"$output"
}

@test "refused: no configuration or repository 400, Nomad away 503, an error passed on" {
	run -100 --separate-stderr alba-builds <<<'{"request": {"query": {}}}'
	jq -e '.error.status == 400 and .error.code == "no_repository"' <<<"$output"
	NOMAD_ADDR=http://127.0.0.1:$(free_port) run -111 --separate-stderr builds
	jq -e '.error.status == 503 and .error.code == "nomad_unreachable"' <<<"$output"
	run -1 alba-builds <<<'{"error": {"status": 404, "code": "not_registered", "message": "m"}}'
	jq -e '.error.code == "not_registered"' <<<"$output"
	run -100 alba-builds -n 0
	run -100 alba-builds -b -s
}

@test "-s: the build alba-status looked up, as the one row of a list" {
	# No service: -s reads only the document (under make check-valgrind,
	# this run once leaked the whole document).
	in='{"job":{"id":"builder/dispatch-1700000000-abcdef12","namespace":"ci","meta":{"COMMIT":"c0ffee","BRANCH":"main"}},"status":{"state":"success","exit_code":0}}'
	run -0 --separate-stderr alba-builds -s <<<"$in"
	jq -e '.builds.next == null and (.builds.builds | length == 1) and (.builds.builds[0] |
		.id == "builder/dispatch-1700000000-abcdef12" and .namespace == "ci" and
		.state == "success" and .exit_code == 0 and .commit == "c0ffee" and .branch == "main" and
		.url == "/build?job=builder%2Fdispatch-1700000000-abcdef12&log=stderr")' <<<"$output"
	[ "$stderr" = "" ]
}
