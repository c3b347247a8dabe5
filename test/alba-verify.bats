#!/usr/bin/env bats
# alba-verify: authentication (token, HMAC), event normalization, trust,
# validation of what goes to Nomad, and the `when` filter.  Documents are
# built from real-shaped deliveries (test/emu/webhook.py gen); no emulator.

load helpers

SECRET='hmac-k3y-do-not-leak'
TOKEN='t0ken-do-not-leak'
DELIVERY='9f3e9fcd-ae78-47f9-b20e-39a10e43910c'
SHA=c2196401fb0568d1459b3ad8935b3ee4db1aaa99

setup() {
	W=$BATS_TEST_TMPDIR
}

# gen NAME ARGS...: a delivery in $W/NAME (body, headers, json), generated
# once per file for each distinct ARGS.
gen() {
	local name=$1 key
	shift
	key=$(printf '%s\n' "$@" | md5sum | cut -c1-16)
	if [ ! -d "$BATS_FILE_TMPDIR/gen/$key" ]; then
		python3 "$TOP/test/emu/webhook.py" gen --delivery "$DELIVERY" \
			--out "$BATS_FILE_TMPDIR/gen/$key" "$@" >/dev/null
	fi
	rm -rf "${W:?}/$name"
	cp -r "$BATS_FILE_TMPDIR/gen/$key" "$W/$name"
}

# The request alba-http writes from $hdrs (the headers file: names
# lower-cased, a `Name;` line is an empty header) and $body.
REQ='{method: "POST", path: "/hook", query: $query,
  headers: ($hdrs | split("\n") | map(select(length > 0)) |
    map(if test("^[^:]*;$") then {key: (.[:-1] | ascii_downcase), value: ""}
        else (index(": ") as $i | {key: (.[:$i] | ascii_downcase), value: .[$i + 2:]})
        end) | from_entries),
  body: $body, remote_addr: "127.0.0.1"}'

# doc NAME [QUERY] [CONFIG]: the document alba-http and alba-config would
# have written for the delivery in $W/NAME.
doc() {
	local dir=$W/$1 query=${2:-'{}'} config=${3:-'{"hook":{"secret":"'$SECRET'"},"trusted":{"senders":["ada"]}}'}
	jq -n --rawfile body "$dir/body" --rawfile hdrs "$dir/headers" \
		--argjson query "$query" --argjson config "$config" \
		"{request: $REQ, config: (\$config + {consul_key: \"albatros/x\"})}"
}

