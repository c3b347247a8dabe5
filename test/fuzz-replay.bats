#!/usr/bin/env bats
# The fuzz corpora (fuzz/corpus/<harness>/, kept by make fuzz) replayed
# through the gcc build of each harness, bin/alba-fuzz-<harness>: every
# input that once crashed or found new code runs again, under valgrind with
# make check-valgrind and under ASan with make check-asan.

load helpers

# Replay the corpus of harness $1: every file runs, none crashes.
replay() {
	local n
	n=$(find "$TOP/fuzz/corpus/$1" -type f | wc -l)
	[ "$n" -gt 0 ]
	run -0 "$ALBA_BIN/alba-fuzz-$1" "$TOP/fuzz/corpus/$1"
	assert_output "$n inputs"
}

@test "every harness has a corpus and every corpus a harness" {
	local h
	for h in "$TOP"/fuzz/*.c; do
		h=${h##*/}
		h=${h%.c}
		[ "$h" = replay ] && continue
		[ -d "$TOP/fuzz/corpus/$h" ] || fail "fuzz/$h.c has no corpus"
	done
	for h in "$TOP"/fuzz/corpus/*/; do
		h=${h%/}
		h=${h##*/}
		[ -f "$TOP/fuzz/$h.c" ] || fail "fuzz/corpus/$h has no harness"
	done
}

@test "the HTTP request reader replays its corpus" {
	replay request
}

@test "the form reader replays its corpus" {
	replay form
}

@test "the webhook normaliser replays its corpus" {
	replay webhook
}

@test "the signature check replays its corpus" {
	replay signature
}

@test "the configuration reader replays its corpus" {
	replay config
}

@test "the event-stream reader replays its corpus" {
	replay eventstream
}

@test "the log-frame decoder replays its corpus" {
	replay logframe
}

@test "a replay refuses a file it cannot read" {
	run -100 "$ALBA_BIN/alba-fuzz-form" "$BATS_TEST_TMPDIR/missing"
	assert_output --partial "alba-fuzz-form: fatal: "
}
