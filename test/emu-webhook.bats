#!/usr/bin/env bats
# Conformance of test/emu/webhook.py with shared/api/consul-and-forges.md §B, §D.

load helpers

WH() { python3 "$TOP/test/emu/webhook.py" "$@"; }

# hmac ALGO KEY FILE: lowercase hex HMAC computed by openssl.
hmac() {
	openssl dgst "-$1" -hmac "$2" <"$3" | sed 's/^.*= *//'
}

# h NAME DIR: value of a header in DIR/headers ("" for `Name;` lines).
h() {
	grep -i -E "^$1(:|;)" "$2/headers" | head -n1 | sed -E "s/^[^:;]*[:;] ?//"
}

@test "vector: the documented GitHub and Gitea HMACs, checked against openssl" {
	run WH vector
	assert_success
	assert_line 'github-sha256 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
	assert_line 'github-sha1 01dc10d0c83e72ed246219cdd91669667fe2ca59'
	assert_line 'gitea-sha256 985c7343cd6b9f88995eeb81d951a779bf2ac4d18c73f642dda549eca76b0a1d'
	assert_line 'gitea-sha1 f336beb4c1abc149923a1afa5de7cd4629e5895e'
	assert_line 'gitea-form-body-bytes 129'
	assert_line 'gitea-form-body-sha256 68f3c4ba3c2b4db3e0f3e9be521deed764551cafb3011ad89bdfa83830c08180'
	printf 'Hello, World!' >"$BATS_TEST_TMPDIR/m"
	run hmac sha256 "It's a Secret to Everybody" "$BATS_TEST_TMPDIR/m"
	assert_output 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
	printf '{\n  "ref": "refs/heads/main",\n  "after": "0123456789abcdef0123456789abcdef01234567"\n}' >"$BATS_TEST_TMPDIR/g"
	run hmac sha256 albatros-test-secret "$BATS_TEST_TMPDIR/g"
	assert_output 985c7343cd6b9f88995eeb81d951a779bf2ac4d18c73f642dda549eca76b0a1d
}

@test "gitea push: pretty 2-space JSON without trailing newline, all header triplets, valid HMACs" {
	D=$BATS_TEST_TMPDIR/d
	run WH gen --forge gitea --event push --secret s3 --repo-url https://git.example.org/acme/widget.git \
		--branch dev --commit 4444444444444444444444444444444444444444 --delivery 11111111-2222-4333-8444-555555555555 --out "$D"
	assert_success
	assert_output 11111111-2222-4333-8444-555555555555
	run head -c 21 "$D/body"
	assert_output $'{\n  "ref": "refs/head'
	[ "$(tail -c 1 "$D/body" | od -An -c | tr -d ' ')" = "}" ]
	run jq -c '{ref, before: (.before|length), after, tc: .total_commits, hc: .head_commit.id, cu: .repository.clone_url, fn: .repository.full_name, s: .sender.login, p: .pusher.login}' "$D/body"
	assert_output '{"ref":"refs/heads/dev","before":40,"after":"4444444444444444444444444444444444444444","tc":1,"hc":"4444444444444444444444444444444444444444","cu":"https://git.example.org/acme/widget.git","fn":"acme/widget","s":"ada","p":"ada"}'
	sig=$(hmac sha256 s3 "$D/body")
	[ "$(h X-Gitea-Signature "$D")" = "$sig" ]
	[ "$(h X-Gogs-Signature "$D")" = "$sig" ]
	[ "$(h X-Hub-Signature-256 "$D")" = "sha256=$sig" ]
	[ "$(h X-Hub-Signature "$D")" = "sha1=$(hmac sha1 s3 "$D/body")" ]
	for p in Gitea Gogs GitHub; do
		grep -q "^X-$p-Delivery: 11111111-2222-4333-8444-555555555555$" "$D/headers"
		grep -q "^X-$p-Event: push$" "$D/headers"
		grep -q "^X-$p-Event-Type: push$" "$D/headers"
	done
	grep -q '^X-Gitea-Hook-Installation-Target-Type: repository$' "$D/headers"
	grep -q '^X-GitHub-Hook-Installation-Target-Type: repository$' "$D/headers"
	grep -q '^Content-Type: application/json$' "$D/headers"
	run grep -c Forgejo "$D/headers"
	assert_output 0
}

