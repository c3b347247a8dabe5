#!/usr/bin/env bats
# The pages a browser gets (share/albatros): the live page of a build, the
# builds of a repository, the badge; headless Chromium driven by
# playwright-core (test/browser.js) against the emulator stack, Nomad in
# exec mode so that builds really run.

load helpers
load stack

setup() {
	[ -x /usr/bin/chromium ] || skip "no /usr/bin/chromium (scripts/alba-deps installs it)"
	NOMAD_EMU_ARGS=(--exec --log-heartbeat 0.2)
	stack_start
	# The builder runs this script: colours on both streams, a secret, and
	# on branch "live" it waits for the page to have seen it run.
	cat >"$BATS_TEST_TMPDIR/build.sh" <<-'SH'
	printf '\033[1;32m   Compiling\033[0m widget v0.1.0\n'
	printf '\033[33mwarning\033[0m: unused variable `x`\n' >&2
	printf 'deploying with sup3r-s3cr3t-value\n'
	if [ "$NOMAD_META_BRANCH" = live ]; then
		i=0
		while [ ! -e "$GO_FILE" ] && [ $i -lt $((BROWSER_WAIT_MS / 100)) ]; do sleep 0.1; i=$((i + 1)); done
	fi
	printf '\033[38;5;208mamber\033[0m and \033[38;2;255;0;128mpink\033[0m\n'
	printf '\033[1;31merror\033[0m[E0425]: cannot find value \033[1mx\033[0m\n' >&2
	if [ "$NOMAD_META_BRANCH" = xss ]; then
		printf '<script>window.albaPwned = 1</script>\n' >&2
		printf '"><img src=x onerror="window.albaPwned = 2">\n' >&2
	fi
	[ "$NOMAD_META_BRANCH" = broken ] && exit 1
	printf '\033[32mok\033[0m\n'
	SH
	GO_FILE=$BATS_TEST_TMPDIR/go
	# How long the page and the live build wait for each other: 30 s, 120 s
	# when every stage runs under valgrind (each /build/info poll is three).
	BROWSER_WAIT_MS=30000
	[ -z "${ALBA_SLOW:-}" ] || BROWSER_WAIT_MS=120000
	export GO_FILE BROWSER_WAIT_MS
	jq --arg f "$BATS_TEST_TMPDIR/build.sh" --arg go "$GO_FILE" \
		'.Job.TaskGroups[0].Tasks[0].Config.args = [$f] |
		 .Job.TaskGroups[0].Tasks[0].Env.GO_FILE = $go |
		 .Job.TaskGroups[0].Tasks[0].Env.BROWSER_WAIT_MS = env.BROWSER_WAIT_MS' \
		"$BATS_TEST_TMPDIR/builder.json" >"$BATS_TEST_TMPDIR/builder2.json"
	curl -sSf -X PUT --data-binary @"$BATS_TEST_TMPDIR/builder2.json" \
		"$NOMAD_URL/v1/jobs?namespace=ci" >/dev/null
	# Screenshots stay in the test's output directory, for a human to see.
	OUT=$TOP/test/out/browser/$BATS_TEST_NUMBER
	rm -rf "$OUT"
	mkdir -p "$OUT"
}

# build BRANCH [COMMIT]: dispatch a build as a cron job would; sets $job
# and $jobq (URL-encoded).
build() {
	local commit=${2:-$(openssl rand -hex 20)}
	job=$(jq -nc --arg u "$REPO_URL" --arg c "$commit" --arg b "$1" \
		'{build: {repo_url: $u, commit: $c, branch: $b, flavor: "default", trusted: true}}' |
		alba-config | alba-dispatch | jq -r .job.id)
	[[ $job == builder/dispatch-* ]]
	jobq=$(jq -rn --arg j "$job" '$j|@uri')
}

# wait_dead: until the build $job is dead in Nomad.
wait_dead() {
	local i
	for i in $(seq 200); do
		[ "$(curl -sS "$NOMAD_URL/v1/job/$jobq?namespace=ci" | jq -r .Status)" = dead ] && return 0
		sleep 0.1
	done
	return 1
}

