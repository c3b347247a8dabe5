#!/usr/bin/env bats
# alba-config: the repository URL from .build, .job.meta or the webhook in
# .request; the configuration read from the Consul emulator; -k and -s.

load helpers

URL=https://git.example.org/acme/widget.git
KEY=albatros/aHR0cHM6Ly9naXQuZXhhbXBsZS5vcmcvYWNtZS93aWRnZXQuZ2l0
CFG='{"hook":{"token":"s3cr3t","secret":"k"},"inject":"SECRET1=xx\nSECRET2=yy","flavors":{"nix":"nixbuilder"},"when":".event.branch == \"main\"","n":[1,2.5,null]}'
FIX=$BATS_TEST_DIRNAME/fixtures/webhooks

setup() {
	unset CONSUL_HTTP_TOKEN CONSUL_HTTP_TOKEN_FILE CONSUL_NAMESPACE CONSUL_PARTITION \
		CONSUL_HTTP_SSL CONSUL_HTTP_AUTH
	emu_start consul "$@"
	export CONSUL_HTTP_ADDR=$CONSUL_URL
}

# key URL: the key, computed here without alba-config.
key() {
	printf 'albatros/%s' "$(printf %s "$1" | base64 -w0)"
}

# seed URL VALUE: store VALUE under the key of URL, bypassing alba-config
# (the emulator's control route: not recorded).
seed() {
	jq -cn --arg k "$(key "$1")" --arg v "$2" '{key: $k, value: $v}' |
		curl -sS -X POST --data-binary @- "$CONSUL_URL/_emu/consul/kv" >/dev/null
}

# hook BODYFILE CONTENT-TYPE: a .request document carrying a webhook.
hook() {
	jq -cn --rawfile b "$1" --arg ct "$2" \
		'{request:{method:"POST",path:"/hook",query:{token:"t"},
		  headers:{"content-type":$ct},body:$b,remote_addr:"127.0.0.1"}}'
}

# expect_config URL: $output carries .config = CFG + its consul_key.
expect_config() {
	jq -e --argjson c "$CFG" --arg k "$(key "$1")" \
		'.config == ($c + {consul_key: $k})' <<<"$output" >/dev/null ||
		{ echo "got: $output"; return 1; }
}

@test "registered repository: .config is the value plus consul_key, the rest passes unchanged" {
	seed "$URL" "$CFG"
	in='{"build":{"repo_url":"'$URL'","commit":"c0ffee","trusted":false},"x":[1,{"y":null}],"s":"\u00e9"}'
	run -0 --separate-stderr alba-config <<<"$in"
	assert_equal "$stderr" ""
	expect_config "$URL"
	[ "$(jq -c 'del(.config)' <<<"$output")" = "$(jq -c . <<<"$in")" ]
	[ "$(jq -r .config.consul_key <<<"$output")" = "$KEY" ]
	run emu_requests "$CONSUL_URL" '[.[] | [.method, .path]]'
	assert_output '[["GET","/v1/kv/'$KEY'"]]'
}

@test "Gitea push, JSON body" {
	u=http://try.gitea.io/gogits/hello-world.git
	seed "$u" "$CFG"
	hook "$FIX/gitea/push.json" application/json >"$BATS_TEST_TMPDIR/doc"
	run -0 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	expect_config "$u"
	[ "$(jq -c .request <<<"$output")" = "$(jq -c .request "$BATS_TEST_TMPDIR/doc")" ]
}

@test "Gitea push, form-encoded payload= body" {
	u=https://git.example.org/acme/widget.git
	seed "$u" "$CFG"
	python3 "$TOP/test/emu/webhook.py" gen --forge gitea --event push --form \
		--repo-url "$u" --out "$BATS_TEST_TMPDIR/w" >/dev/null
	grep -q '^payload=%7B' "$BATS_TEST_TMPDIR/w/body"
	hook "$BATS_TEST_TMPDIR/w/body" application/x-www-form-urlencoded >"$BATS_TEST_TMPDIR/doc"
	run -0 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	expect_config "$u"
}

@test "GitHub push" {
	u=https://github.com/Codertocat/Hello-World.git
	seed "$u" "$CFG"
	hook "$FIX/github/push.payload.json" application/json >"$BATS_TEST_TMPDIR/doc"
	run -0 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	expect_config "$u"
}