@test "gitea form mode: body is payload=quote_plus(json), signatures over the JSON not the body" {
	D=$BATS_TEST_TMPDIR/d
	WH gen --forge gitea --event push --secret s3 --form --out "$D" >/dev/null
	grep -q '^Content-Type: application/x-www-form-urlencoded$' "$D/headers"
	run head -c 8 "$D/body"
	assert_output 'payload='
	python3 -c 'import sys,urllib.parse; b=open(sys.argv[1],"rb").read().decode(); sys.stdout.write(urllib.parse.unquote_plus(b[len("payload="):]))' "$D/body" >"$BATS_TEST_TMPDIR/inner"
	cmp "$BATS_TEST_TMPDIR/inner" "$D/json"
	[ "$(h X-Gitea-Signature "$D")" = "$(hmac sha256 s3 "$D/json")" ]
	[ "$(h X-Gitea-Signature "$D")" != "$(hmac sha256 s3 "$D/body")" ]
	[ "$(h X-Hub-Signature-256 "$D")" = "sha256=$(hmac sha256 s3 "$D/json")" ]
}

@test "empty secret: empty X-Gitea-Signature and prefix-only sha1=/sha256=; curl sends them" {
	D=$BATS_TEST_TMPDIR/d
	WH gen --forge gitea --event push --out "$D" >/dev/null
	grep -q '^X-Gitea-Signature;$' "$D/headers"
	grep -q '^X-Hub-Signature: sha1=$' "$D/headers"
	grep -q '^X-Hub-Signature-256: sha256=$' "$D/headers"
	emu_start forge
	emu_fault "$FORGE_URL" '{"path":"^/hook","status":200,"body":"ok"}'
	run curl -sS -H @"$D/headers" --data-binary @"$D/body" "$FORGE_URL/hook"
	assert_output ok
	run emu_requests "$FORGE_URL" '.[0].headers | map(select(.[0] == "X-Gitea-Signature" or .[0] == "X-Hub-Signature-256"))'
	assert_output '[["X-Gitea-Signature",""],["X-Hub-Signature-256","sha256="]]'
	run emu_requests "$FORGE_URL" '.[0].headers | map(select(.[0] == "User-Agent")) | .[0][1]'
	assert_output '"Go-http-client/1.1"'
	[ "$(curl -sS "$FORGE_URL/_emu/requests" | jq -r '.[0].body_b64' | base64 -d | sha256sum)" = "$(sha256sum <"$D/body")" ]
}

@test "forgejo adds X-Forgejo-* with the same values" {
	D=$BATS_TEST_TMPDIR/d
	WH gen --forge forgejo --event pr-opened --secret k --out "$D" >/dev/null
	sig=$(hmac sha256 k "$D/body")
	[ "$(h X-Forgejo-Signature "$D")" = "$sig" ]
	[ "$(h X-Gitea-Signature "$D")" = "$sig" ]
	[ "$(h X-Forgejo-Event "$D")" = pull_request ]
	[ "$(h X-Forgejo-Event-Type "$D")" = pull_request ]
	[ "$(h X-Forgejo-Delivery "$D")" = "$(h X-Gitea-Delivery "$D")" ]
}

