#!/usr/bin/env bats
# The webhook flow on the real services, nothing emulated: a git push to the
# real Gitea, Gitea's own signed delivery to scripts/alba-serve behind socat,
# the configuration from the real Consul KV, hcl/demo.hcl dispatched on the
# real Nomad (raw_exec) cloning from Gitea, the log through GET /build, and
# the statuses in Gitea's API.

load helpers
load real

HOOK_TOKEN=real-hook-t0ken
HOOK_SECRET=real-hmac-s3cr3t
SECRET=real-d3pl0y-s3cr3t-value

setup_file() {
	export REAL_DIR=$BATS_FILE_TMPDIR
	real_consul_start
	real_nomad_start
	real_gitea_start
	real_serve_start
	real_job_run "$TOP/hcl/demo.hcl"
	REPO=widget
	REPO_URL=$(gitea_repo "$REPO")
	export REPO REPO_URL
	jq -n --arg t "$HOOK_TOKEN" --arg h "$HOOK_SECRET" --arg u "$GITEA_URL" \
		--arg g "$GITEA_TOKEN" --arg s "DEPLOY_KEY=$SECRET" \
		'{hook: {token: $t, secret: $h}, gitea: {url: $u, token: $g},
		  trusted: {senders: ["albatros"]}, inject: $s, cancel_previous: true}' |
		alba-config -s "$REPO_URL" >/dev/null
	gitea_hook "$REPO" "$SERVE_URL/hook?token=$HOOK_TOKEN" "$HOOK_SECRET"
	WORK=$BATS_FILE_TMPDIR/work
	git init -q -b main "$WORK"
	git -C "$WORK" remote add origin "$REPO_URL"
	export WORK
}

teardown_file() {
	real_stop
}


# push BRANCH SCRIPT: commit SCRIPT as the executable .albatros and push it
# to BRANCH; sets $commit.
push() {
	printf '%s\n' "$2" >"$WORK/.albatros"
	chmod +x "$WORK/.albatros"
	git -C "$WORK" add .albatros
	git -C "$WORK" -c user.name=albatros -c user.email=albatros@example.org \
		commit -q --allow-empty -m "build on $1"
	commit=$(gitea_push "$WORK" "$1")
}

# job_of COMMIT: the ID of the build Nomad holds for COMMIT (waits for it).
job_of() {
	local i j
	for i in $(seq 300); do
		j=$(curl -sS "$NOMAD_URL/v1/jobs?namespace=ci&prefix=builder/dispatch-&meta=true" |
			jq -r --arg c "$1" '[.[] | select(.Meta.COMMIT == $c)] | sort_by(.SubmitTime) | .[].ID')
		[ -z "$j" ] || { printf '%s\n' "$j"; return 0; }
		sleep 0.1
	done
	echo "no build dispatched for $1 in 30 s" >&2
	return 1
}

# final_status COMMIT: waits for a final status on COMMIT, prints the states.
final_status() {
	local i s
	for i in $(seq 600); do
		s=$(gitea_statuses "$REPO" "$1" | jq -r .state | paste -sd' ')
		case $s in *success* | *failure* | *error*) printf '%s\n' "$s"; return 0 ;; esac
		sleep 0.1
	done
	echo "no final status for $1 in 60 s: $s" >&2
	return 1
}

uri() { jq -rn --arg s "$1" '$s|@uri'; }

# waiters: the PIDs of the waiters (alba-status -w -p) that alba-serve
# started for builds of this suite's Nomad.  By name from alba-serve;
# under valgrind (test/run), the same arguments after memcheck's, with the
# binary's path.
waiters() {
	local p c
	for p in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ $c == "alba-status -w -p " || $c == *" /"*"/alba-status -w -p " ]] || continue
		tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx "NOMAD_ADDR=$NOMAD_URL" || continue
		echo "${p#/proc/}"
	done
	return 0
}

# kill_waiters_until_dead JOB: SIGKILL every waiter that runs while JOB
# lives, and say whether one did.  Gitea delivers a push's webhook when its
# queue gets to it, so an earlier test's waiter may start at any time; it
# is not told apart from JOB's own, which starts after JOB's dispatch and
# ends after JOB: killing all of them while JOB lives kills that one.
kill_waiters_until_dead() {
	local i p n=0
	for i in $(seq 400); do
		for p in $(waiters); do
			kill -9 "$p" 2>/dev/null && n=$((n + 1))
		done
		[ "$(curl -sS "$NOMAD_URL/v1/job/$(uri "$1")?namespace=ci" | jq -r .Status)" != dead ] || break
		sleep 0.05
	done
	[ "$n" != 0 ] || { echo "no waiter ran" >&2; return 1; }
}