# tokdoc NAME [JQ-ON-PAYLOAD]: a token-authenticated document whose payload
# is $W/NAME/json passed through the jq filter, compact, signatures dropped.
tokdoc() {
	local dir=$W/$1 f=${2:-.}
	jq -n --slurpfile p "$dir/json" --rawfile hdrs "$dir/headers" \
		--argjson query '{"token":"'$TOKEN'"}' "
	(\$p[0] | $f | tojson) as \$body |
	{request: ($REQ | .headers |= with_entries(select(.key | test(\"signature\") | not))),
	 config: {hook: {token: \"$TOKEN\"}, trusted: {senders: [\"ada\"]}, consul_key: \"albatros/x\"}}"
}

hmac() {
	openssl dgst -sha256 -hmac "$1" -r "$2" | cut -d' ' -f1
}

# verify DOC: run alba-verify on DOC; sets status, output, stderr.
verify() {
	printf '%s\n' "$1" >"$W/in.json"
	run --separate-stderr alba-verify <"$W/in.json"
}

# refused MESSAGE: a 403 with MESSAGE, nothing secret in what is shown.
refused() {
	assert_equal "$status" 1
	assert_equal "$stderr" "alba-verify: fatal: $1"
	assert_equal "$(jq -c .error <<<"$output")" "$(jq -nc --arg m "$1" '{status:403,code:"forbidden",message:$m}')"
	assert_equal "$(jq -c 'has("event"), has("build")' <<<"$output" | tr '\n' ' ')" "false false "
	local shown
	shown=$(jq -c 'del(.config, .request)' <<<"$output")$stderr
	for s in "$SECRET" "$TOKEN" "${@:2}"; do
		if [[ "$shown" == *"$s"* ]]; then
			echo "leaked: $s"
			return 1
		fi
	done
}

ignored() {
	assert_equal "$status" 0
	assert_equal "$stderr" "alba-verify: info: $1"
	assert_equal "$(jq -c .error <<<"$output")" "$(jq -nc --arg m "$1" '{status:202,code:"ignored",message:$m}')"
	assert_equal "$(jq 'has("build")' <<<"$output")" false
}

bad() {
	assert_equal "$status" 100
	assert_equal "$stderr" "alba-verify: fatal: $1"
	assert_equal "$(jq -c .error <<<"$output")" "$(jq -nc --arg m "$1" '{status:400,code:"bad_request",message:$m}')"
	assert_equal "$(jq 'has("build")' <<<"$output")" false
}

# ---- usage, pass-through, linking

@test "usage: -? and operands print the usage and exit 100" {
	run -100 --separate-stderr alba-verify -'?'
	assert_equal "$stderr" "usage: alba-verify [-m maxbytes]"
	assert_equal "$output" ""
	run -100 --separate-stderr alba-verify extra
	assert_equal "$stderr" "usage: alba-verify [-m maxbytes]"
	run -100 --separate-stderr alba-verify -m 12q
}

@test "a document carrying .error passes through unchanged" {
	in='{"request":{"query":{}},"error":{"status":404,"code":"not_found","message":"no such repository"},"x":[1,{"b":2}]}'
	run -1 --separate-stderr alba-verify <<<"$in"
	assert_equal "$output" "$(jq -c . <<<"$in")"
	assert_equal "$stderr" ""
}

@test "a document without config is malformed (400)" {
	run -100 --separate-stderr alba-verify <<<'{"request":{"body":""}}'
	assert_equal "$stderr" "alba-verify: fatal: the document has no config object (alba-config writes it)"
	assert_equal "$(jq -c .error.code <<<"$output")" '"bad_document"'
}

@test "bin/alba-verify does not link libcurl" {
	for b in "$TOP/bin/alba-verify" "$ALBA_BIN/alba-verify"; do
		[ "$(head -c 4 "$b" | tail -c 3)" = ELF ] || continue	# valgrind's wrapper
		run -0 ldd "$b"
		refute_output --partial libcurl
		assert_output --partial libjq
	done
}

# ---- signatures

@test "gitea push, signed: the exact .build and .event" {
	gen g --forge gitea --event push --secret "$SECRET"
	verify "$(doc g)"
	assert_equal "$status" 0
	assert_equal "$stderr" ""
	assert_equal "$(jq -c .build <<<"$output")" '{"repo_url":"https://git.example.org/acme/widget.git","commit":"'$SHA'","branch":"main","flavor":"default","sender":"ada","trusted":true,"delivery":"'$DELIVERY'"}'
	assert_equal "$(jq -c .event <<<"$output")" '{"forge":"gitea","type":"push","action":null,"delivery":"'$DELIVERY'","repo":{"clone_url":"https://git.example.org/acme/widget.git","full_name":"acme/widget","html_url":"https://git.example.org/acme/widget","owner":"acme","name":"widget"},"ref":"refs/heads/main","commit":"'$SHA'","branch":"main","sender":"ada"}'
	# every other member passes through unchanged
	assert_equal "$(jq -c 'del(.event, .build)' <<<"$output")" "$(doc g | jq -c .)"
}

@test "forgejo and github pushes, signed, are accepted" {
	gen f --forge forgejo --event push --secret "$SECRET"
	verify "$(doc f)"
	assert_equal "$status" 0
	assert_equal "$(jq -r '.event.forge + " " + .build.commit + " " + .build.branch' <<<"$output")" "forgejo $SHA main"
	gen h --forge github --event push --secret "$SECRET"
	verify "$(doc h)"
	assert_equal "$status" 0
	assert_equal "$(jq -r '.event.forge + " " + .build.repo_url + " " + .build.commit' <<<"$output")" "github https://github.com/acme/widget.git $SHA"
}

@test "gitea form delivery: the signature over the JSON inside payload= is accepted" {
	gen g --forge gitea --event push --secret "$SECRET" --form
	run -0 head -c 8 "$W/g/body"
	assert_output "payload="
	verify "$(doc g)"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.commit <<<"$output")" "$SHA"
}

@test "form delivery: payload= after another field is found; a bad escape in it is refused" {
	gen g --forge gitea --event push --secret "$SECRET" --form
	{ printf 'hook_id=7&'; cat "$W/g/body"; } >"$W/g/body2"
	mv "$W/g/body2" "$W/g/body"
	verify "$(doc g)"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.commit <<<"$output")" "$SHA"
	tail -c 3 "$W/g/body" | grep -qx '%7D'
	sed -i 's/%7D$/%ZZ/' "$W/g/body"
	verify "$(doc g)"
	assert_equal "$status" 100
	assert_equal "$stderr" "alba-verify: fatal: malformed form body: a bad %-escape in payload="
	# A NUL is refused when it is decoded, not left to cut the JSON.
	sed -i 's/%ZZ$/%00%7D/' "$W/g/body"
	verify "$(doc g)"
	assert_equal "$status" 100
	assert_equal "$stderr" "alba-verify: fatal: malformed form body: a bad %-escape in payload="
}

@test "gitea form delivery: a signature over the form body is refused" {
	gen g --forge gitea --event push --secret "$SECRET" --form
	sig=$(hmac "$SECRET" "$W/g/body")
	sed -i "s/^\(X-Gitea-Signature\): .*/\1: $sig/" "$W/g/headers"
	verify "$(doc g)"
	refused "bad signature in X-Gitea-Signature" "$sig" "$(hmac "$SECRET" "$W/g/json")"
}

@test "github form delivery: the signature is over the raw body" {
	gen h --forge github --event push --secret "$SECRET" --form
	assert_equal "$(grep -i x-hub-signature-256 "$W/h/headers")" "X-Hub-Signature-256: sha256=$(hmac "$SECRET" "$W/h/body")"
	verify "$(doc h)"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.commit <<<"$output")" "$SHA"
}

@test "upper-case hex signatures are accepted" {
	gen g --forge gitea --event push --secret "$SECRET"
	sig=$(hmac "$SECRET" "$W/g/json" | tr a-f A-F)
	sed -i "s/^\(X-Gitea-Signature\): .*/\1: $sig/" "$W/g/headers"
	verify "$(doc g)"
	assert_equal "$status" 0
}

@test "a wrong signature is refused (403, exit 1) and never shown" {
	gen g --forge gitea --event push --secret "other-secret"
	got=$(grep '^X-Gitea-Signature:' "$W/g/headers" | cut -d' ' -f2)
	verify "$(doc g)"
	refused "bad signature in X-Gitea-Signature" "$got" "$(hmac "$SECRET" "$W/g/json")"
}

@test "a bad preferred signature header is not rescued by a good other one" {
	gen f --forge forgejo --event push --secret "$SECRET"
	sed -i 's/^\(X-Forgejo-Signature\): .*/\1: '"$(printf '0%.0s' {1..64})"'/' "$W/f/headers"
	verify "$(doc f)"
	refused "bad signature in X-Forgejo-Signature"
	# the same for Gitea's header over GitHub's
	gen g --forge gitea --event push --secret "$SECRET"
	sed -i 's/^\(X-Gitea-Signature\): .*/\1: deadbeef/' "$W/g/headers"
	verify "$(doc g)"
	refused "bad signature in X-Gitea-Signature"
}

@test "a missing signature is refused while a secret is configured" {
	gen h --forge github --event push
	run -1 grep -ci signature "$W/h/headers"
	verify "$(doc h)"
	refused "unsigned request: hook.secret is set and there is no X-Forgejo-Signature, X-Gitea-Signature or X-Hub-Signature-256"
}

@test "empty signature headers are unsigned, never a match" {
	gen g --forge gitea --event push
	assert_equal "$(grep -c '^X-Gitea-Signature;$' "$W/g/headers")" 1
	verify "$(doc g)"
	refused "unsigned request: hook.secret is set and X-Gitea-Signature is empty"
	# only sha256= left, as Gitea sends it without a secret
	grep -v -e '^X-Gitea-Signature' -e '^X-Gogs' "$W/g/headers" >"$W/g/h2"
	mv "$W/g/h2" "$W/g/headers"
	assert_equal "$(grep -c '^X-Hub-Signature-256: sha256=$' "$W/g/headers")" 1
	verify "$(doc g)"
	refused "unsigned request: hook.secret is set and X-Hub-Signature-256 is empty"
	# an empty secret would sign with the empty key: still refused
	verify "$(doc g '{}' '{"hook":{"secret":"'$SECRET'"}}')"
	refused "unsigned request: hook.secret is set and X-Hub-Signature-256 is empty"
}

@test "a signature without its sha256= prefix is refused" {
	gen h --forge github --event push --secret "$SECRET"
	sed -i 's/^\(X-Hub-Signature-256\): sha256=/\1: /' "$W/h/headers"
	verify "$(doc h)"
	refused "bad signature in X-Hub-Signature-256"
}

# ---- tokens

@test "neither hook.token nor hook.secret: every request is refused" {
	gen g --forge gitea --event push --secret "$SECRET"
	verify "$(doc g '{"token":"x"}' '{"hook":{},"trusted":{"senders":["ada"]}}')"
	refused "repository has no hook.token or hook.secret: every request is refused"
	verify "$(doc g '{}' '{"hook":{"token":"","secret":""}}')"
	refused "repository has no hook.token or hook.secret: every request is refused"
	verify "$(doc g '{}' '{"gitea":{"url":"x"}}')"
	refused "repository has no hook.token or hook.secret: every request is refused"
}

@test "the token: ?token= or Authorization: Bearer; a wrong one is refused" {
	gen g --forge gitea --event push
	cfg='{"hook":{"token":"'$TOKEN'"}}'
	verify "$(doc g '{"token":"'$TOKEN'"}' "$cfg")"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.trusted <<<"$output")" false
	verify "$(doc g '{"token":"'$TOKEN'x"}' "$cfg")"
	refused "bad token" "${TOKEN}x"
	verify "$(doc g '{"token":""}' "$cfg")"
	refused "bad token"
	verify "$(doc g '{}' "$cfg")"
	refused "missing token: hook.token is set; pass ?token= or Authorization: Bearer"
	gen b --forge gitea --event push --authorization "Bearer $TOKEN"
	assert_equal "$(grep -c "^Authorization: Bearer $TOKEN\$" "$W/b/headers")" 1
	verify "$(doc b '{}' "$cfg")"
	assert_equal "$status" 0
	sed -i 's/^Authorization: .*/Authorization: bearer nope/' "$W/b/headers"
	verify "$(doc b '{}' "$cfg")"
	refused "bad token" nope
	# both presented: both must match
	sed -i "s/^Authorization: .*/Authorization: Bearer $TOKEN/" "$W/b/headers"
	verify "$(doc b '{"token":"nope"}' "$cfg")"
	refused "bad token" nope
	# another scheme is not a token
	sed -i "s/^Authorization: .*/Authorization: Basic $TOKEN/" "$W/b/headers"
	verify "$(doc b '{}' "$cfg")"
	refused "missing token: hook.token is set; pass ?token= or Authorization: Bearer"
}

@test "token and secret both configured: both are required" {
	cfg='{"hook":{"token":"'$TOKEN'","secret":"'$SECRET'"}}'
	gen g --forge gitea --event push --secret "$SECRET"
	verify "$(doc g '{"token":"'$TOKEN'"}' "$cfg")"
	assert_equal "$status" 0
	verify "$(doc g '{}' "$cfg")"
	refused "missing token: hook.token is set; pass ?token= or Authorization: Bearer"
	gen u --forge gitea --event push
	verify "$(doc u '{"token":"'$TOKEN'"}' "$cfg")"
	refused "unsigned request: hook.secret is set and X-Gitea-Signature is empty"
}

@test "the original's curl -d form (no forge header) is read as a Gitea push" {
	mkdir "$W/c"
	tr -d '\r\n' <"$TOP/test/fixtures/webhooks/gitea/push.json" >"$W/c/body"
	printf '%s\n' 'Host: ci:8080' 'User-Agent: curl/7.88.1' 'Accept: */*' \
		'Content-Type: application/x-www-form-urlencoded' >"$W/c/headers"
	verify "$(doc c '{"token":"s3cr3t","flavor":"default"}' '{"hook":{"token":"s3cr3t"},"trusted":{"senders":["unknwon"]}}')"
	assert_equal "$status" 0
	assert_equal "$stderr" ""
	assert_equal "$(jq -c .build <<<"$output")" '{"repo_url":"http://try.gitea.io/gogits/hello-world.git","commit":"4522cbcefc20728a5b72b3a86af35e608622c514","branch":"master","flavor":"default","sender":"unknwon","trusted":true,"delivery":null}'
	assert_equal "$(jq -c '[.event.forge, .event.type, .event.repo.full_name]' <<<"$output")" '["gitea","push","gogits/hello-world"]'
}

# ---- events

@test "a tag push builds the tag: branch is the tag name, commit head_commit.id" {
	gen t --forge gitea --event tag
	# an annotated tag: after is the tag object, head_commit the commit
	verify "$(tokdoc t '.after = "1111111111111111111111111111111111111111"')"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.type, .event.ref, .build.branch, .build.commit]' <<<"$output")" '["tag","refs/tags/v1.0.0","v1.0.0","'$SHA'"]'
	gen h --forge github --event tag
	verify "$(tokdoc h)"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.forge, .event.type, .build.branch, .build.commit]' <<<"$output")" '["github","tag","v1.0.0","'$SHA'"]'
}

@test "deletions, test deliveries, ping, create are ignored (202, exit 0)" {
	gen a --forge gitea --event branch-delete
	verify "$(tokdoc a)"
	ignored "delete event: nothing to build (the push event builds)"
	assert_equal "$(jq -c '[.event.type, .event.sender]' <<<"$output")" '["delete","ada"]'
	gen b --forge gitea --event tag-delete
	verify "$(tokdoc b)"
	ignored "tag v1.0.0 deleted: nothing to build"
	gen c --forge github --event branch-delete
	verify "$(tokdoc c)"
	ignored "branch main deleted: nothing to build"
	gen d --forge github --event push
	verify "$(tokdoc d '.deleted = true')"
	ignored "branch main deleted: nothing to build"
	gen e --forge gitea --event test-delivery
	verify "$(tokdoc e)"
	ignored "test delivery (zero commit): nothing to build"
	gen f --forge github --event ping
	verify "$(tokdoc f)"
	ignored "ping: nothing to build"
	mkdir "$W/g"
	cp "$TOP/test/fixtures/webhooks/gitea/branch_create.json" "$W/g/json"
	printf '%s\n' 'Content-Type: application/json' 'X-Gitea-Event: create' >"$W/g/headers"
	verify "$(tokdoc g)"
	ignored "create event: nothing to build (the push event builds)"
}

@test "event types that build nothing are ignored: issue_comment, release" {
	gen a --forge gitea --event issue-comment
	verify "$(tokdoc a)"
	ignored "issue_comment event: nothing to build"
	gen b --forge forgejo --event push
	sed -i 's/^\(X-[A-Za-z]*-Event\(-Type\)\?\): push$/\1: release/' "$W/b/headers"
	verify "$(tokdoc b '{action: "published", release: {tag_name: "v1"}, repository, sender}')"
	ignored "release event: nothing to build"
	assert_equal "$(jq -c '[.event.forge, .event.type, .event.action]' <<<"$output")" '["forgejo","release","published"]'
	gen c --forge github --event push
	sed -i 's/^X-GitHub-Event: push$/X-GitHub-Event: $(evil)\x01/' "$W/c/headers"
	verify "$(tokdoc c)"
	ignored '$(evil)? event: nothing to build'
}

@test "a push to a ref that is neither a branch nor a tag is ignored" {
	gen a --forge gitea --event push
	verify "$(tokdoc a '.ref = "refs/notes/commits"')"
	ignored "push to refs/notes/commits: neither a branch nor a tag"
}

@test "pull requests: opened and synchronized build the head commit" {
	gen a --forge gitea --event pr-opened --branch feature --commit 4444444444444444444444444444444444444444
	verify "$(tokdoc a)"
	assert_equal "$status" 0
	assert_equal "$(jq -c .build <<<"$output")" '{"repo_url":"https://git.example.org/acme/widget.git","commit":"4444444444444444444444444444444444444444","branch":"feature","flavor":"default","sender":"ada","trusted":true,"delivery":"'$DELIVERY'"}'
	assert_equal "$(jq -c '.event | [.type, .action, .number, .head, .base, .fork]' <<<"$output")" '["pull_request","opened",12,{"repo_url":"https://git.example.org/acme/widget.git","full_name":"acme/widget","ref":"feature","sha":"4444444444444444444444444444444444444444"},{"ref":"main","full_name":"acme/widget"},false]'
	gen b --forge gitea --event pr-synchronized --secret "$SECRET"
	verify "$(doc b)"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.action, .build.commit, .build.branch]' <<<"$output")" '["synchronized","'$SHA'","feature"]'
	gen c --forge github --event pr-synchronized --secret "$SECRET"
	verify "$(doc c)"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.forge, .event.action, .build.commit, .build.repo_url]' <<<"$output")" '["github","synchronize","'$SHA'","https://github.com/acme/widget.git"]'
	gen d --forge forgejo --event pr-reopened
	verify "$(tokdoc d)"
	assert_equal "$status" 0
}