@test "github: Hookshot headers, minified body, sha256 over the raw body (form too), none without secret" {
	D=$BATS_TEST_TMPDIR/d
	WH gen --forge github --event push --secret k --out "$D" >/dev/null
	[ "$(h X-GitHub-Event "$D")" = push ]
	h X-GitHub-Delivery "$D" | grep -Eq '^[0-9a-f-]{36}$'
	h X-GitHub-Hook-ID "$D" | grep -Eq '^[0-9]+$'
	h User-Agent "$D" | grep -q '^GitHub-Hookshot/'
	[ "$(h X-Hub-Signature-256 "$D")" = "sha256=$(hmac sha256 k "$D/body")" ]
	run grep -c X-Gitea "$D/headers"
	assert_output 0
	[ "$(wc -l <"$D/body")" -eq 0 ]
	WH gen --forge github --event push --secret k --form --out "$D" >/dev/null
	[ "$(h X-Hub-Signature-256 "$D")" = "sha256=$(hmac sha256 k "$D/body")" ]
	[ "$(h X-Hub-Signature-256 "$D")" != "sha256=$(hmac sha256 k "$D/json")" ]
	WH gen --forge github --event push --out "$D" >/dev/null
	run grep -c X-Hub-Signature "$D/headers"
	assert_output 0
}

@test "deletions and test deliveries: gitea delete event only, github push deleted:true" {
	D=$BATS_TEST_TMPDIR/d
	Z=0000000000000000000000000000000000000000
	WH gen --forge gitea --event branch-delete --branch feature --out "$D" >/dev/null
	[ "$(h X-Gitea-Event "$D")" = delete ]
	run jq -c '{ref, ref_type, pusher_type, after}' "$D/body"
	assert_output '{"ref":"feature","ref_type":"branch","pusher_type":"user","after":null}'
	WH gen --forge github --event branch-delete --branch feature --out "$D" >/dev/null
	[ "$(h X-GitHub-Event "$D")" = push ]
	run jq -c '{ref, deleted, after, head_commit, commits}' "$D/body"
	assert_output "{\"ref\":\"refs/heads/feature\",\"deleted\":true,\"after\":\"$Z\",\"head_commit\":null,\"commits\":[]}"
	WH gen --forge gitea --event tag-delete --tag v2 --out "$D" >/dev/null
	run jq -c '{ref, after, head_commit}' "$D/body"
	assert_output "{\"ref\":\"refs/tags/v2\",\"after\":\"$Z\",\"head_commit\":null}"
	WH gen --forge gitea --event tag --tag v2 --commit 5555555555555555555555555555555555555555 --out "$D" >/dev/null
	run jq -c '{ref, before, commits, hc: .head_commit.id}' "$D/body"
	assert_output "{\"ref\":\"refs/tags/v2\",\"before\":\"$Z\",\"commits\":[],\"hc\":\"5555555555555555555555555555555555555555\"}"
	WH gen --forge gitea --event test-delivery --out "$D" >/dev/null
	run jq -c '{ref, before, after, m: .head_commit.message}' "$D/body"
	assert_output "{\"ref\":\"refs/heads/main\",\"before\":\"$Z\",\"after\":\"$Z\",\"m\":\"This is a fake commit for webhook push test\"}"
	WH gen --forge gitea --event test-delivery --sha256 --out "$D" >/dev/null
	run jq -r '.after, .repository.object_format_name' "$D/body"
	assert_output "$(printf '0%.0s' $(seq 64))"$'\nsha256'
	WH gen --forge github --event test-delivery --out "$D" >/dev/null
	[ "$(h X-GitHub-Event "$D")" = ping ]
	run WH gen --forge gitea --event ping --out "$D"
	assert_failure 2
}