@test "real: a git push to Gitea builds on Nomad, the log streams masked, Gitea shows pending then success" {
	push main '#!/bin/sh
set -eu
echo "building $COMMIT of $BRANCH ($FLAVOR)"
i=0
while [ $i -lt 20 ]; do echo "step $i"; i=$((i + 1)); sleep 0.1; done
. "$SECRET_PATH"
echo "deploying with DEPLOY_KEY=$DEPLOY_KEY"
echo "a warning" >&2
echo done'
	job=$(job_of "$commit")
	[ "$(printf '%s\n' "$job" | wc -l)" = 1 ]
	jq -e --arg u "$REPO_URL" --arg c "$commit" '.Meta == {REPO_URL: $u, COMMIT: $c, BRANCH: "main", FLAVOR: "default"}' \
		< <(curl -sS "$NOMAD_URL/v1/job/$(uri "$job")?namespace=ci")
	# Read while it runs: the stream ends when the task does.
	run -0 curl -sSN -m 60 "$SERVE_URL/build?job=$(uri "$job")&log=stdout"
	assert_line --index 0 "building $commit of main (default)"
	assert_line "step 19"
	assert_line "deploying with DEPLOY_KEY=***"
	assert_line done
	refute_output --partial "$SECRET"
	run -0 curl -sSN -m 60 "$SERVE_URL/build?job=$(uri "$job")&log=stderr"
	assert_output "a warning"
	run -0 final_status "$commit"
	assert_output "pending success"
	run -0 gitea_statuses "$REPO" "$commit"
	assert_line --index 0 --partial "\"target_url\":\"$SERVE_URL/build?job=$(uri "$job")&log=stderr\""
	run -0 curl -sS "$SERVE_URL/status?job=$(uri "$job")"
	[ "$(jq -r .state <<<"$output")" = success ]
	[ "$(jq -r .exit_code <<<"$output")" = 0 ]
}

@test "real: a failing script gives failure, with its exit code" {
	push fails '#!/bin/sh
echo "about to fail" >&2
exit 3'
	job=$(job_of "$commit")
	run -0 final_status "$commit"
	assert_output "pending failure"
	run -0 curl -sS "$SERVE_URL/status?job=$(uri "$job")"
	[ "$(jq -r .state <<<"$output")" = failure ]
	[ "$(jq -r .exit_code <<<"$output")" = 3 ]
}

@test "real: nomad job stop on a running build gives error" {
	push stopped '#!/bin/sh
echo started
sleep 60'
	job=$(job_of "$commit")
	for i in $(seq 100); do
		curl -sS "$NOMAD_URL/v1/job/$(uri "$job")/allocations?namespace=ci" |
			jq -e 'any(.[]; .ClientStatus == "running")' >/dev/null && break
		sleep 0.1
	done
	"$REAL_NOMAD" job stop -namespace ci -detach "$job" >/dev/null
	run -0 final_status "$commit"
	assert_output "pending error"
}

@test "real: the same delivery posted twice dispatches one build" {
	push twice '#!/bin/sh
echo once'
	job=$(job_of "$commit")
	run -0 final_status "$commit"
	# Gitea's own redelivery sends a new X-Gitea-Delivery; a forge retrying
	# the same one (GitHub does) is what the idempotency token is for.
	delivery=$(gitea_delivery "$BATS_TEST_TMPDIR/d" "$commit")
	[ -n "$delivery" ]
	grep -qi "^X-Gitea-Signature: " "$BATS_TEST_TMPDIR/d/headers"
	run -0 curl -sS -H @"$BATS_TEST_TMPDIR/d/headers" --data-binary @"$BATS_TEST_TMPDIR/d/body" \
		"$SERVE_URL/hook?token=$HOOK_TOKEN"
	assert_output "$job"
	run -0 job_of "$commit"
	assert_output "$job"
}

@test "real: an untrusted sender's build runs without the secrets" {
	gitea_api POST /admin/users '{"username":"stranger","email":"s@example.org","password":"str4nger-pass","must_change_password":false}' >/dev/null
	gitea_api PUT "/repos/$GITEA_USER/$REPO/collaborators/stranger" '{"permission":"write"}' >/dev/null
	tok=$(curl -sSf -u stranger:str4nger-pass -H 'Content-Type: application/json' \
		-d '{"name":"push","scopes":["write:repository"]}' "$GITEA_URL/api/v1/users/stranger/tokens" | jq -r .sha1)
	# Nomad compresses even an empty payload (nomad/job_endpoint.go Dispatch:
	# snappy.Encode of nothing is one byte), so its client writes the
	# dispatch_payload file empty: no secret in it, and no SECRET_PATH.
	printf '%s\n' '#!/bin/sh
echo "secret bytes: $(cat "$NOMAD_TASK_DIR/secret.txt" 2>/dev/null | wc -c)"
echo "SECRET_PATH=${SECRET_PATH:-}"' >"$WORK/.albatros"
	git -C "$WORK" -c user.name=stranger -c user.email=s@example.org commit -q -am "a stranger's push"
	git -C "$WORK" push -q "${REPO_URL/http:\/\//http://stranger:$tok@}" HEAD:refs/heads/stranger
	commit=$(git -C "$WORK" rev-parse HEAD)
	job=$(job_of "$commit")
	run -0 final_status "$commit"
	assert_output "pending success"
	run -0 curl -sSN -m 60 "$SERVE_URL/build?job=$(uri "$job")&log=stdout"
	assert_output $'secret bytes: 0\nSECRET_PATH='
	run -0 curl -sS "$NOMAD_URL/v1/job/$(uri "$job")?namespace=ci"
	[ "$(jq -r '.Payload // ""' <<<"$output")" = "" ]
}