@test "pull requests: closed and edited are ignored" {
	gen a --forge gitea --event pr-closed --merged
	verify "$(tokdoc a)"
	ignored "pull request #12 closed: nothing to build"
	assert_equal "$(jq -c '[.event.type, .event.number, .event.fork]' <<<"$output")" '["pull_request",12,false]'
	gen b --forge github --event pr-edited --number 7
	verify "$(tokdoc b)"
	ignored "pull request #7 edited: nothing to build"
}

@test "a pull request whose head repository is gone (deleted fork) is ignored" {
	gen a --forge gitea --event pr-synchronized --fork
	verify "$(tokdoc a '.pull_request.head.repo = null | .pull_request.head.repo_id = -1')"
	ignored "pull request #12: its head repository is gone (deleted fork): nothing to build"
}

@test "fork pull requests: trusted only when the sender is, built from the fork" {
	gen a --forge gitea --event pr-opened --fork --sender ada
	verify "$(tokdoc a)"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.fork, .build.repo_url, .build.sender, .build.trusted]' <<<"$output")" '[true,"https://git.example.org/ada/widget.git","ada",true]'
	gen b --forge github --event pr-synchronized --fork --sender mallory --secret "$SECRET"
	verify "$(doc b)"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.fork, .event.head.full_name, .build.repo_url, .build.sender, .build.trusted]' <<<"$output")" '[true,"mallory/widget","https://github.com/mallory/widget.git","mallory",false]'
	# a trusted maintainer reopening it does not make mallory's code trusted
	gen c --forge gitea --event pr-reopened --fork --sender mallory
	verify "$(tokdoc c '.sender.login = "ada" | .sender.username = "ada"')"
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event.fork, .build.sender, .build.trusted]' <<<"$output")" '[true,"ada",false]'
	# a same-named head with another clone URL is a fork too
	gen d --forge gitea --event pr-opened --sender mallory
	verify "$(tokdoc d '.pull_request.head.repo.clone_url = "https://evil.example/acme/widget.git" | .sender.login = "ada"')"
	assert_equal "$(jq -c '[.event.fork, .build.trusted]' <<<"$output")" '[true,false]'
	# an untrusted sender on the base repository
	gen e --forge gitea --event push --sender mallory
	verify "$(tokdoc e)"
	assert_equal "$(jq -c '[.build.sender, .build.trusted]' <<<"$output")" '["mallory",false]'
}

