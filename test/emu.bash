# Starting and stopping the service emulators of test/emu/ on free loopback
# ports, for the bats suites (through helpers.bash) and scripts/alba-demo.
# Needs TOP (the source tree) and EMU_DIR (where port files and logs go;
# in a bats test, BATS_TEST_TMPDIR by default).
# shellcheck shell=bash

EMU_PIDS=()

# free_port: a loopback TCP port free now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# emu_start NAME [ARGS...]: start test/emu/NAME.py, wait for its port, and set
# ${NAME^^}_PORT and ${NAME^^}_URL (e.g. NOMAD_PORT, NOMAD_URL).  Extra
# arguments go to the emulator.  Fails if it is not listening within 5 s.
emu_start() {
	local name=$1 dir=${EMU_DIR:-$BATS_TEST_TMPDIR} var pf pid port
	shift
	var=$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')
	pf="$dir/$name.port"
	rm -f "$pf"
	python3 "$TOP/test/emu/$name.py" --port-file "$pf" --parent $$ "$@" \
		2>>"$dir/$name.log" 3>&- &
	pid=$!
	EMU_PIDS+=("$pid")
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$dir/$name.log" >&2; return 1; }
		sleep 0.05
	done
	[ -s "$pf" ] || { echo "emulator $name did not start" >&2; return 1; }
	port=$(cat "$pf")
	printf -v "${var}_PORT" '%s' "$port"
	printf -v "${var}_URL" 'http://127.0.0.1:%s' "$port"
	printf -v "${var}_PID" '%s' "$pid"
	export "${var}_PORT" "${var}_URL" "${var}_PID"
}

# emu_stop: stop every emulator this test started; fail if one survives.
emu_stop() {
	local pid alive=0
	for pid in "${EMU_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${EMU_PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
			alive=1
		fi
	done
	EMU_PIDS=()
	[ "$alive" = 0 ] || { echo "an emulator outlived its test" >&2; return 1; }
}

# emu_requests URL [JQ-FILTER]: the requests an emulator recorded.
emu_requests() {
	curl -sS "$1/_emu/requests" | jq -c "${2:-.}"
}

# emu_fault URL JSON: add a fault to an emulator.
emu_fault() {
	curl -sS -X POST --data-binary "$2" "$1/_emu/faults" >/dev/null
}