browser() {
	run -0 node "$TOP/test/browser.js" "$@" "$OUT"
	page=$output
}

@test "the page of a build: watched live, in colour, numbered, masked, from running to success" {
	build live
	browser watch "$SERVE_URL/build?job=$jobq&log=stderr"
	jq -e '.errors == []' <<<"$page" || { jq .errors <<<"$page"; false; }
	# Seen running with its first lines, then success.
	jq -e '.states | index("running") != null and .[-1] == "success" and
		index("running") < index("success")' <<<"$page"
	jq -e '.live | test("warning: unused variable") and (test("error") | not)' <<<"$page"
	# Both streams, every line numbered with its anchor.
	jq -e '.stderr | length == 2 and .[0].number == "1" and .[0].anchor == "#L1" and
		.[1].id == "stderr-L2"' <<<"$page"
	jq -e '.stdout | map(.text) == ["   Compiling widget v0.1.0", "deploying with ***",
		"amber and pink", "ok"]' <<<"$page"
	# The colours: 16 named, bold, 256 and 24-bit, as rendered.
	jq -e '.stdout[0].spans[0] | .text == "   Compiling" and (.cls | test("fg-2")) and
		(.cls | test("\\bb\\b")) and .weight == "700" and .color == "rgb(63, 185, 80)"' <<<"$page"
	jq -e '.stdout[2].spans == [
		{"text": "amber", "cls": "", "color": "rgb(255, 135, 0)", "weight": "400"},
		{"text": "pink", "cls": "", "color": "rgb(255, 0, 128)", "weight": "400"}]' <<<"$page"
	jq -e '.stderr[1].spans[0] | .text == "error" and .color == "rgb(255, 123, 114)"' <<<"$page"
	jq -e '.stderr[0].text == "warning: unused variable `x`"' <<<"$page"
	# The secret never reached the page.
	[[ $page != *sup3r-s3cr3t-value* ]]
	# The facts, from Nomad.
	a=$(curl -sS "$NOMAD_URL/v1/job/$jobq/allocations?namespace=ci" | jq -r '.[0].ID')
	jq -e --arg j "$job" --arg a "$a" '.facts | .branch == "live" and .flavor == "default" and
		.job == $j and .alloc == $a and (.commit | test("^[0-9a-f]{12}$")) and
		(.duration | test("^[0-9]+s$"))' <<<"$page"
	# #L2 of stdout marks that line.
	jq -e '.anchored == ["stdout-L2"]' <<<"$page"
	[ -s "$OUT/build.png" ]
}

@test "the page of a build: <script> and onerror in a log are shown, never run" {
	build xss
	wait_dead
	browser watch "$SERVE_URL/build?job=$jobq&log=stderr"
	jq -e '.pwned == null and .images == 0 and .scripts == 0' <<<"$page"
	jq -e '.stderr | map(.text) | index("<script>window.albaPwned = 1</script>") != null and
		index("\"><img src=x onerror=\"window.albaPwned = 2\">") != null' <<<"$page"
}

