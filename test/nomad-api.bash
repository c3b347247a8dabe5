# Requests to a Nomad HTTP API at $U, shared by the emulator's suite
# (test/emu-nomad.bats) and the conformance run against the real Nomad
# (test/real-conformance-nomad.bats).  curl + jq only.  Needs BATS_TEST_TMPDIR
# (or TMPD) for the last answer; with $TOKEN set every request carries it.
# shellcheck shell=bash

# req METHOD PATH [CURL ARGS...]: sets $code, $body; headers in $H.
req() {
	local m=$1 p=$2 d=${TMPD:-$BATS_TEST_TMPDIR}
	shift 2
	H="$d/hdrs"
	code=$(curl -sS -X "$m" -o "$d/body" -D "$H" -w '%{http_code}' \
		${TOKEN:+-H "X-Nomad-Token: $TOKEN"} "$@" "$U$p")
	body=$(cat "$d/body")
}

# hdr NAME: a response header of the last req (exact spelling).
hdr() {
	grep -i "^$1:" "$H" | head -1 | cut -d' ' -f2- | tr -d '\r'
}

# parent [ID] [PAYLOAD-RULE] [NS] [COMMAND]: register a parameterized batch
# parent with meta COMMIT required and BRANCH optional, whose raw_exec task
# runs COMMAND (default: echo hi) under /bin/sh -c.
parent() {
	local id=${1:-ci} pl=${2:-optional} ns=${3:-default} cmd
	cmd=$(jq -Rn --arg c "${4:-echo hi}" '$c')
	req PUT "/v1/jobs?namespace=$ns" --data-binary @- <<-EOF
	{"Job":{"ID":"$id","Name":"$id","Type":"batch","Datacenters":["*"],
	 "ParameterizedJob":{"Payload":"$pl","MetaRequired":["COMMIT"],"MetaOptional":["BRANCH"]},
	 "Meta":{"owner":"ci"},
	 "TaskGroups":[{"Name":"runner","Count":1,
	   "RestartPolicy":{"Attempts":0,"Mode":"fail"},"ReschedulePolicy":{"Attempts":0,"Unlimited":false},
	   "Tasks":[{"Name":"executor","Driver":"raw_exec",
	   "Config":{"command":"/bin/sh","args":["-c",$cmd]},"DispatchPayload":{"File":"input.json"}}]}]}}
	EOF
	[ "$code" = 200 ] || { echo "parent: $code $body" >&2; return 1; }
}

# dispatch [PARENT] [BODY]: dispatch and set $child.
dispatch() {
	local def='{"Meta":{"COMMIT":"abc"}}'
	req PUT "/v1/job/${1:-ci}/dispatch" --data-binary "${2:-$def}"
	[ "$code" = 200 ] || { echo "dispatch: $code $body" >&2; return 1; }
	# shellcheck disable=SC2034 # the suites read it
	child=$(jq -r .DispatchedJobID <<<"$body")
}

enc() { jq -rn --arg s "$1" '$s|@uri'; }

# wait_for PATH JQ [SECONDS]: poll until the jq expression is true.
wait_for() {
	local i n=$((${3:-5} * 20))
	for ((i = 0; i < n; i++)); do
		if curl -sS ${TOKEN:+-H "X-Nomad-Token: $TOKEN"} "$U$1" | jq -e "$2" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "timeout waiting for $2 on $1: $(curl -sS "$U$1")" >&2
	return 1
}

wait_dead() { wait_for "/v1/job/$(enc "$1")" '.Status == "dead"' "${2:-5}"; }
allocs() { curl -sS ${TOKEN:+-H "X-Nomad-Token: $TOKEN"} "$U/v1/job/$(enc "$1")/allocations"; }
first_alloc() { allocs "$1" | jq -r 'sort_by(.CreateIndex) | .[0].ID'; }
