#!/usr/bin/env bats
# Secrets, everywhere: canary values for every secret (config.inject,
# hook.token, hook.secret, the forge token, NOMAD_TOKEN, the Consul token)
# through the main flows; then every HTTP answer, every stderr line, every
# commit status, every argv and environment seen in /proc, every file left
# under the handler's TMPDIR and every log served by /build is searched for
# them.  And a handler killed with SIGKILL at each stage leaves nothing.

load helpers

setup() {
	local r
	r=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	C_TOKEN=cnry-hooktoken-$r
	C_SECRET=cnry-hooksecret-$r
	C_FORGE=cnry-forgetoken-$r
	C_NOMAD=cnry-nomadtoken-$r
	C_CONSUL=cnry-consultoken-$r
	C_INJ1=cnry-inject-one-$r
	C_INJ2=cnry-inj2-$r
	CANARIES=$BATS_TEST_TMPDIR/canaries
	printf '%s\n' "$C_TOKEN" "$C_SECRET" "$C_FORGE" "$C_NOMAD" "$C_CONSUL" \
		"$C_INJ1" "$C_INJ2" >"$CANARIES"
	SEEN=$BATS_TEST_TMPDIR/seen
	mkdir -p "$SEEN/answers" "$SEEN/proc"
	HTMP=$BATS_TEST_TMPDIR/handler-tmp
	mkdir -p "$HTMP"

	# The tokens reach the emulators by their control routes and curl
	# reads them from files: no canary in any argv.
	emu_start nomad --acl --log-heartbeat 0.2
	emu_start consul --acl
	emu_start forge --kind gitea --repo acme/widget
	ctl() { printf '%s' "$2" >"$BATS_TEST_TMPDIR/ctl"; curl -sSf -X POST --data-binary @"$BATS_TEST_TMPDIR/ctl" "$1" >/dev/null; }
	ctl "$NOMAD_URL/_emu/nomad/token" "{\"secret\":\"$C_NOMAD\",\"capabilities\":[\"management\"]}"
	ctl "$CONSUL_URL/_emu/consul/tokens" "{\"secret\":\"$C_CONSUL\",\"management\":true}"
	ctl "$FORGE_URL/_emu/forge/tokens" "{\"token\":\"$C_FORGE\",\"write\":true}"
	rm -f "$BATS_TEST_TMPDIR/ctl"
	printf '%s\n' "$C_CONSUL" >"$BATS_TEST_TMPDIR/consul.token"
	printf 'X-Nomad-Token: %s\n' "$C_NOMAD" >"$BATS_TEST_TMPDIR/nomad.hdr"
	# NOMAD_TOKEN is an environment variable by design (as for the nomad
	# CLI): the only place its canary may be is that variable.
	export NOMAD_ADDR=$NOMAD_URL CONSUL_HTTP_ADDR=$CONSUL_URL NOMAD_TOKEN=$C_NOMAD
	export CONSUL_HTTP_TOKEN_FILE=$BATS_TEST_TMPDIR/consul.token
	python3 "$TOP/test/emu/hcl2nomad.py" "$TOP/test/fixtures/builder-test.hcl" |
		jq '.Job.Namespace = "ci"' >"$BATS_TEST_TMPDIR/builder.json"
	curl -sSf -H @"$BATS_TEST_TMPDIR/nomad.hdr" -X PUT --data-binary @"$BATS_TEST_TMPDIR/builder.json" \
		"$NOMAD_URL/v1/jobs?namespace=ci" >/dev/null
	REPO_URL=https://git.example.org/acme/widget.git
	jq -n --arg t "$C_TOKEN" --arg s "$C_SECRET" --arg f "$FORGE_URL" --arg g "$C_FORGE" \
		--arg i "$(printf 'DEPLOY_KEY=%s\nAPI=%s' "$C_INJ1" "$C_INJ2")" \
		'{hook: {token: $t, secret: $s}, gitea: {url: $f, token: $g},
		  trusted: {senders: ["quentin"]}, inject: $i, cancel_previous: true}' |
		alba-config -s "$REPO_URL" >/dev/null
	SERVE_PORT=$(free_port)
	SERVE_URL=http://127.0.0.1:$SERVE_PORT
	export ALBA_LOG=$BATS_TEST_TMPDIR/serve.log ALBA_BINDIR=$ALBA_BIN ALBATROS_URL=$SERVE_URL
	TMPDIR=$HTMP socat "TCP-LISTEN:$SERVE_PORT,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:$TOP/scripts/alba-serve" 2>>"$BATS_TEST_TMPDIR/socat.log" 3>&- &
	EMU_PIDS+=("$!")
	local i
	for i in $(seq 100); do
		curl -sf "$SERVE_URL/health" >/dev/null 2>&1 && break
		sleep 0.05
	done
}

# answer NAME CURL-ARGS...: one request, its whole answer kept.
answer() {
	local name=$1
	shift
	curl -sS -D "$SEEN/answers/$name.head" -o "$SEEN/answers/$name" "$@" || true
}

