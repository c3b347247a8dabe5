#!/usr/bin/env bats
# The conformance run (issue 10) for Gitea: the commit-status facts
# test/emu-forge.bats asserts, asked of test/emu/forge.py and of the real
# Gitea 1.27.3 (test/real.bash), and the push delivery test/emu/webhook.py
# makes, against the one Gitea really sent (kept in its hook_task table).
# A probe prints one line per fact; `both` compares.  The differences found
# are in docs/real-services.md.

load helpers
. "$TOP/test/real.bash"

setup_file() {
	real_gitea_start
	REAL_U=$GITEA_URL
	# A token that may only read repositories.
	GITEA_RO=$(curl -sSf -u "$GITEA_USER:$GITEA_PASSWORD" -H 'Content-Type: application/json' \
		-X POST --data '{"name":"read-only","scopes":["read:repository"]}' \
		"$GITEA_URL/api/v1/users/$GITEA_USER/tokens" | jq -r .sha1)
	export REAL_U GITEA_RO
}

teardown_file() {
	real_stop
}

setup() {
	R=t$BATS_TEST_NUMBER
	# A repository of its own, with one commit: the real Gitea is shared.
	local url w=$BATS_TEST_TMPDIR/w
	url=$(gitea_repo "$R")
	git init -q -b main "$w"
	git -C "$w" -c user.name=ada -c user.email=ada@example.org commit -q --allow-empty -m one
	git -C "$w" remote add origin "$url"
	SHA=$(gitea_push "$w" main)
	emu_start forge --kind gitea --repo "$GITEA_USER/$R" --token "$GITEA_TOKEN" \
		--read-only-token "$GITEA_RO" --user "$GITEA_USER"
	EMU_U=$FORGE_URL
	# the emulator's refs are registered, the real ones pushed
	curl -sS -X POST -d "{\"repo\":\"$GITEA_USER/$R\",\"ref\":\"main\",\"sha\":\"$SHA\"}" \
		"$FORGE_URL/_emu/forge/refs" >/dev/null
}

both() {
	local d=$BATS_TEST_TMPDIR
	U=$EMU_U "$@" >"$d/emu.out"
	U=$REAL_U "$@" >"$d/real.out"
	[ -s "$d/real.out" ] || { echo "probe $1 said nothing" >&2; return 1; }
	diff -u --label emulator --label "real gitea" "$d/emu.out" "$d/real.out"
}

say() {
	local n=$1
	shift
	printf '%s: %s\n' "$n" "$*"
}

# req [CURL ARGS...] URL: $code; body in $B, headers in $H.
req() {
	B=$BATS_TEST_TMPDIR/b H=$BATS_TEST_TMPDIR/h
	code=$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$@")
}