@test "pull requests: gitea synchronized/pull_request_sync, github synchronize, labels, forks" {
	D=$BATS_TEST_TMPDIR/d
	WH gen --forge gitea --event pr-synchronized --branch speedup --commit 4444444444444444444444444444444444444444 --out "$D" >/dev/null
	[ "$(h X-Gitea-Event "$D")" = pull_request ]
	[ "$(h X-Gitea-Event-Type "$D")" = pull_request_sync ]
	run jq -c '{action, number, hl: .pull_request.head.label, hs: .pull_request.head.sha, bl: .pull_request.base.label, same: (.pull_request.head.repo_id == .pull_request.base.repo_id), fork: .pull_request.head.repo.fork}' "$D/body"
	assert_output '{"action":"synchronized","number":12,"hl":"speedup","hs":"4444444444444444444444444444444444444444","bl":"main","same":true,"fork":false}'
	WH gen --forge gitea --event pr-opened --fork --sender bob --out "$D" >/dev/null
	[ "$(h X-Gitea-Event-Type "$D")" = pull_request ]
	run jq -c '{action, hr: .pull_request.head.repo.full_name, cu: .pull_request.head.repo.clone_url, fork: .pull_request.head.repo.fork, parent: .pull_request.head.repo.parent.full_name, base: .repository.clone_url, s: .sender.login}' "$D/body"
	assert_output '{"action":"opened","hr":"bob/widget","cu":"https://git.example.org/bob/widget.git","fork":true,"parent":"acme/widget","base":"https://git.example.org/acme/widget.git","s":"bob"}'
	WH gen --forge gitea --event pr-closed --merged --out "$D" >/dev/null
	run jq -c '{action, state: .pull_request.state, merged: .pull_request.merged}' "$D/body"
	assert_output '{"action":"closed","state":"closed","merged":true}'
	WH gen --forge github --event pr-synchronized --branch speedup --out "$D" >/dev/null
	[ "$(h X-GitHub-Event "$D")" = pull_request ]
	run jq -c '{action, hl: .pull_request.head.label, fork: .pull_request.head.repo.fork}' "$D/body"
	assert_output '{"action":"synchronize","hl":"acme:speedup","fork":false}'
	WH gen --forge github --event pr-reopened --fork --sender eve --out "$D" >/dev/null
	run jq -c '{action, hl: .pull_request.head.label, hr: .pull_request.head.repo.full_name, fork: .pull_request.head.repo.fork, cu: .pull_request.head.repo.clone_url}' "$D/body"
	assert_output '{"action":"reopened","hl":"eve:feature","hr":"eve/widget","fork":true,"cu":"https://github.com/eve/widget.git"}'
	WH gen --forge github --event issue-comment --out "$D" >/dev/null
	[ "$(h X-GitHub-Event "$D")" = issue_comment ]
	WH gen --forge gitea --event pr-edited --out "$D" >/dev/null
	run jq -r '.changes.title.from' "$D/body"
	assert_output --partial 'Speed up'
}

@test "send: delivers the exact bytes with exact header casing and prints status and body" {
	emu_start forge
	emu_fault "$FORGE_URL" '{"path":"^/hook","status":202,"body":"queued"}'
	D=$BATS_TEST_TMPDIR/d
	run WH send --url "$FORGE_URL/hook" --forge gitea --event push --secret k --authorization 'Bearer xyz' --out "$D"
	assert_success
	assert_output '202 queued'
	run sh -c "curl -sS '$FORGE_URL/_emu/requests' | jq -r '.[0].headers[] | select(.[0] | test(\"^X-GitHub-|^Authorization\")) | .[0] + \"=\" + .[1]'"
	assert_line --regexp '^X-GitHub-Event=push$'
	assert_line 'Authorization=Bearer xyz'
	[ "$(curl -sS "$FORGE_URL/_emu/requests" | jq -r '.[0].body_b64' | base64 -d | sha256sum)" = "$(sha256sum <"$D/body")" ]
	emu_fault "$FORGE_URL" '{"path":"^/bad","status":403,"body":"no"}'
	run WH send --url "$FORGE_URL/bad" --forge github --event ping
	assert_failure 1
	assert_output '403 no'
	run WH send --url "http://127.0.0.1:1/x" --forge github --event ping
	assert_failure 2
}