# The argv and environment of every process, sampled until $SEEN/stop:
# each one that holds a canary is written to $SEEN/proc.  NOMAD_TOKEN's
# own entry is the one place its canary belongs.
sample_proc() {
	python3 - "$CANARIES" "$SEEN" <<'EOP'
import os, sys, time
canaries = [c.encode() for c in open(sys.argv[1]).read().split()]
seen = sys.argv[2]
allowed = b"NOMAD_TOKEN=" + canaries[3]
n = 0
while not os.path.exists(seen + "/stop"):
    n += 1
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read()
            env = open("/proc/%s/environ" % pid, "rb").read()
        except OSError:
            continue
        env = b"\0".join(e for e in env.split(b"\0") if e != allowed)
        for what, data in (("argv", argv), ("env", env)):
            if any(c in data for c in canaries):
                with open("%s/proc/%s.%s.%d" % (seen, what, pid, n), "wb") as f:
                    f.write(data.replace(b"\0", b"\n"))
    with open(seen + "/proc/samples", "w") as f:
        f.write("%d\n" % n)
    time.sleep(0.01)
EOP
}

# gen DIR [webhook.py options]: a Gitea push signed with the canary secret,
# signed here from a file (webhook.py --secret would put it in an argv).
gen() {
	mkdir -p "$1"
	python3 "$TOP/test/emu/webhook.py" gen --forge gitea --event push --repo-url "$REPO_URL" \
		--secret placeholder --sender quentin --out "$1" "${@:2}" >/dev/null
	printf '%s' "$C_SECRET" >"$BATS_TEST_TMPDIR/secret"
	python3 -c '
import hashlib, hmac, re, sys
d, key = sys.argv[1], open(sys.argv[2], "rb").read()
sig = hmac.new(key, open(d + "/json", "rb").read(), hashlib.sha256).hexdigest()
h = open(d + "/headers").read()
h = re.sub(r"(?m)^(X-(Gitea|Gogs|Forgejo)-Signature): .*$", lambda m: m.group(1) + ": " + sig, h)
open(d + "/headers", "w").write(h)' "$1" "$BATS_TEST_TMPDIR/secret"
}

@test "canaries for every secret: none in answers, stderr, statuses, /proc, files or logs" {
	sample_proc &
	sampler=$!
	printf '%s' "{\"job\":\"builder\",\"namespace\":\"ci\",\"run_time\":0.5,\"logs\":[{\"at\":0,\"stream\":\"stderr\",\"data\":\"key=$C_INJ1 api=$C_INJ2\\n\"},{\"at\":0.1,\"stream\":\"stdout\",\"data\":\"out $C_INJ1\\n\"}]}" >"$BATS_TEST_TMPDIR/b"
	curl -sSf -H @"$BATS_TEST_TMPDIR/nomad.hdr" -X POST --data-binary @"$BATS_TEST_TMPDIR/b" "$NOMAD_URL/_emu/nomad/behavior" >/dev/null
	printf '%s' "$C_TOKEN" >"$BATS_TEST_TMPDIR/q"
	gen "$BATS_TEST_TMPDIR/h1" --branch main --commit 1111111111111111111111111111111111111111
	gen "$BATS_TEST_TMPDIR/h2" --branch main --commit 2222222222222222222222222222222222222222
	# Signed, with the token in the query (read from a file: not in argv).
	answer hook1 -H @"$BATS_TEST_TMPDIR/h1/headers" --data-binary @"$BATS_TEST_TMPDIR/h1/body" \
		--url-query token@"$BATS_TEST_TMPDIR/q" "$SERVE_URL/hook"
	answer hook2 -H @"$BATS_TEST_TMPDIR/h2/headers" --data-binary @"$BATS_TEST_TMPDIR/h2/body" \
		--url-query token@"$BATS_TEST_TMPDIR/q" "$SERVE_URL/hook"
	job=$(cat "$SEEN/answers/hook2")
	[[ "$job" == builder/dispatch-* ]] || { cat "$SEEN/answers/hook2" "$ALBA_LOG"; return 1; }
	jobq=$(jq -rn --arg j "$job" '$j|@uri')
	# Refusals: a wrong token, a wrong signature, JSON asked for.
	answer badtoken -H @"$BATS_TEST_TMPDIR/h1/headers" --data-binary @"$BATS_TEST_TMPDIR/h1/body" "$SERVE_URL/hook?token=nope"
	sed 's/^\(X-Gitea-Signature\): .*/\1: 00/' "$BATS_TEST_TMPDIR/h1/headers" >"$BATS_TEST_TMPDIR/badsig"
	answer badsig -H @"$BATS_TEST_TMPDIR/badsig" -H 'Accept: application/json' \
		--data-binary @"$BATS_TEST_TMPDIR/h1/body" "$SERVE_URL/hook"
	answer build-err -N "$SERVE_URL/build?job=$jobq&log=stderr"
	answer build-out -N "$SERVE_URL/build?job=$jobq&log=stdout"
	answer status "$SERVE_URL/status?job=$jobq"
	answer status-json -H 'Accept: application/json' "$SERVE_URL/status?job=$jobq"
	answer health "$SERVE_URL/health"
	# The log was served, masked.
	grep -q 'key=\*\*\* api=\*\*\*' "$SEEN/answers/build-err" || { cat "$SEEN/answers/build-err"; return 1; }
	# The waiter reports the end: then every status is in.
	for i in $(seq 100); do
		curl -sS "$FORGE_URL/_emu/forge/statuses" >"$SEEN/statuses"
		[ "$(jq '[.[] | select(.state == "success")] | length' "$SEEN/statuses")" -ge 1 ] && break
		sleep 0.1
	done
	jq -e '[.[] | select(.state == "success")] | length >= 1' "$SEEN/statuses" >/dev/null
	touch "$SEEN/stop"
	wait "$sampler"
	cp "$ALBA_LOG" "$BATS_TEST_TMPDIR/socat.log" "$SEEN/"
	[ "$(cat "$SEEN/proc/samples")" -gt 10 ]
	# Every answer, stderr line, status, /proc sample and handler file.
	run find "$HTMP" -mindepth 1
	assert_output ''
	run grep -rlF -f "$CANARIES" "$SEEN" "$HTMP"
	[ "$status" = 1 ] || { echo "canaries found in: $output"; grep -rhoF -f "$CANARIES" $output | sort | uniq -c; return 1; }
	# The scan can fail: the canaries did reach the flows.
	grep -qF "$C_INJ1" <<<"$(curl -sS -H @"$BATS_TEST_TMPDIR/nomad.hdr" \
		"$NOMAD_URL/v1/job/$jobq?namespace=ci" | jq -r .Payload | base64 -d)"
}

