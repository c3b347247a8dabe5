#!/usr/bin/env bats
# albatros on a real cluster: the real Nomad with ACLs, the real Consul and
# Gitea.  Every job file of hcl/ through the real `nomad job validate`;
# hcl/builder.hcl and hcl/albatros.hcl run with raw_exec, albatros with its
# workload identity only (no token anywhere) serving Gitea's webhook end to
# end; alba-register and alba-status -W against the real Nomad.

load helpers
load real

HOOK_TOKEN=cluster-hook-t0ken
HOOK_SECRET=cluster-hmac-s3cr3t

setup_file() {
	# A short directory: the task API socket's path, under Nomad's data_dir,
	# must fit a unix socket address (107 bytes).
	REAL_DIR=$(mktemp -d /tmp/alba-rc.XXXXXX)
	export REAL_DIR
	real_consul_start
	real_nomad_start acl
	M=$REAL_MGMT_TOKEN
	export M
	mnomad namespace apply albatros >/dev/null
	mnomad acl policy apply -namespace albatros -job albatros albatros \
		"$TOP/hcl/albatros.policy.hcl" >/dev/null
	printf 'namespace "ci" {\n  capabilities = ["read-job", "list-jobs"]\n}\n' \
		>"$BATS_FILE_TMPDIR/ci-read.hcl"
	mnomad acl policy apply ci-read "$BATS_FILE_TMPDIR/ci-read.hcl" >/dev/null
	CI_TOKEN=$(mnomad acl token create -name ci -policy ci-read -json | jq -r .SecretID)
	export CI_TOKEN
	# albatros as the image would hold it: the binaries and alba-serve.
	DIST=$BATS_FILE_TMPDIR/dist
	mkdir -p "$DIST"
	cp "$ALBA_BIN"/alba-* "$TOP/scripts/alba-serve" "$DIST/"
	export DIST
	real_job_run "$TOP/hcl/builder.hcl" driver=raw_exec timeout=60s cpu=100 memory=128
	real_job_run "$TOP/hcl/albatros.hcl" driver=raw_exec "bindir=$DIST" \
		"consul_addr=${CONSUL_HTTP_ADDR#http://}"
	# A repository on the machine for the builds dispatched by hand.
	LOCAL=$BATS_FILE_TMPDIR/local
	git init -q -b main "$LOCAL"
	printf '#!/bin/sh\necho "built $COMMIT"\n' >"$LOCAL/.albatros"
	chmod +x "$LOCAL/.albatros"
	git -C "$LOCAL" add .albatros
	git -C "$LOCAL" -c user.name=a -c user.email=a@example.org commit -q -m one
	LOCAL_COMMIT=$(git -C "$LOCAL" rev-parse HEAD)
	export LOCAL LOCAL_COMMIT
}

teardown_file() {
	real_stop
	rm -rf "$REAL_DIR"
}

teardown() {
	[ -z "${WATCHER:-}" ] || { kill "$WATCHER" 2>/dev/null; wait "$WATCHER" 2>/dev/null || true; }
	[ -z "${GITD:-}" ] || { kill "$GITD" 2>/dev/null; wait "$GITD" 2>/dev/null || true; }
	[ -z "${EMU_PIDS[*]:-}" ] || emu_stop
}

mnomad() { NOMAD_TOKEN=$M "$REAL_NOMAD" "$@"; }
mapi() { curl -sSf -H "X-Nomad-Token: $M" "${@:2}" "$NOMAD_URL$1"; }


passing() {
	[ "$(curl -sSf "$CONSUL_URL/v1/health/service/albatros?passing=1" | jq length)" = 2 ]
}

# serve_addrs: host:port of each albatros instance, from Consul.
serve_addrs() {
	curl -sSf "$CONSUL_URL/v1/health/service/albatros?passing=1" |
		jq -r '.[].Service | "\(.Address):\(.Port)"'
}

# dispatch_local: a build of the local repository; prints its job ID.
dispatch_local() {
	mapi /v1/job/builder/dispatch?namespace=ci -X PUT --data-binary "$(jq -nc \
		--arg r "$LOCAL" --arg c "$LOCAL_COMMIT" \
		'{Meta: {REPO_URL: $r, COMMIT: $c, BRANCH: "main", FLAVOR: "default"}}')" |
		jq -r .DispatchedJobID
}

watch_stderr() {
	local a
	a=$(mapi "/v1/job/albatros/allocations?namespace=albatros" |
		jq -r '[.[] | select(.TaskGroup == "watcher" and .ClientStatus == "running")][0].ID')
	[ -n "$a" ] && [ "$a" != null ] &&
		mnomad alloc logs -namespace albatros -stderr -task watch "$a"
}

