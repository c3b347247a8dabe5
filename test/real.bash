# The real Nomad, Consul and Gitea for the real suites (test/real-*.bats)
# and `make demo`: built or reused by scripts/alba-services, started on free
# loopback ports in a directory of their own, and stopped by PID.  A suite
# starts them once, in setup_file, and stops them in teardown_file.
#
#   real_consul_start [acl]    CONSUL_HTTP_ADDR, CONSUL_URL; with acl, ACLs on
#                              (default deny) and REAL_CONSUL_MGMT the
#                              management token's secret
#   real_nomad_start [acl]     NOMAD_ADDR, NOMAD_URL; with acl, the ACL
#                              system bootstrapped and REAL_MGMT_TOKEN set
#   real_gitea_start           GITEA_URL, GITEA_USER, GITEA_TOKEN (an admin's
#                              access token), GITEA_PASSWORD
#   real_serve_start           scripts/alba-serve behind socat: SERVE_URL
#   real_stop                  every process started here, by PID
#
# Needs TOP, and REAL_DIR (a directory for their data and logs; in a bats
# suite, BATS_FILE_TMPDIR by default).
# shellcheck shell=bash

# The PIDs go to a file, so that teardown_file finds them whatever shell
# setup_file ran in.
_real_pid() {
	echo "$1" >>"${REAL_DIR:-$BATS_FILE_TMPDIR}/pids"
}

# real_bin NAME: the path of the real service's binary (built if missing).
real_bin() {
	"$TOP/scripts/alba-services" -q "$1"
}

_real_dir() {
	local d=${REAL_DIR:-${BATS_FILE_TMPDIR:?REAL_DIR or BATS_FILE_TMPDIR}}/$1
	mkdir -p "$d"
	printf '%s\n' "$d"
}

# _real_wait SECONDS CMD...: until CMD succeeds.
_real_wait() {
	_real_wait_pid "" "$@"
}

# _real_wait_pid PID SECONDS CMD...: the same, but fail at once when the
# process PID (a service just started) is gone.
_real_wait_pid() {
	local pid=$1 n=$(($2 * 10)) i
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null ||
			{ echo "real.bash: it exited: $*" >&2; return 1; }
		sleep 0.1
	done
	echo "real.bash: timed out waiting for: $*" >&2
	return 1
}

_real_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

real_consul_start() {
	local acl=${1:-} bin dir port args=()
	bin=$(real_bin consul) || return
	dir=$(_real_dir "consul${acl:+-acl}")
	port=$(_real_free_port)
	if [ "$acl" = acl ]; then
		REAL_CONSUL_MGMT=$(python3 -c 'import uuid; print(uuid.uuid4())')
		export REAL_CONSUL_MGMT
		args=(-hcl "acl { enabled = true default_policy = \"deny\" tokens { initial_management = \"$REAL_CONSUL_MGMT\" } }")
	fi
	"$bin" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -http-port "$port" ${args[@]+"${args[@]}"} \
		-dns-port -1 -grpc-port -1 -grpc-tls-port -1 -serf-lan-port "$(_real_free_port)" \
		-serf-wan-port "$(_real_free_port)" -server-port "$(_real_free_port)" \
		-node real-consul -log-level warn >"$dir/log" 2>&1 3>&- &
	_real_pid "$!"
	CONSUL_URL=http://127.0.0.1:$port
	CONSUL_HTTP_ADDR=$CONSUL_URL
	export CONSUL_URL CONSUL_HTTP_ADDR
	_real_wait_pid "$!" 30 _real_consul_leader || { tail -20 "$dir/log" >&2; return 1; }
}

_real_consul_leader() {
	local l
	l=$(curl -sf "$CONSUL_URL/v1/status/leader") && [ "$l" != '""' ]
}