# The stage wrappers: each alba-* runs the real one, and SIGKILLs its own
# process group (the handler, run by setsid) before or after it when
# ALBA_KILL_AT names it ("alba-config:after"; the response stage of
# alba-http is "alba-http-R").
wrappers() {
	local b n
	mkdir -p "$BATS_TEST_TMPDIR/wrap"
	for b in "$ALBA_BIN"/alba-*; do
		n=${b##*/}
		cat >"$BATS_TEST_TMPDIR/wrap/$n" <<EOW
#!/bin/bash
s=$n
case " \$* " in *" -R "*) s=$n-R ;; esac
[ "\${ALBA_KILL_AT:-}" != "\$s:before" ] || kill -KILL 0
"$b" "\$@"
rc=\$?
[ "\${ALBA_KILL_AT:-}" != "\$s:after" ] || kill -KILL 0
exit \$rc
EOW
		chmod +x "$BATS_TEST_TMPDIR/wrap/$n"
	done
}

@test "a handler killed with SIGKILL at any stage leaves nothing under TMPDIR" {
	wrappers
	gen "$BATS_TEST_TMPDIR/h" --branch main
	{
		printf 'POST /hook?token=%s HTTP/1.1\r\nHost: ci\r\nConnection: close\r\n' "$C_TOKEN"
		sed 's/$/\r/' "$BATS_TEST_TMPDIR/h/headers"
		printf 'Content-Length: %d\r\n\r\n' "$(wc -c <"$BATS_TEST_TMPDIR/h/body")"
		cat "$BATS_TEST_TMPDIR/h/body"
	} >"$BATS_TEST_TMPDIR/hook.req"
	printf 'GET /status?job=builder%%2Fdispatch-1-0a1b2c3d HTTP/1.1\r\n\r\n' >"$BATS_TEST_TMPDIR/status.req"
	local at kind n=0
	for kind in hook status; do
		if [ $kind = hook ]; then
			points='alba-http alba-config alba-verify alba-dispatch alba-http-R'
		else
			points='alba-http alba-status alba-config alba-http-R'
		fi
		for at in $points; do
			for when in before after; do
				rm -rf "$HTMP" && mkdir -p "$HTMP"
				TMPDIR=$HTMP ALBA_BINDIR=$BATS_TEST_TMPDIR/wrap ALBA_KILL_AT=$at:$when \
					timeout 20 setsid -w "$TOP/scripts/alba-serve" <"$BATS_TEST_TMPDIR/$kind.req" \
					>"$BATS_TEST_TMPDIR/out" 2>/dev/null || true
				run find "$HTMP" -mindepth 1
				[ -z "$output" ] || { echo "$kind, killed $when $at: left $output"; return 1; }
				n=$((n + 1))
			done
		done
	done
	[ "$n" = 18 ]
	# And unkilled, the same handler answers: the wrappers do run it.
	TMPDIR=$HTMP ALBA_BINDIR=$BATS_TEST_TMPDIR/wrap setsid -w "$TOP/scripts/alba-serve" \
		<"$BATS_TEST_TMPDIR/hook.req" >"$BATS_TEST_TMPDIR/out" 2>/dev/null
	run -0 head -1 "$BATS_TEST_TMPDIR/out"
	assert_output $'HTTP/1.1 200 OK\r'
}
