# Common setup of every bats suite: the built binaries on PATH, bats-assert,
# and the emulators, started on a free loopback port and stopped (and checked
# gone) when the test ends.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
export TOP
ALBA_BIN=${ALBA_BIN:-$TOP/bin}
export ALBA_BIN
export PATH="$ALBA_BIN:$TOP/scripts:$PATH"
export LC_ALL=C

load_lib() {
	local d
	for d in /usr/lib/bats "$TOP/test/lib" /usr/local/lib/bats; do
		if [ -f "$d/$1/load.bash" ]; then
			load "$d/$1/load.bash"
			return
		fi
	done
	echo "bats library $1 not found (run scripts/alba-deps)" >&2
	return 1
}
load_lib bats-support
load_lib bats-assert

# shellcheck source=test/emu.bash
. "$TOP/test/emu.bash"

teardown() {
	emu_stop
}
