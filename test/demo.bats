#!/usr/bin/env bats
# make demo's script, end to end: a real git clone and build through the
# whole pipeline, its log live and masked, its statuses at the forge, and
# nothing left running afterwards; on the real services (once
# scripts/alba-services has built them, as make check does) and on the
# emulators (EMU=1).

load helpers

# demo_ok: what every run of the demo shows, in $output.
demo_ok() {
	local out=$output
	[[ $out != *d3m0-d3pl0y-k3y-never-shown* ]]
	[[ $out == *$'\n== and its stderr\na warning on stderr\n'* ]]
	# The build's own lines, in order, from GET /build.
	run grep -E -- '^(building [0-9a-f]{7} of branch main, flavor default|-- [a-z]+|deploying with .*|done)$' <<<"$out"
	assert_output --regexp $'^building [0-9a-f]{7} of branch main, flavor default\n-- configure\n-- compile\n-- test\n-- package\ndeploying with DEPLOY_KEY=\\*\\*\\*\ndone$'
	# Pending at dispatch, then the verdict, both linking to the log.
	run grep -E $'^(pending|success)\talbatros/default\t' <<<"$out"
	assert_line --index 0 --regexp $'^pending\talbatros/default\tbuild dispatched to nomad\thttp://127.0.0.1:[0-9]+/build\\?job=builder%2Fdispatch-'
	assert_line --index 1 --regexp $'^success\talbatros/default\tbuild succeeded\t'
	assert_equal "${#lines[@]}" 2
}

@test "alba-demo on the real services: a git push to Gitea is built on Nomad, logged masked, reported" {
	scripts/alba-services -n >/dev/null
	run scripts/alba-demo
	assert_success
	assert_line --index 0 --regexp '^albatros demo on the real services: nomad 1\.6\.3, consul 1\.14\.5, gitea 1\.27\.3$'
	assert_line "== a push to main: git push, and Gitea's own signed webhook"
	demo_ok
}

@test "alba-demo EMU=1: the same on the emulators" {
	EMU=1 run scripts/alba-demo
	assert_success
	assert_line --index 0 --partial 'albatros demo on the emulators of test/emu/'
	demo_ok
}

@test "alba-demo leaves no process and no file behind" {
	run scripts/alba-demo
	assert_success
	url=$(sed -n 's/^\(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' <<<"$output" | head -1)
	dir=$(sed -n 's/^working in \(\/.*\) (removed at the end)$/\1/p' <<<"$output")
	[ -n "$url" ]
	[[ $dir == */alba-demo.?????? ]]
	run curl -s -m 2 "$url/health"
	assert_failure
	[ ! -e "$dir" ]
	# No process names its directory any more (no procps needed): the
	# Nomad agent, its tasks and executors, Consul and Gitea included.
	run grep -lsF "$dir" /proc/[0-9]*/cmdline
	assert_output ''
}