@test "real: every job file in hcl/ passes nomad job validate, the raw_exec variants too" {
	local f
	for f in "$TOP"/hcl/*.hcl; do
		case $f in *.policy.hcl) continue ;; esac
		run mnomad job validate "$f"
		assert_success
		assert_output --partial "Job validation successful"
	done
	for f in builder albatros albatros-sync; do
		run mnomad job validate -var driver=raw_exec "$TOP/hcl/$f.hcl"
		assert_success
	done
}

@test "real: albatros.hcl, two instances passing /health in Consul, the watcher, no token in the job" {
	_real_wait 60 passing
	local a
	for a in $(serve_addrs); do
		run curl -sS "http://$a/health"
		assert_output ok
	done
	# Workload identity in every task, no NOMAD_TOKEN anywhere.
	run mapi "/v1/job/albatros?namespace=albatros"
	assert_success
	assert_equal "$(jq -c '[.TaskGroups[].Tasks[] | [.Name, .Identity.Env, .Env.NOMAD_ADDR, (.Env | has("NOMAD_TOKEN"))]]' <<<"$output")" \
		'[["serve",true,"unix://${NOMAD_SECRETS_DIR}/api.sock",false],["watch",true,"unix://${NOMAD_SECRETS_DIR}/api.sock",false]]'
	# Nomad 1.6 refuses a workload identity on the event stream: the
	# watcher says so once and follows /v1/jobs instead.
	_real_wait 30 eval 'watch_stderr | grep -q "refused the event stream of namespace ci"'
	assert_equal "$(watch_stderr | grep -c 'refused the event stream')" 1
}

@test "real: albatros.hcl serves a signed webhook end to end with only its workload identity" {
	# Nomad and Consul real; the forge emulated (this test runs without
	# Gitea; the next one uses the real Gitea when it is built).
	emu_start forge --repo acme/widget --token T
	# The repository over git://, as a forge's clone URL would be.
	local a i s id port url
	port=$(_real_free_port)
	mkdir -p "$BATS_TEST_TMPDIR/git/acme"
	git clone -q --bare "$LOCAL" "$BATS_TEST_TMPDIR/git/acme/widget.git"
	git daemon --listen=127.0.0.1 --port="$port" --base-path="$BATS_TEST_TMPDIR/git" \
		--export-all --reuseaddr "$BATS_TEST_TMPDIR/git" 2>"$BATS_TEST_TMPDIR/git.log" 3>&- &
	GITD=$!
	url=git://127.0.0.1:$port/acme/widget.git
	_real_wait 10 git ls-remote "$url"
	_real_wait 60 passing
	jq -n --arg t "$HOOK_TOKEN" --arg h "$HOOK_SECRET" --arg u "$FORGE_URL" \
		'{hook: {token: $t, secret: $h}, gitea: {url: $u, token: "T"}}' |
		alba-config -s "$url" >/dev/null
	for a in $(serve_addrs); do
		# Gitea's 5 s delivery timeout, but under valgrind (ALBA_SLOW).
		run python3 "$TOP/test/emu/webhook.py" send --url "http://$a/hook?token=$HOOK_TOKEN" \
			--timeout "$( [ -z "${ALBA_SLOW:-}" ] && echo 5 || echo 120)" \
			--forge gitea --event push --repo-url "$url" --full-name acme/widget \
			--commit "$LOCAL_COMMIT" --secret "$HOOK_SECRET"
		assert_success
		assert_output --partial "builder/dispatch-"
		break
	done
	id=$(grep -o 'builder/dispatch-[0-9a-f-]*' <<<"$output" | head -1)
	for i in $(seq 900); do
		s=$(curl -sS "$FORGE_URL/_emu/forge/statuses" | jq -r --arg c "$LOCAL_COMMIT" \
			'[.[] | select(.sha == $c) | .state] | join(" ")')
		case $s in *success* | *failure* | *error*) break ;; esac
		sleep 0.1
	done
	[ "${s%% *}" = pending ] || { echo "statuses: $s"; return 1; }
	[ "${s##* }" = success ] || { echo "statuses: $s"; return 1; }
	run mapi "/v1/job/$(jq -rn --arg s "$id" '$s|@uri')?namespace=ci"
	assert_success
	assert_equal "$(jq -r '.Meta.COMMIT' <<<"$output")" "$LOCAL_COMMIT"
}

@test "real: albatros.hcl serves Gitea's webhook end to end with only its workload identity" {
	"$TOP/scripts/alba-services" -n gitea >/dev/null 2>&1 || skip "no Gitea built yet (scripts/alba-services gitea)"
	[ -n "${GITEA_URL:-}" ] || real_gitea_start
	_real_wait 60 passing
	local repo=cluster url work a commit s i
	url=$(gitea_repo "$repo")
	jq -n --arg t "$HOOK_TOKEN" --arg h "$HOOK_SECRET" --arg u "$GITEA_URL" --arg g "$GITEA_TOKEN" \
		'{hook: {token: $t, secret: $h}, gitea: {url: $u, token: $g}}' |
		alba-config -s "$url" >/dev/null
	a=$(serve_addrs | head -1)
	gitea_hook "$repo" "http://$a/hook?token=$HOOK_TOKEN" "$HOOK_SECRET"
	work=$BATS_TEST_TMPDIR/work
	git init -q -b main "$work"
	git -C "$work" remote add origin "$url"
	printf '#!/bin/sh\necho "built by albatros on Nomad"\n' >"$work/.albatros"
	chmod +x "$work/.albatros"
	git -C "$work" add .albatros
	git -C "$work" -c user.name=albatros -c user.email=albatros@example.org commit -q -m build
	commit=$(gitea_push "$work" main)
	for i in $(seq 900); do
		s=$(gitea_statuses "$repo" "$commit" | jq -r .state | paste -sd' ')
		case $s in *success* | *failure* | *error*) break ;; esac
		sleep 0.1
	done
	[ "${s%% *}" = pending ] || { echo "statuses: $s"; return 1; }
	[ "${s##* }" = success ] || { echo "statuses: $s"; return 1; }
	# Dispatched by albatros's workload identity: Nomad has the build.
	run mapi "/v1/jobs?namespace=ci&prefix=builder/dispatch-&meta=true"
	assert_equal "$(jq -r --arg c "$commit" '[.[] | select(.Meta.COMMIT == $c)] | length' <<<"$output")" 1
}

@test "real: alba-register registers a builder, plans with -n, refuses a broken contract and a read-only token" {
	mnomad job run -output -var id=builder-reg -var driver=raw_exec "$TOP/hcl/builder.hcl" \
		>"$BATS_TEST_TMPDIR/job.json"
	NOMAD_TOKEN=$M run --separate-stderr alba-register <"$BATS_TEST_TMPDIR/job.json"
	assert_success
	assert_equal "$(jq -c '.Job | [.ID, .Namespace, .Version, .ParameterizedJob.MetaOptional]' <<<"$output")" '["builder-reg","ci",0,["IMAGE"]]'
	NOMAD_TOKEN=$M run --separate-stderr alba-register -n <"$TOP/hcl/nixcache.hcl"
	assert_success
	assert_equal "$(jq -r '.Plan.Diff.Type' <<<"$output")" Added
	run mapi "/v1/job/builder-nix?namespace=ci"
	assert_failure
	sed 's/"runner"/"run"/' "$TOP/hcl/builder.hcl" >"$BATS_TEST_TMPDIR/bad.hcl"
	NOMAD_TOKEN=$M run --separate-stderr alba-register <"$BATS_TEST_TMPDIR/bad.hcl"
	assert_failure 1
	assert_equal "$stderr" 'alba-register: fatal: not a builder: it lacks group "runner"'
	NOMAD_TOKEN=$CI_TOKEN run --separate-stderr alba-register <"$TOP/hcl/builder.hcl"
	assert_failure 1
	[[ $stderr == *"403"* ]]
}

@test "real: alba-status -W with a token scoped to ci follows the event stream of ci and reports a build" {
	NOMAD_TOKEN=$CI_TOKEN alba-status -W -N ci >"$BATS_TEST_TMPDIR/w.out" 2>"$BATS_TEST_TMPDIR/w.err" 3>&- &
	WATCHER=$!
	sleep 1
	local id
	id=$(dispatch_local)
	_real_wait 60 grep -q "$id" "$BATS_TEST_TMPDIR/w.out"
	sleep 1
	assert_equal "$(jq -r --arg id "$id" 'select(.job.id == $id) | .status.state' "$BATS_TEST_TMPDIR/w.out")" success
	run grep -c "refused" "$BATS_TEST_TMPDIR/w.err"
	assert_output 0
}

@test "real: on Nomad 1.6 a token scoped to ci may subscribe to namespace=*, but not to another namespace" {
	run curl -sS -m 2 -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: $CI_TOKEN" \
		"$NOMAD_URL/v1/event/stream?topic=Job&namespace=default"
	assert_output 500
	run curl -sS -m 2 -H "X-Nomad-Token: $CI_TOKEN" "$NOMAD_URL/v1/event/stream?topic=Job&namespace=default"
	assert_output "Permission denied"
	run curl -sS -m 2 -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: wrong" \
		"$NOMAD_URL/v1/event/stream?topic=Job&namespace=ci"
	assert_output 403
	# * is allowed (read-job in some namespace): the stream stays open.
	run curl -sS -m 2 -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: $CI_TOKEN" \
		"$NOMAD_URL/v1/event/stream?topic=Job&namespace=*"
	assert_equal "$status" 28
}

@test "real: alba-status -W with a management token reports every build once, across namespaces" {
	NOMAD_TOKEN=$REAL_MGMT_TOKEN alba-status -W >"$BATS_TEST_TMPDIR/w.out" 2>"$BATS_TEST_TMPDIR/w.err" 3>&- &
	WATCHER=$!
	sleep 1
	local ids=() id i
	for i in 1 2 3; do ids+=("$(dispatch_local)"); done
	for id in "${ids[@]}"; do
		_real_wait 60 grep -q "$id" "$BATS_TEST_TMPDIR/w.out"
	done
	# A second look after the builds' ends: nothing is reported twice.
	sleep 2
	for id in "${ids[@]}"; do
		# (with its description: a failure says what the build did)
		assert_equal "$(jq -r --arg id "$id" 'select(.job.id == $id) | "\(.status.state): \(.status.description)"' "$BATS_TEST_TMPDIR/w.out")" "success: build succeeded"
	done
	run grep -c "refused" "$BATS_TEST_TMPDIR/w.err"
	assert_output 0
}
