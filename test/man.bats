#!/usr/bin/env bats
# Every page lints clean with mandoc; every binary has a page whose SYNOPSIS
# is its usage string, and whose EXIT STATUS carries the shared table.

load helpers

@test "every man page lints clean" {
	for f in "$TOP"/man/*.[1-8]; do
		run mandoc -Tlint -Wwarning "$f"
		[ "$status" = 0 ] || { echo "$output"; return 1; }
	done
}

norm() {
	tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//'
}

@test "every binary has a page; its usage string is the page's SYNOPSIS" {
	for c in "$TOP"/cmd/*.c; do
		[ -e "$c" ] || continue
		n=$(basename "$c" .c)
		page="$TOP/man/$n.1"
		[ -f "$page" ] || { echo "no man page for $n"; return 1; }
		syn=$(MANWIDTH=200 mandoc -Tutf8 -Owidth=200 "$page" | col -b |
			awk '/^SYNOPSIS/{f=1;next} /^[A-Z]/{f=0} f' | norm)
		run -100 --separate-stderr "$n" -'?'
		# getopt's own complaint may come first: keep from "usage:" on.
		use=$(printf '%s\n' "$stderr" | sed -n '/^usage:/,$p' | sed 's/^usage://' | norm)
		[ "$syn" = "$use" ] || { echo "$n: page: $syn"; echo "$n: usage: $use"; return 1; }
	done
}

@test "every binary's page has the exit-status table" {
	for c in "$TOP"/cmd/*.c; do
		[ -e "$c" ] || continue
		n=$(basename "$c" .c)
		txt=$(mandoc -Tutf8 "$TOP/man/$n.1" | col -bx)
		for code in 0 1 99 100 111; do
			grep -Eq "^ +$code +" <<<"$txt" || { echo "$n: no exit status $code"; return 1; }
		done
	done
}
