#!/usr/bin/env bats
# Load with nothing lost (issue 14): test/load through socat on loopback,
# $ALBA_LOAD_N deliveries (200 here, 2,000 with `make load`) at concurrency
# 32, each delivered twice, Nomad answering 500 for two seconds in the
# middle, slow readers on /build and a slowloris swarm on /hook.  Then: no
# stray process and nothing left in the handler's TMPDIR.

load helpers
load stack

setup() {
	# alba-serve's temporary files go here, to be found if left.
	mkdir "$BATS_TEST_TMPDIR/tmp"
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	emu_start forge --kind gitea --repo acme/widget --token f0rge-t0ken-s3cr3t
	local config
	config=$(jq -n --arg t "$HOOK_TOKEN" --arg s "$HOOK_SECRET" --arg f "$FORGE_URL" --arg i "$INJECT" \
		'{hook: {token: $t, secret: $s}, gitea: {url: $f, token: "f0rge-t0ken-s3cr3t"}, trusted: {senders: ["quentin"]}, inject: $i}')
	stack_start "$config"
}

behave() {
	curl -sSf -X POST -d "$(jq -c '. + {job: "builder", namespace: "ci"}' <<<"$1")" \
		"$NOMAD_URL/_emu/nomad/behavior" >/dev/null
}

# Our processes still alive: the binaries of $ALBA_BIN and alba-serve
# (socat's own listener excepted).
strays() {
	local d exe cmd
	for d in /proc/[0-9]*; do
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
		case $exe in "$ALBA_BIN"/alba-*) echo "${d#/proc/} $cmd"; continue ;; esac
		case $cmd in socat*) ;; *"$TOP/scripts/alba-serve"*) echo "${d#/proc/} $cmd" ;; esac
	done
	return 0
}

@test "load: every delivery dispatched once and reported once, under a Nomad outage and two swarms" {
	local n=${ALBA_LOAD_N:-200} slow=() tries=100
	# Under valgrind (ALBA_SLOW) a delivery is seconds of CPU in each of
	# its stages: the same shapes at a concurrency two cores can carry,
	# with the bounds of the clients and of the outage to match.
	[ -z "${ALBA_SLOW:-}" ] ||
		slow=(-c 8 --swarm 3 --timeout 600 --outage 20 --probe-bound 120 --settle 600) tries=600
	# The slow readers' build: a log far larger than the socket buffers.
	behave '{"logs":[{"lines":200000,"stream":"stdout","prefix":"a line of the build log"}]}'
	hook_gen "$BATS_TEST_TMPDIR/big" gitea push --sender quentin
	hook_send "$BATS_TEST_TMPDIR/big"
	[ "$status" = 200 ]
	local big=$body
	behave '{"run_time":0.3}'
	run --separate-stderr test/load --serve "$SERVE_URL" --nomad "$NOMAD_URL" --forge "$FORGE_URL" \
		--repo-url "$REPO_URL" --build-job "$big" -n "$n" -c 32 ${slow[@]+"${slow[@]}"} \
		< <(printf '%s\n%s\n' "$HOOK_TOKEN" "$HOOK_SECRET")
	printf '%s\n' "$output" | sed 's/^/# /' >&3
	[ -z "$stderr" ] || { echo "$stderr"; return 1; }
	[ "$status" = 0 ]
	# No process left once the swarms are gone and the waiters ended.
	local i s
	for i in $(seq "$tries"); do
		s=$(strays)
		[ -n "$s" ] || break
		sleep 0.1
	done
	[ -z "$s" ] || { echo "still running:"; echo "$s"; return 1; }
	run ls -A "$TMPDIR"
	assert_output ''
}