hdr() { grep -i "^$1:" "$H" | head -n1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'; }

# post AUTH-HEADER JSON: a status on $SHA of $R.
post() {
	req -X POST -H "$1" -H 'Content-Type: application/json' --data-binary "$2" \
		"$U/api/v1/repos/$GITEA_USER/$R/statuses/$SHA"
}

# ---- probes

p_post() {
	post "Authorization: token $GITEA_TOKEN" \
		'{"state":"pending","target_url":" https://ci/b/1 ","description":"  Build queued\n","context":" albatros/build "}'
	say code "$code"
	say content-type "$(hdr Content-Type)"
	say fields "$(jq -c '{status, state, context, description, target_url, creator: .creator.login}' "$B")"
	say newline "$(tail -c1 "$B" | od -An -c | tr -d ' ')"
}

p_auth() {
	local ok='{"state":"success","context":"c"}' t=$GITEA_TOKEN u=$GITEA_USER
	post "Authorization: token $t" "$ok"; say token "$code"
	post "Authorization: Token $t" "$ok"; say Token "$code"
	post "Authorization: bearer $t" "$ok"; say bearer "$code"
	post "Authorization: BEARER $t" "$ok"; say BEARER "$code"
	post "Authorization: Bearer $t extra" "$ok"; say bearer-extra "$code"
	post "Authorization: Basic $(printf '%s:%s' "$u" "$t" | base64 -w0)" "$ok"; say basic-user-token "$code"
	post "Authorization: Basic $(printf '%s:x-oauth-basic' "$t" | base64 -w0)" "$ok"; say basic-oauth "$code"
	post "Authorization: Basic $(printf '%s:' "$t" | base64 -w0)" "$ok"; say basic-token-empty "$code"
	post "Authorization: Basic $(printf '%s:bad' "$u" | base64 -w0)" "$ok"; say basic-bad "$code"
}

p_errors() {
	post 'X-Nothing: 1' '{"state":"pending"}'
	say none "$code $(jq -c '{message, url: (.url | test("/api/swagger$"))}' "$B")"
	post 'Authorization: token nope' '{"state":"pending"}'
	say wrong "$code"
	post "Authorization: token $GITEA_RO" '{"state":"pending"}'
	say read-only "$code"
	req -X POST -H "Authorization: token $GITEA_TOKEN" -H 'Content-Type: application/json' \
		-d '{"state":"pending"}' "$U/api/v1/repos/$GITEA_USER/nope/statuses/$SHA"
	say unknown-repo "$code"
	local s
	for s in pending success error failure warning skipped running ok SUCCESS ''; do
		post "Authorization: token $GITEA_TOKEN" "{\"state\":\"$s\"}"
		say "state-$s" "$code"
	done
	post "Authorization: token $GITEA_TOKEN" 'not json'
	say not-json "$code"
}

p_list() {
	local t="Authorization: token $GITEA_TOKEN"
	# (a second apart: Gitea orders by created_unix, in seconds)
	post "$t" '{"state":"pending","context":"albatros/build"}'
	sleep 1.1
	post "$t" '{"state":"success","context":"lint"}'
	sleep 1.1
	post "$t" '{"state":"failure","context":"albatros/build"}'
	req -H "$t" "$U/api/v1/repos/$GITEA_USER/$R/statuses/$SHA"
	say code "$code"
	say total "$(hdr X-Total-Count)"
	say order "$(jq -c '[.[].status]' "$B")"
	req -H "$t" "$U/api/v1/repos/$GITEA_USER/$R/commits/$SHA/status"
	say combined "$(jq -c '{state, total_count, s: [.statuses[] | .context + "=" + .status] | sort}' "$B")"
	req -H "$t" "$U/api/v1/repos/$GITEA_USER/$R/commits/main/status"
	say by-ref "$(jq -c --arg s "$SHA" '.sha == $s' "$B")"
}

# p_delivery DIR: the facts of a push delivery (DIR/headers, DIR/body) and
# of the request the receiver got (DIR/wire, emucore's record of it).
p_delivery() {
	local d=$1
	# (User-Agent and Accept-Encoding are Go's transport's: not in hook_task)
	say header-names "$(cut -d: -f1 "$d/headers" | sed 's/;$//' | grep -vx 'User-Agent\|Accept-Encoding' | sort | tr '\n' ' ')"
	say wire-names "$(jq -r '.headers | map(.[0]) | sort | join(" ")' "$d/wire")"
	say user-agent "$(jq -r '.headers[] | select(.[0] == "User-Agent") | .[1]' "$d/wire")"
	say content-type "$(jq -r '.headers[] | select(.[0] == "Content-Type") | .[1]' "$d/wire")"
	say method-path "$(jq -r '.method + " " + .path' "$d/wire")"
	say same-body "$(jq -r .body_b64 "$d/wire" | base64 -d | cmp -s - "$d/body" && echo yes)"
	local v n
	for n in Event Event-Type; do
		for v in Gitea Gogs GitHub; do
			say "X-$v-$n" "$(hv "X-$v-$n" "$d")"
		done
	done
	say delivery-same "$(for v in Gitea Gogs GitHub; do hv "X-$v-Delivery" "$d"; done | sort -u | wc -l)"
	local sig
	sig=$(openssl dgst -sha256 -hmac s3 <"$d/body" | sed 's/^.*= *//')
	say gitea-sig "$([ "$(hv X-Gitea-Signature "$d")" = "$sig" ] && echo hmac-sha256-of-body)"
	say gogs-sig "$([ "$(hv X-Gogs-Signature "$d")" = "$sig" ] && echo hmac-sha256-of-body)"
	say hub-256 "$([ "$(hv X-Hub-Signature-256 "$d")" = "sha256=$sig" ] && echo sha256=hmac)"
	say hub-1 "$([ "$(hv X-Hub-Signature "$d")" = "sha1=$(openssl dgst -sha1 -hmac s3 <"$d/body" | sed 's/^.*= *//')" ] && echo sha1=hmac)"
	say body-start "$(head -c 12 "$d/body" | od -An -c | tr -s ' ')"
	say body-end "$(tail -c 2 "$d/body" | od -An -c | tr -s ' ')"
	say body "$(jq -c --arg c "$SHA" '{ref, before: (.before | length), after: (.after == $c), tc: .total_commits,
		hc: (.head_commit.id == $c), cu: (.repository.clone_url | test("/'"$R"'[.]git$")), fn: .repository.full_name,
		s: .sender.login, p: .pusher.login, top: keys}' "$d/body")"
}