# ---- validation

@test "bad commit: 400 naming the field" {
	gen a --forge gitea --event push
	verify "$(tokdoc a '.after = "C2196401FB0568D1459B3AD8935B3EE4DB1AAA99"')"
	bad 'invalid build.commit "C2196401FB0568D1459B3AD8935B3EE4DB1AAA99": not 40 or 64 lower-case hex digits'
	verify "$(tokdoc a '.after = "abc"')"
	bad 'invalid build.commit "abc": not 40 or 64 lower-case hex digits'
	verify "$(tokdoc a 'del(.after)')"
	bad 'invalid build.commit: missing'
	gen s --forge gitea --event push --sha256
	verify "$(tokdoc s)"
	assert_equal "$status" 0
	assert_equal "$(jq -r '.build.commit | length' <<<"$output")" 64
}

@test "bad branch: shell syntax, newline and git's ref rules give 400" {
	gen a --forge gitea --event push
	rm -f /tmp/albatros-pwned
	verify "$(tokdoc a '.ref = "refs/heads/$(touch /tmp/albatros-pwned)"')"
	bad 'invalid build.branch "$(touch /tmp/albatros-pwned)": contains a space'
	[ ! -e /tmp/albatros-pwned ]
	verify "$(tokdoc a '.ref = "refs/heads/main\nx"')"
	bad 'invalid build.branch "main?x": contains a control character'
	verify "$(tokdoc a '.ref = "refs/heads/$(id)"')"
	assert_equal "$status" 0	# '$', '(' and ')' are legal in a ref: data, never evaluated
	assert_equal "$(jq -r .build.branch <<<"$output")" '$(id)'
	for b in 'a..b' 'a/.hidden' 'x.lock' 'a//b' 'a/' 'a.' '@' 'a@{1}' 'a~1' 'a^' 'a:b' 'a?' 'a*' 'a[' 'a\b' '-x' ''; do
		verify "$(tokdoc a ".ref = $(jq -n --arg b "refs/heads/$b" '$b')")"
		assert_equal "$status" 100 || { echo "accepted: $b"; return 1; }
		[[ "$output" == *'"code":"bad_request","message":"invalid build.branch '* ]]
	done
	for b in 'feature/x-1' 'v1.0' 'a.b/c_d' 'ünï'; do
		verify "$(tokdoc a ".ref = $(jq -n --arg b "refs/heads/$b" '$b')")"
		assert_equal "$status" 0 || { echo "refused: $b"; return 1; }
	done
}