@test "GitHub pull request from a fork: the base repository, not the fork" {
	u=https://github.com/acme/widget.git
	seed "$u" "$CFG"
	python3 "$TOP/test/emu/webhook.py" gen --forge github --event pr-opened --fork \
		--repo-url "$u" --out "$BATS_TEST_TMPDIR/w" >/dev/null
	head=$(jq -r .pull_request.head.repo.clone_url "$BATS_TEST_TMPDIR/w/body")
	[ -n "$head" ] && [ "$head" != "$u" ]
	seed "$head" '{"fork":"config"}'
	hook "$BATS_TEST_TMPDIR/w/body" application/json >"$BATS_TEST_TMPDIR/doc"
	run -0 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	expect_config "$u"
}

@test "curl -d @payload.json: raw JSON with a form content type is read as JSON" {
	u=http://try.gitea.io/gogits/hello-world.git
	seed "$u" "$CFG"
	# curl -d strips newlines and sends application/x-www-form-urlencoded.
	tr -d '\r\n' <"$FIX/gitea/push.json" >"$BATS_TEST_TMPDIR/body"
	hook "$BATS_TEST_TMPDIR/body" application/x-www-form-urlencoded >"$BATS_TEST_TMPDIR/doc"
	run -0 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	expect_config "$u"
}

@test "malformed webhook JSON: 400 bad_payload, exit 100, Consul not asked" {
	printf '{"repository":{"clone_url":"x"' >"$BATS_TEST_TMPDIR/body"
	hook "$BATS_TEST_TMPDIR/body" application/json >"$BATS_TEST_TMPDIR/doc"
	run -100 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	run jq -c '.error | [.status, .code]' <<<"$output"
	assert_output '[400,"bad_payload"]'
	[[ "$stderr" == "alba-config: fatal: webhook payload: not valid JSON: "* ]]
	run emu_requests "$CONSUL_URL" length
	assert_output 0
}

@test "a form body with a bad %-escape: 400 bad_payload" {
	printf 'payload=%%7B%%zz' >"$BATS_TEST_TMPDIR/body"
	hook "$BATS_TEST_TMPDIR/body" application/x-www-form-urlencoded >"$BATS_TEST_TMPDIR/doc"
	run -100 --separate-stderr alba-config <"$BATS_TEST_TMPDIR/doc"
	assert_equal "$stderr" "alba-config: fatal: webhook payload: the payload field has a bad %-escape"
}

@test "no repository URL anywhere: 400 no_repository" {
	run -100 --separate-stderr alba-config <<<'{"request":{"body":"{\"ref\":\"x\"}"},"build":{"commit":"c"}}'
	run jq -c '.error | [.status, .code]' <<<"$output"
	assert_output '[400,"no_repository"]'
	[[ "$stderr" == "alba-config: fatal: no repository URL: "* ]]
	run emu_requests "$CONSUL_URL" length
	assert_output 0
}

@test "unregistered repository: 404 not_registered, exit 1, the message names URL and key" {
	run -1 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	msg="repository $URL is not registered: no key $KEY in Consul KV"
	assert_equal "$stderr" "alba-config: fatal: $msg"
	run jq -c '.error' <<<"$output"
	assert_output '{"status":404,"code":"not_registered","message":"'"$msg"'"}'
}

@test "Consul down (a closed port): 503 consul_unreachable, exit 111" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	CONSUL_HTTP_ADDR=127.0.0.1:$port run -111 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	doc=$output
	run jq -c '.error | [.status, .code]' <<<"$doc"
	assert_output '[503,"consul_unreachable"]'
	[[ "$(jq -r .error.message <<<"$doc")" == "unable to reach consul at http://127.0.0.1:$port: "* ]]
	[[ "$stderr" == *"alba-config: fatal: unable to reach consul at http://127.0.0.1:$port: "* ]]
}

@test "a bad CONSUL_HTTP_ADDR is named without its password" {
	CONSUL_HTTP_ADDR="https://bob:$(head -c 300 /dev/zero | tr '\0' p)@consul.example:8501" \
		run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	msg='CONSUL_HTTP_ADDR is not an address: https://***@consul.example:8501'
	assert_equal "$stderr" "alba-config: fatal: $msg"
	run jq -c .error <<<"$output"
	assert_output '{"status":502,"code":"bad_environment","message":"'"$msg"'"}'
}