real_nomad_start() {
	local acl=${1:-} bin dir http
	bin=$(real_bin nomad) || return
	dir=$(_real_dir "nomad${acl:+-acl}")
	http=$(_real_free_port)
	{
		printf 'bind_addr = "127.0.0.1"\n'
		printf 'data_dir = "%s/data"\n' "$dir"
		printf 'ports {\n  http = %s\n  rpc = %s\n  serf = %s\n}\n' \
			"$http" "$(_real_free_port)" "$(_real_free_port)"
		printf 'plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n'
		if [ -n "${CONSUL_HTTP_ADDR:-}" ]; then
			printf 'consul {\n  address = "%s"\n}\n' "${CONSUL_HTTP_ADDR#http://}"
		else
			printf 'consul {\n  address = "127.0.0.1:1"\n  auto_advertise = false\n  client_auto_join = false\n  server_auto_join = false\n}\n'
		fi
		[ "$acl" != acl ] || printf 'acl {\n  enabled = true\n}\n'
	} >"$dir/agent.hcl"
	"$bin" agent -dev -config "$dir/agent.hcl" >"$dir/log" 2>&1 3>&- &
	_real_pid "$!"
	NOMAD_URL=http://127.0.0.1:$http
	NOMAD_ADDR=$NOMAD_URL
	REAL_NOMAD=$bin
	export NOMAD_URL NOMAD_ADDR REAL_NOMAD
	_real_wait_pid "$!" 60 curl -sf "$NOMAD_URL/v1/status/leader" || { tail -20 "$dir/log" >&2; return 1; }
	if [ "$acl" = acl ]; then
		REAL_MGMT_TOKEN=$(curl -sSf -X POST "$NOMAD_URL/v1/acl/bootstrap" | jq -r .SecretID) ||
			return
		export REAL_MGMT_TOKEN
	fi
	# The client: registered and ready, with raw_exec healthy.
	_real_wait 60 _real_nomad_ready || { tail -20 "$dir/log" >&2; return 1; }
	_real_nomad_api POST /v1/namespace/ci '{"Name":"ci","Description":"albatros builds"}' >/dev/null
}

_real_nomad_api() {
	curl -sSf ${REAL_MGMT_TOKEN:+-H "X-Nomad-Token: $REAL_MGMT_TOKEN"} -X "$1" \
		${3:+--data-binary "$3"} "$NOMAD_URL$2"
}

_real_nomad_ready() {
	_real_nomad_api GET /v1/nodes | jq -e \
		'any(.[]; .Status == "ready" and .Drivers.raw_exec.Healthy == true)'
}

# real_job_run FILE [VAR=VALUE...]: register an HCL job with the real nomad CLI.
real_job_run() {
	local f=$1 v args=()
	shift
	for v; do args+=(-var "$v"); done
	NOMAD_TOKEN=${REAL_MGMT_TOKEN:-${NOMAD_TOKEN:-}} \
		"$REAL_NOMAD" job run -detach ${args[@]+"${args[@]}"} "$f" >/dev/null
}

real_gitea_start() {
	local bin dir port lib
	bin=$(real_bin gitea) || return
	lib=$(dirname "$bin")
	dir=$(_real_dir gitea)
	port=$(_real_free_port)
	GITEA_URL=http://127.0.0.1:$port
	GITEA_USER=albatros
	GITEA_PASSWORD=real-suite-$RANDOM$RANDOM
	cat >"$dir/app.ini" <<-EOF
		APP_NAME = albatros real suite
		RUN_MODE = prod
		WORK_PATH = $dir
		I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
		[server]
		PROTOCOL = http
		HTTP_ADDR = 127.0.0.1
		HTTP_PORT = $port
		ROOT_URL = $GITEA_URL/
		DISABLE_SSH = true
		START_SSH_SERVER = false
		OFFLINE_MODE = true
		LFS_START_SERVER = false
		STATIC_ROOT_PATH = $lib
		APP_DATA_PATH = $dir/data
		[database]
		DB_TYPE = sqlite3
		PATH = $dir/data/gitea.db
		[repository]
		ROOT = $dir/repos
		DEFAULT_BRANCH = main
		[security]
		INSTALL_LOCK = true
		SECRET_KEY = $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
		INTERNAL_TOKEN = $("$bin" generate secret INTERNAL_TOKEN)
		[oauth2]
		ENABLED = false
		[service]
		DISABLE_REGISTRATION = true
		[mailer]
		ENABLED = false
		[picture]
		DISABLE_GRAVATAR = true
		[indexer]
		ISSUE_INDEXER_TYPE = db
		REPO_INDEXER_ENABLED = false
		[cron]
		ENABLED = false
		[cron.update_checker]
		ENABLED = false
		[webhook]
		ALLOWED_HOST_LIST = loopback
		DELIVER_TIMEOUT = 30
		[log]
		MODE = file
		ROOT_PATH = $dir/log
		LEVEL = Warn
	EOF
	local g=("$bin" --config "$dir/app.ini" --work-path "$dir")
	"${g[@]}" migrate >"$dir/migrate.log" 2>&1 || { tail -20 "$dir/migrate.log" >&2; return 1; }
	"${g[@]}" admin user create --admin --username "$GITEA_USER" --password "$GITEA_PASSWORD" \
		--email albatros@example.org --must-change-password=false >"$dir/user.log" 2>&1 ||
		{ cat "$dir/user.log" >&2; return 1; }
	GITEA_TOKEN=$("${g[@]}" admin user generate-access-token --username "$GITEA_USER" \
		--token-name real-suite --scopes all --raw 2>>"$dir/user.log") ||
		{ cat "$dir/user.log" >&2; return 1; }
	"${g[@]}" web >"$dir/stdout" 2>&1 3>&- &
	_real_pid "$!"
	GITEA_DB=$dir/data/gitea.db
	export GITEA_URL GITEA_USER GITEA_TOKEN GITEA_PASSWORD GITEA_DB
	_real_wait_pid "$!" 60 curl -sf "$GITEA_URL/api/healthz" || { tail -20 "$dir/stdout" >&2; return 1; }
}