@test "bad delivery ID: over 128 bytes or another character than A-Z a-z 0-9 . : _ - gives 400" {
	# It becomes Nomad's IdempotencyToken: bounded, and no byte that a log
	# line or a URL would carry differently.
	local d128
	d128=$(printf 'd%.0s' {1..128})
	gen a --forge gitea --event push --secret "$SECRET" --delivery "$d128"
	verify "$(doc a)"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.delivery <<<"$output")" "$d128"
	gen a --forge gitea --event push --secret "$SECRET" --delivery "${d128}9"
	verify "$(doc a)"
	assert_equal "$status" 100
	[[ "$stderr" == 'alba-verify: fatal: invalid build.delivery "ddd'*'": longer than 128 bytes' ]]
	gen a --forge gitea --event push --secret "$SECRET" --delivery 'a/b'
	verify "$(doc a)"
	bad 'invalid build.delivery "a/b": not made of A-Z a-z 0-9 . : _ -'
	gen a --forge gitea --event push --secret "$SECRET" --delivery 'ok.1:x_y-Z'
	verify "$(doc a)"
	assert_equal "$status" 0
}

@test "bad flavor: 400; the default flavor is \"default\"" {
	gen a --forge gitea --event push --secret "$SECRET"
	verify "$(doc a '{"flavor":"big-2_x"}')"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.flavor <<<"$output")" big-2_x
	verify "$(doc a '{"flavor":"a;rm -rf /"}')"
	bad 'invalid build.flavor "a;rm -rf /": not 1 to 64 of A-Z a-z 0-9 _ -'
	verify "$(doc a '{"flavor":""}')"
	bad 'invalid build.flavor "": not 1 to 64 of A-Z a-z 0-9 _ -'
	verify "$(doc a "{\"flavor\":\"$(printf 'x%.0s' {1..65})\"}")"
	assert_equal "$status" 100
}