@test "real: cancel_previous stops the branch's older running build" {
	push cancel '#!/bin/sh
echo "long build"
sleep 60'
	old_commit=$commit
	old=$(job_of "$commit")
	for i in $(seq 100); do
		curl -sS "$NOMAD_URL/v1/job/$(uri "$old")/allocations?namespace=ci" |
			jq -e 'any(.[]; .ClientStatus == "running")' >/dev/null && break
		sleep 0.1
	done
	push cancel '#!/bin/sh
echo "short build"'
	new=$(job_of "$commit")
	run -0 final_status "$old_commit"
	assert_output "pending error"
	run -0 gitea_statuses "$REPO" "$old_commit"
	assert_line --index 1 --partial "cancelled by $new"
	run -0 final_status "$commit"
	assert_output "pending success"
	[ "$(curl -sS "$NOMAD_URL/v1/job/$(uri "$old")?namespace=ci" | jq -r .Stop)" = true ]
}

@test "real: two builds of a branch dispatched in the same second: the older is cancelled, the newer succeeds" {
	# Two commits in one push (one delivery, on another branch), then two
	# builds of the branch "same-second" dispatched back to back with curl,
	# so that their IDs carry the same second even when the suite runs
	# under valgrind; the newer's cancel_previous (alba-status -c, the code
	# alba-dispatch runs) must tell the older by Nomad's CreateIndex, not
	# by the clock.
	printf '#!/bin/sh\nsleep 30\n' >"$WORK/.albatros"
	chmod +x "$WORK/.albatros"
	git -C "$WORK" add .albatros
	git -C "$WORK" -c user.name=albatros -c user.email=albatros@example.org commit -q -m older
	older=$(git -C "$WORK" rev-parse HEAD)
	push same-second-src '#!/bin/sh
echo "built $COMMIT"'
	newer=$commit
	dispatch() {
		curl -sSf -X POST "$NOMAD_URL/v1/job/builder/dispatch?namespace=ci" --data-binary "$(jq -nc \
			--arg u "$REPO_URL" --arg c "$1" \
			'{Meta: {REPO_URL: $u, COMMIT: $c, BRANCH: "same-second", FLAVOR: "same"}}')"
	}
	for try in 1 2 3; do
		while [ "$(date +%N)" -gt 500000000 ]; do sleep 0.02; done
		old=$(dispatch "$older" | jq -r .DispatchedJobID)
		reply=$(dispatch "$newer")
		new=$(jq -r .DispatchedJobID <<<"$reply")
		[ "${old%-*}" != "${new%-*}" ] || break
	done
	[ "${old%-*}" = "${new%-*}" ]
	newdoc=$(jq -nc --arg g "$GITEA_URL" --arg t "$GITEA_TOKEN" --arg u "$REPO_URL" \
		--arg c "$newer" --argjson r "$reply" \
		'{config: {gitea: {url: $g, token: $t}, cancel_previous: true},
		  build: {repo_url: $u, commit: $c, branch: "same-second", flavor: "same"},
		  job: {id: $r.DispatchedJobID, namespace: "ci", eval_id: $r.EvalID, parent: "builder", nomad: $r}}')
	run -0 --separate-stderr alba-status -c <<<"$newdoc"
	jq -e --arg o "$old" --arg n "$new" '.status.cancelled | any(.[]; . == $o) and all(.[]; . != $n)' <<<"$output"
	[ "$(curl -sS "$NOMAD_URL/v1/job/$(uri "$old")?namespace=ci" | jq -r .Stop)" = true ]
	[ "$(curl -sS "$NOMAD_URL/v1/job/$(uri "$new")?namespace=ci" | jq -r .Stop)" = false ]
	run -0 --separate-stderr timeout 90 alba-status -w -p <<<"$newdoc"
	[ "$(jq -r .status.state <<<"$output")" = success ]
	run -0 gitea_statuses "$REPO" "$older"
	[ "$(jq -sc 'map(select(.context == "albatros/same")) | last | [.state, .description]' <<<"$output")" = \
		"$(jq -nc --arg d "cancelled by $new" '["error", $d]')" ]
	run -0 gitea_statuses "$REPO" "$newer"
	[ "$(jq -sc 'map(select(.context == "albatros/same")) | last | [.state, .target_url]' <<<"$output")" = \
		"$(jq -nc --arg u "$SERVE_URL/build?job=$(uri "$new")&log=stderr" '["success", $u]')" ]
}

@test "real: alba-status -S posts a final status lost while no waiter ran" {
	push lost '#!/bin/sh
sleep 2
echo finished'
	job=$(job_of "$commit")
	# The waiter alba-serve started for this build dies before the end.
	run -0 kill_waiters_until_dead "$job"
	run -0 gitea_statuses "$REPO" "$commit"
	assert_equal "$(jq -r .state <<<"$output" | paste -sd' ')" pending
	run -0 alba-status -S
	run -0 final_status "$commit"
	assert_output "pending success"
}
