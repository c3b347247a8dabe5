#!/usr/bin/env bats
# make install / uninstall honour DESTDIR and PREFIX; alba-serve works from
# the installed tree.

load helpers

@test "make install puts binaries and pages under DESTDIR/PREFIX; uninstall removes them" {
	d=$BATS_TEST_TMPDIR/root
	run -0 make -s -C "$TOP" install DESTDIR="$d" PREFIX=/opt/alba
	for f in alba-http alba-config alba-verify alba-dispatch alba-status alba-logs alba-builds alba-serve; do
		[ -x "$d/opt/alba/bin/$f" ] || { echo "missing $f"; return 1; }
	done
	[ -f "$d/opt/alba/share/man/man1/alba-http.1" ]
	[ -f "$d/opt/alba/share/man/man5/albatros.5" ]
	[ -f "$d/opt/alba/share/man/man8/alba-serve.8" ]
	run -0 bash -c "printf 'GET /health HTTP/1.1\r\n\r\n' | env -u ALBA_BINDIR ALBA_LOG=/dev/null '$d/opt/alba/bin/alba-serve' | sed '1,/^\r$/d'"
	assert_output ok
	# The pages, under DATADIR, served from there.
	[ -f "$d/opt/alba/share/albatros/build.html" ]
	[ -f "$d/opt/alba/share/albatros/albatros.js" ]
	printf 'GET /albatros.css HTTP/1.1\r\n\r\n' | env -u ALBA_BINDIR ALBA_LOG=/dev/null \
		"$d/opt/alba/bin/alba-serve" >"$BATS_TEST_TMPDIR/css"
	head -1 "$BATS_TEST_TMPDIR/css" | grep -q '^HTTP/1.1 200 OK'
	tr -d '\r' <"$BATS_TEST_TMPDIR/css" | sed '1,/^$/d' | cmp - "$TOP/share/albatros/albatros.css"
	run -0 make -s -C "$TOP" uninstall DESTDIR="$d" PREFIX=/opt/alba
	[ -z "$(find "$d" -type f)" ]
}