@test "bad repository URL: 400; http(s), ssh, scp-like and git URLs pass" {
	gen a --forge gitea --event push
	for u in 'ext::sh -c touch% /tmp/pwned' 'file:///etc/passwd' '/srv/git/x.git' 'ssh://-oProxyCommand=x/y' \
	    'ssh://git@-oProxyCommand=x/y' '-oProxyCommand=x@host:y' 'https://h/a b' 'ftp://h/x' 'git@host:' 'https://'; do
		verify "$(tokdoc a ".repository.clone_url = $(jq -n --arg u "$u" '$u')")"
		assert_equal "$status" 100 || { echo "accepted: $u"; return 1; }
		[[ "$output" == *'"code":"bad_request","message":"invalid build.repo_url '* ]]
	done
	verify "$(tokdoc a '.repository.clone_url = "https://h/x\ny"')"
	bad 'invalid build.repo_url "https://h/x?y": contains a control character or a space'
	for u in 'https://git.example.org/a/b.git' 'http://[::1]:3000/a/b' 'ssh://git@host:2222/a/b.git' 'git@git.example.org:acme/widget.git' 'git://h/x'; do
		verify "$(tokdoc a ".repository.clone_url = $(jq -n --arg u "$u" '$u')")"
		assert_equal "$status" 0 || { echo "refused: $u"; return 1; }
		assert_equal "$(jq -r .build.repo_url <<<"$output")" "$u"
	done
}