@test "Consul answering 500: retried, then 503, exit 111" {
	seed "$URL" "$CFG"
	emu_fault "$CONSUL_URL" '{"path":"^/v1/kv/","status":500,"body":"No cluster leader"}'
	run -111 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	run jq -c '.error' <<<"$output"
	assert_output '{"status":503,"code":"consul_unreachable","message":"consul at '$CONSUL_URL' answered 500 for the key '$KEY': No cluster leader"}'
	run emu_requests "$CONSUL_URL" length
	assert_output 3
}

@test "Consul answering 503 twice then 200: retried, success" {
	seed "$URL" "$CFG"
	emu_fault "$CONSUL_URL" '{"path":"^/v1/kv/","status":503,"times":2}'
	run -0 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	expect_config "$URL"
	run emu_requests "$CONSUL_URL" length
	assert_output 3
}

@test "ACL mode: the token goes as X-Consul-Token; a wrong one gives 502, exit 100, no secret in the message" {
	emu_stop
	setup --acl --token good-token=albatros/ --management-token mgmt
	curl -sS -X PUT -H 'X-Consul-Token: mgmt' --data-binary "$CFG" "$CONSUL_URL/v1/kv/$KEY" | grep -qx true
	curl -sS -X DELETE "$CONSUL_URL/_emu/requests"
	CONSUL_HTTP_TOKEN=good-token run -0 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	expect_config "$URL"
	run emu_requests "$CONSUL_URL" '[.[0].headers[] | select(.[0] | ascii_downcase == "x-consul-token") | .[1]]'
	assert_output '["good-token"]'
	CONSUL_HTTP_TOKEN=wrong-token run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	msg="consul at $CONSUL_URL refused to read the key $KEY: permission denied (ACL not found): check CONSUL_HTTP_TOKEN"
	assert_equal "$stderr" "alba-config: fatal: $msg"
	run jq -c '.error' <<<"$output"
	assert_output '{"status":502,"code":"consul_refused","message":"'"$msg"'"}'
	refute_output --partial wrong-token
}

@test "a value that is not a JSON object: 502 bad_config naming the key" {
	seed "$URL" '["not","an","object"]'
	run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	msg="the configuration at $KEY is not a JSON object: not a JSON object"
	assert_equal "$stderr" "alba-config: fatal: $msg"
	run jq -c '.error' <<<"$output"
	assert_output '{"status":502,"code":"bad_config","message":"'"$msg"'"}'
	seed "$URL" 'hook = "hcl, not json"'
	run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	[[ "$stderr" == "alba-config: fatal: the configuration at $KEY is not a JSON object: not valid JSON: "* ]]
}

@test "-k prints SPEC §4's key, without reading stdin" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 7<>"$BATS_TEST_TMPDIR/in"	# a stdin that never ends
	run -0 --separate-stderr timeout 20 alba-config -k https://git.deuxfleurs.fr/quentin/albatros.git <"$BATS_TEST_TMPDIR/in"
	exec 7>&-
	assert_output albatros/aHR0cHM6Ly9naXQuZGV1eGZsZXVycy5mci9xdWVudGluL2FsYmF0cm9zLmdpdA==
	assert_equal "$stderr" ""
	run -0 alba-config -k 'https://ho/~u/r.git'
	assert_output 'albatros/aHR0cHM6Ly9oby9+dS9yLmdpdA=='
}

@test "-s stores stdin byte for byte and prints the key; a fetch reads it back" {
	run -0 --separate-stderr alba-config -s "$URL" <<<"$CFG"
	assert_output "$KEY"
	run emu_requests "$CONSUL_URL" '[.[] | [.method, .path, .body]]'
	assert_output "$(jq -cn --arg b "$CFG"$'\n' '[["PUT","/v1/kv/'$KEY'",$b]]')"
	run -0 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	expect_config "$URL"
}

@test "-s refuses what is not a JSON object, before calling Consul" {
	run -100 --separate-stderr alba-config -s "$URL" <<<'[1,2]'
	assert_equal "$stderr" "alba-config: fatal: the configuration on stdin must be a JSON object: not a JSON object"
	assert_output ""
	run -100 --separate-stderr alba-config -s "$URL" <<<'{"a":'
	[[ "$stderr" == "alba-config: fatal: the configuration on stdin must be a JSON object: not valid JSON: "* ]]
	run emu_requests "$CONSUL_URL" length
	assert_output 0
}