@test "the builds of a repository: newest first, linked to their pages; the badge of a failing branch" {
	# Three builds, in one second maybe: Nomad's SubmitTime orders them.
	build main
	first=$job
	build broken
	second=$job
	build main
	third=$job
	for job in "$first" "$second" "$third"; do
		jobq=$(jq -rn --arg j "$job" '$j|@uri')
		wait_dead
	done
	browser history "$SERVE_URL/builds?repo=$(jq -rn --arg u "$REPO_URL" '$u|@uri')"
	jq -e --arg a "$first" --arg b "$second" --arg c "$third" \
		'.rows | map(.job) == [$c, $b, $a]' <<<"$page"
	jq -e '.rows | map(.state) == ["success", "failure", "success"] and
		map(.branch) == ["main", "broken", "main"]' <<<"$page"
	jq -e --arg c "$third" '.rows[0].href == "/build?job=\($c | @uri)&log=stderr"' <<<"$page"
	# As JSON for curl, the same three.
	nomad_gets() {
		emu_requests "$NOMAD_URL" '[.[] | select(.method == "GET")] | length'
	}
	n0=$(nomad_gets)
	run -0 curl -sS -G "$SERVE_URL/builds" --data-urlencode "repo=$REPO_URL"
	jq -e --arg a "$first" '.builds | length == 3 and .[2].id == $a and .[2].state == "success"' <<<"$output"
	# The badges: a README can embed them.
	run -0 curl -sS -D "$BATS_TEST_TMPDIR/h" -G "$SERVE_URL/badge" --data-urlencode "repo=$REPO_URL" --data-urlencode branch=broken
	[[ $output == "<svg "*">failing</text></g></svg>" ]]
	grep -qi '^content-type: image/svg+xml' "$BATS_TEST_TMPDIR/h"
	grep -qi '^cache-control: no-cache' "$BATS_TEST_TMPDIR/h"
	run -0 curl -sS -G "$SERVE_URL/badge" --data-urlencode "repo=$REPO_URL" --data-urlencode branch=main
	[[ $output == *">passing</text></g></svg>" ]]
	run -0 curl -sS -G "$SERVE_URL/badge" --data-urlencode "repo=$REPO_URL" --data-urlencode branch=none
	[[ $output == *">unknown</text></g></svg>" ]]
	# Two Nomad requests an answer at most (the jobs, their allocations),
	# whatever the number of builds: 2 + 2 + 2, and 1 for the branch that
	# has none.
	n=$(( $(nomad_gets) - n0 ))
	[ "$n" = 7 ] || { echo "$n Nomad requests"; false; }
}

@test "the page of a build with JavaScript off: links to the plain text" {
	build main
	wait_dead
	browser nojs "$SERVE_URL/build?job=$jobq&log=stderr"
	jq -e '.text | test("read the log as plain text")' <<<"$page"
	jq -e '.followed.type == "text/plain; charset=utf-8" and
		(.followed.text | test("unused variable `x`\n"))' <<<"$page"
}

@test "negotiation: curl gets the text, a browser the page with a strict policy; unregistered repositories are not listed" {
	build main
	wait_dead
	run -0 curl -sS -D "$BATS_TEST_TMPDIR/h" "$SERVE_URL/build?job=$jobq&log=stdout"
	grep -qi '^content-type: text/plain' "$BATS_TEST_TMPDIR/h"
	[[ $output == *"deploying with ***"* ]]
	run -0 curl -sS -D "$BATS_TEST_TMPDIR/h" -H 'Accept: text/html,application/xhtml+xml,*/*;q=0.8' \
		"$SERVE_URL/build?job=$jobq&log=stdout"
	grep -qi '^content-type: text/html; charset=utf-8' "$BATS_TEST_TMPDIR/h"
	grep -qi "^content-security-policy: default-src 'none'; script-src 'self';" "$BATS_TEST_TMPDIR/h"
	grep -qi '^x-content-type-options: nosniff' "$BATS_TEST_TMPDIR/h"
	[[ $output == *'<script src="/albatros.js" defer></script>'* ]]
	[[ $output == *"/build?job=$jobq&amp;log=stdout&amp;plain=true"* ]]
	run -0 curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$SERVE_URL/albatros.js"
	assert_output '200 text/javascript; charset=utf-8'
	# An unknown job has no page.
	run -0 curl -sS -o /dev/null -w '%{http_code}' -H 'Accept: text/html' \
		"$SERVE_URL/build?job=builder%2Fdispatch-1700000000-0a1b2c3d"
	assert_output 404
	run -0 curl -sS -o /dev/null -w '%{http_code}' -G "$SERVE_URL/builds" \
		--data-urlencode repo=https://git.example.org/acme/other.git
	assert_output 404
	run -0 curl -sS -o /dev/null -w '%{http_code}' -G "$SERVE_URL/badge" \
		--data-urlencode repo=https://git.example.org/acme/other.git
	assert_output 404
}