@test "a payload that is not JSON is a 400 after authentication" {
	mkdir "$W/a"
	printf '{"ref": ' >"$W/a/body"
	printf '%s\n' 'Content-Type: application/json' 'X-Gitea-Event: push' >"$W/a/headers"
	verify "$(doc a '{"token":"'$TOKEN'"}' '{"hook":{"token":"'$TOKEN'"}}')"
	assert_equal "$status" 100
	assert_equal "$(jq -r .error.code <<<"$output")" bad_request
	verify "$(doc a '{"token":"nope"}' '{"hook":{"token":"'$TOKEN'"}}')"
	refused "bad token"
}

# ---- when

@test "when: true builds, false or null ignores, an error ignores with jq's message" {
	gen a --forge gitea --event push --secret "$SECRET"
	cfg() { printf '{"hook":{"secret":"%s"},"trusted":{"senders":["ada"]},"when":%s}' "$SECRET" "$1"; }
	verify "$(doc a '{}' "$(cfg '".event.branch == \"main\" and .build.trusted"')")"
	assert_equal "$status" 0
	assert_equal "$(jq -r .build.commit <<<"$output")" "$SHA"
	verify "$(doc a '{}' "$(cfg '".event.branch == \"release\""')")"
	ignored "when filter said no"
	assert_equal "$(jq -r .event.branch <<<"$output")" main
	verify "$(doc a '{}' "$(cfg '".nothing"')")"
	ignored "when filter said no"
	verify "$(doc a '{}' "$(cfg '"error(\"no builds on Fridays\")"')")"
	ignored "when filter said no: no builds on Fridays"
	verify "$(doc a '{}' "$(cfg '".event.branch | tonumber"')")"
	assert_equal "$status" 0
	assert_equal "$(jq -r .error.code <<<"$output")" ignored
	assert_equal "$(jq -r .error.message <<<"$output" | cut -c1-21)" "when filter said no: "
	verify "$(doc a '{}' "$(cfg '"if ("')")"
	msg=$(jq -r .error.message <<<"$output")
	ignored "$msg"
	[[ "$msg" == "when filter said no: jq: error: syntax error, "* ]]

	# a message that would show a secret is withheld
	cfg() { printf '{"hook":{"secret":"%s"},"inject":"A=1\\nKEY=inj-s3cret","when":%s}' "$SECRET" "$1"; }
	verify "$(doc a '{}' "$(cfg '"error(.config.hook.secret)"')")"
	ignored "when filter said no: jq's error message is withheld: it holds a secret"
	verify "$(doc a '{}' "$(cfg '"error(\"x\" + .config.inject)"')")"
	ignored "when filter said no: jq's error message is withheld: it holds a secret"
	verify "$(doc a '{}' "$(cfg 'true')")"
	ignored "when filter said no: config.when is not a string"
}

@test "when: a jq message showing the start of a secret is withheld too" {
	# jq cuts long values short in its messages: "string (\"inj-s3cret...)".
	gen a --forge gitea --event push --secret "$SECRET"
	cfg() { printf '{"hook":{"secret":"%s"},"inject":"A=alpha-one\\nKEY=inj-s3cret-long-value","when":%s}' "$SECRET" "$1"; }
	for w in '.config.hook.secret + 1' '.config.inject + 1' \
	    '.config.inject | split("\n")[1] + 1' \
	    '.config.inject | split("\n")[1] | ltrimstr("KEY=") + 1'; do
		verify "$(doc a '{}' "$(cfg "$(jq -n --arg w "$w" '$w')")")"
		ignored "when filter said no: jq's error message is withheld: it holds a secret"
	done
	# a message with no secret in it is shown
	verify "$(doc a '{}' "$(cfg '".event.branch + 1"')")"
	ignored 'when filter said no: string ("main") and number (1) cannot be added'
}