@test "-k and -s together, or an operand: usage, exit 100" {
	run -100 --separate-stderr alba-config -k a -s b
	assert_equal "${stderr%%$'\n'*}" "usage: alba-config [-m maxbytes]"
	run -100 --separate-stderr alba-config extra
	assert_equal "${stderr%%$'\n'*}" "usage: alba-config [-m maxbytes]"
}

@test "a document carrying .error passes unchanged, Consul not asked" {
	in='{"error":{"status":403,"code":"bad_token","message":"bad token"},"build":{"repo_url":"'$URL'"}}'
	run -1 --separate-stderr alba-config <<<"$in"
	assert_output "$(jq -c . <<<"$in")"
	assert_equal "$stderr" ""
	run emu_requests "$CONSUL_URL" length
	assert_output 0
}

@test ".job.meta.REPO_URL: served when the parent is the builder or a flavor job in the namespace" {
	seed "$URL" "$CFG"
	for parent in builder nixbuilder; do
		in='{"job":{"id":"'$parent'/dispatch-1-0a1b2c3d","namespace":"ci","parent":"'$parent'","meta":{"REPO_URL":"'$URL'"}}}'
		run -0 --separate-stderr alba-config <<<"$in"
		expect_config "$URL"
	done
	seed "$URL" '{"builder":"b2","namespace":"team"}'
	run -0 --separate-stderr alba-config <<<'{"job":{"id":"b2/dispatch-1-0a1b2c3d","namespace":"team","parent":"b2","meta":{"REPO_URL":"'$URL'"}}}'
	[ "$(jq -r .config.namespace <<<"$output")" = team ]
}

@test ".job.meta.REPO_URL: another parent, namespace or no parent is 400 not_a_build" {
	seed "$URL" "$CFG"
	for job in '"parent":"evil","namespace":"ci"' '"parent":"builder","namespace":"default"' \
		'"namespace":"ci"' '"parent":"builder"'; do
		in='{"job":{"id":"x/dispatch-1-0a1b2c3d",'$job',"meta":{"REPO_URL":"'$URL'"}}}'
		run -100 --separate-stderr alba-config <<<"$in"
		msg="job x/dispatch-1-0a1b2c3d is not a build of this repository: not dispatched from its builder in namespace ci"
		assert_equal "$stderr" "alba-config: fatal: $msg"
		run jq -c '.error' <<<"$output"
		assert_output '{"status":400,"code":"not_a_build","message":"'"$msg"'"}'
	done
}

@test "Consul 1.21.5 refuses a key with '+': a clear error for a read and for -s; '+' and '=' sent literally" {
	emu_stop
	setup --personality 1.21.5
	u='https://ho/~u/r.git'
	k='albatros/aHR0cHM6Ly9oby9+dS9yLmdpdA=='
	run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$u'"}}'
	run jq -r '.error | "\(.status) \(.code) \(.message)"' <<<"$output"
	assert_output --partial "502 consul_refused consul at $CONSUL_URL refused the key $k as an invalid key name: Consul 1.21.5 rejects '+' in keys, upgrade it to 1.21.6 or later"
	run emu_requests "$CONSUL_URL" '[.[] | .path]'
	assert_output '["/v1/kv/'$k'"]'
	run -100 --separate-stderr alba-config -s "$u" <<<'{}'
	assert_output ""
	[[ "$stderr" == "alba-config: fatal: consul at $CONSUL_URL refused the key $k as an invalid key name: Consul 1.21.5 rejects '+' in keys"* ]]
}

@test "CONSUL_NAMESPACE and CONSUL_PARTITION: sent only when set (Consul CE refuses them)" {
	seed "$URL" "$CFG"
	CONSUL_NAMESPACE=team CONSUL_PARTITION=p1 run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	run jq -r .error.code <<<"$output"
	assert_output consul_refused
	[[ "$stderr" == *"answered 400 for the key $KEY: Invalid query parameter: \"ns\" - Namespaces are a Consul Enterprise feature" ]]
	run emu_requests "$CONSUL_URL" '[.[] | .path]'
	assert_output '["/v1/kv/'$KEY'?ns=team&partition=p1"]'
}

@test "a redirect from Consul is an error" {
	emu_fault "$CONSUL_URL" '{"path":"^/v1/kv/","status":301,"body":""}'
	run -100 --separate-stderr alba-config <<<'{"build":{"repo_url":"'$URL'"}}'
	assert_equal "$stderr" "alba-config: fatal: consul at $CONSUL_URL answered 301 (a redirect) for the key $KEY: the key cannot be addressed"
}