# gitea_api METHOD PATH [JSON]: the Gitea API as the admin user.
gitea_api() {
	curl -sSf -H "Authorization: token $GITEA_TOKEN" -H 'Content-Type: application/json' \
		-X "$1" ${3:+--data-binary "$3"} "$GITEA_URL/api/v1$2"
}

# gitea_repo NAME: a new repository of the admin user; prints its clone URL.
gitea_repo() {
	gitea_api POST /user/repos "$(jq -nc --arg n "$1" '{name: $n, default_branch: "main"}')" |
		jq -r .clone_url
}

# gitea_push DIR BRANCH: push DIR's HEAD to BRANCH of its origin, with the
# admin's credentials; prints the commit.
gitea_push() {
	local dir=$1 branch=$2 url
	url=$(git -C "$dir" remote get-url origin)
	git -C "$dir" push -q "${url/http:\/\//http://$GITEA_USER:$GITEA_TOKEN@}" "HEAD:refs/heads/$branch"
	git -C "$dir" rev-parse HEAD
}

# gitea_hook REPO URL SECRET: a Gitea webhook on push, JSON, signed.
gitea_hook() {
	gitea_api POST "/repos/$GITEA_USER/$1/hooks" "$(jq -nc --arg u "$2" --arg s "$3" \
		'{type: "gitea", active: true, events: ["push"], branch_filter: "*",
		  config: {url: $u, content_type: "json", secret: $s}}')" >/dev/null
}

# gitea_statuses REPO SHA: the commit's statuses, oldest first, one a line.
gitea_statuses() {
	gitea_api GET "/repos/$GITEA_USER/$1/statuses/$2?sort=oldest&limit=50" |
		jq -c '.[] | {state: .status, context, description, target_url}'
}

# gitea_delivery DIR [TEXT]: the last webhook request Gitea delivered (whose
# body holds TEXT, say a commit: Gitea's push queue may deliver an earlier
# push late), exactly as it sent it (Gitea keeps it in its hook_task
# table): DIR/headers (for curl -H @) and DIR/body.  Prints its delivery ID.
gitea_delivery() {
	mkdir -p "$1"
	python3 - "$GITEA_DB" "$1" "${2:-}" <<-'EOF'
		import json, sqlite3, sys
		db, out, text = sys.argv[1:]
		rows = sqlite3.connect(db).execute(
		    "select request_content from hook_task where is_delivered"
		    " order by id desc").fetchall()
		req = next(r for r in (json.loads(row[0]) for row in rows) if text in r["body"])
		with open(out + "/headers", "w") as f:
		    for k, v in req["headers"].items():
		        f.write("%s: %s\n" % (k, v))
		with open(out + "/body", "w") as f:
		    f.write(req["body"])
		print(req["headers"].get("X-Gitea-Delivery", ""))
	EOF
}

# real_serve_start: scripts/alba-serve behind socat on a free port.
real_serve_start() {
	local dir port i
	dir=$(_real_dir serve)
	port=$(_real_free_port)
	SERVE_URL=http://127.0.0.1:$port
	ALBA_LOG=$dir/serve.log
	ALBA_BINDIR=$ALBA_BIN
	ALBATROS_URL=$SERVE_URL
	export SERVE_URL ALBA_LOG ALBA_BINDIR ALBATROS_URL
	socat -b 65536 "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:$TOP/scripts/alba-serve" 2>>"$dir/socat.log" 3>&- &
	_real_pid "$!"
	_real_wait_pid "$!" 10 curl -sf "$SERVE_URL/health"
}

# real_stop: every process started here, gently, then for good.
real_stop() {
	local pid i pids=() f=${REAL_DIR:-$BATS_FILE_TMPDIR}/pids
	[ -f "$f" ] || return 0
	mapfile -t pids <"$f"
	rm -f "$f"
	for pid in "${pids[@]}"; do
		kill -INT "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 150; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
}