# hv NAME DIR: a header's value in DIR/headers.
hv() { grep -i -E "^$1(:|;)" "$2/headers" | head -n1 | sed -E 's/^[^:;]*[:;] ?//'; }

# ---- the tests

@test "gitea: 201, content type, the state under status, trimmed fields" { both p_post; }
@test "gitea: auth forms" { both p_auth; }
@test "gitea: 401, 403, 404, the states" { both p_errors; }
@test "gitea: list newest first, X-Total-Count, combined status" { both p_list; }

@test "gitea push delivery: the one Gitea sent and the one test/emu/webhook.py makes" {
	local r=$BATS_TEST_TMPDIR/real e=$BATS_TEST_TMPDIR/emu w=$BATS_TEST_TMPDIR/w id i
	emu_start forge
	emu_fault "$FORGE_URL" '{"path":"^/hook","status":200,"body":"ok"}'
	gitea_hook "$R" "$FORGE_URL/hook" s3
	git -C "$w" -c user.name=ada -c user.email=ada@example.org commit -q --allow-empty -m two
	SHA=$(gitea_push "$w" main)
	# The delivery of this push: Gitea's push queue may still deliver the
	# repository's first push to the new hook, before or after it.
	local mine="map(select(.path == \"/hook\" and (.body_b64 | @base64d | contains(\"$SHA\"))))"
	for ((i = 0; i < 200; i++)); do
		[ "$(emu_requests "$FORGE_URL" "$mine | length")" -ge 1 ] && break
		sleep 0.1
	done
	for ((i = 0; i < 100; i++)); do
		id=$(gitea_delivery "$r" "\"after\": \"$SHA\"" 2>/dev/null) && [ -n "$id" ] && break
		sleep 0.1
	done
	[ -n "$id" ]
	emu_requests "$FORGE_URL" "$mine[0]" >"$r/wire"
	emu_fault "$FORGE_URL" '{"path":"^/emu-hook","status":200,"body":"ok"}'
	python3 "$TOP/test/emu/webhook.py" send --url "$FORGE_URL/emu-hook" --forge gitea --event push \
		--secret s3 --repo-url "$GITEA_URL/$GITEA_USER/$R.git" --branch main --commit "$SHA" \
		--delivery "$id" --sender "$GITEA_USER" --out "$e" >/dev/null
	emu_requests "$FORGE_URL" 'map(select(.path == "/emu-hook"))[0] | .path = "/hook"' >"$e/wire"
	p_delivery "$e" >"$BATS_TEST_TMPDIR/emu.out"
	p_delivery "$r" >"$BATS_TEST_TMPDIR/real.out"
	diff -u --label webhook.py --label "real gitea" "$BATS_TEST_TMPDIR/emu.out" "$BATS_TEST_TMPDIR/real.out"
}
