# albatros: a lightweight, quasi-stateless CI for HashiCorp Nomad.
# GNU make.  `make` builds bin/; `make check` installs what the tests need
# (scripts/alba-deps) and runs every suite.  Quiet unless V=1.

VERSION = 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/albatros
LIBEXECDIR ?= $(PREFIX)/libexec/albatros
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 \
	-Wvla -Wimplicit-fallthrough -Wcast-align -Wwrite-strings -Wundef \
	-Wno-format-nonliteral
ALBA_CPPFLAGS = -D_GNU_SOURCE -DALBA_VERSION='"$(VERSION)"' -Ilib
ALBA_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(SAN)
# --as-needed: a binary records only the libraries it calls, so the ones
# that do not speak HTTP never load libcurl (and its GnuTLS, Kerberos, LDAP).
ALBA_LDFLAGS = -Wl,--as-needed $(LDFLAGS) $(SAN)
LIBS = -lcurl -ljq -lcrypto

# Build directories: check-asan builds into its own.
O ?= .
OBJ = $(O)/obj
BIN = $(O)/bin

CMDS = $(basename $(notdir $(wildcard cmd/*.c)))
BINS = $(CMDS:%=$(BIN)/%)
LIBSRC = $(wildcard lib/*.c)
LIBOBJ = $(LIBSRC:lib/%.c=$(OBJ)/lib/%.o)
LIBA = $(OBJ)/libalba.a
UNIT = $(BIN)/alba-unit
SCRIPTS = scripts/alba-serve scripts/alba-listen
DATA = $(wildcard share/albatros/*)
# The fuzz harnesses (fuzz/<name>.c): bin/alba-fuzz-<name> is the gcc build
# that replays a corpus (test/fuzz-replay.bats), build-fuzz/<name> the
# libFuzzer one (make fuzz).
FUZZERS = $(filter-out replay,$(basename $(notdir $(wildcard fuzz/*.c))))
REPLAYS = $(FUZZERS:%=$(BIN)/alba-fuzz-%)
MANS = $(wildcard man/*.[1-8])

ifeq ($(V),1)
Q =
qecho = @:
else
Q = @
qecho = @printf '  %-6s %s\n'
endif

all: $(BINS) $(UNIT) $(REPLAYS)

$(OBJ)/lib/%.o: lib/%.c lib/*.h | $(OBJ)/lib
	$(qecho) CC $<
	$(Q)$(CC) $(ALBA_CPPFLAGS) $(CPPFLAGS) $(ALBA_CFLAGS) -c -o $@ $<

$(OBJ)/cmd/%.o: cmd/%.c lib/*.h | $(OBJ)/cmd
	$(qecho) CC $<
	$(Q)$(CC) $(ALBA_CPPFLAGS) $(CPPFLAGS) $(ALBA_CFLAGS) -c -o $@ $<

$(OBJ)/test/%.o: test/%.c lib/*.h | $(OBJ)/test
	$(qecho) CC $<
	$(Q)$(CC) $(ALBA_CPPFLAGS) $(CPPFLAGS) $(ALBA_CFLAGS) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	$(qecho) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $(LIBOBJ)

$(BIN)/%: $(OBJ)/cmd/%.o $(LIBA) | $(BIN)
	$(qecho) LD $@
	$(Q)$(CC) $(ALBA_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(UNIT): $(OBJ)/test/alba-unit.o $(LIBA) | $(BIN)
	$(qecho) LD $@
	$(Q)$(CC) $(ALBA_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(OBJ)/fuzz/%.o: fuzz/%.c fuzz/fuzz.h lib/*.h | $(OBJ)/fuzz
	$(qecho) CC $<
	$(Q)$(CC) $(ALBA_CPPFLAGS) $(CPPFLAGS) $(ALBA_CFLAGS) -c -o $@ $<

$(BIN)/alba-fuzz-%: $(OBJ)/fuzz/%.o $(OBJ)/fuzz/replay.o $(LIBA) | $(BIN)
	$(qecho) LD $@
	$(Q)$(CC) $(ALBA_LDFLAGS) -o $@ $< $(OBJ)/fuzz/replay.o $(LIBA) $(LIBS)

$(OBJ)/lib $(OBJ)/cmd $(OBJ)/test $(OBJ)/fuzz $(BIN):
	$(Q)mkdir -p $@

# ---- the demo and the tests

# The local stack and a build, end to end (scripts/alba-demo): on the real
# Nomad, Consul and Gitea once built (make check builds them), on the
# emulators otherwise or with EMU=1.
demo:
	$(Q)scripts/alba-deps demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)ALBA_BIN=$(abspath $(BIN)) EMU=$(EMU) scripts/alba-demo

# The one test command: everything CI runs.
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/alba-lint
	$(Q)ALBA_BIN=$(abspath $(BIN)) test/run

# The shell scripts (shellcheck) and the systemd units (systemd-analyze
# verify), where those tools are installed.
lint:
	$(Q)scripts/alba-lint

deps:
	$(Q)scripts/alba-deps

# Load with nothing lost at full size: 2,000 deliveries (make check: 200).
load: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)ALBA_BIN=$(abspath $(BIN)) ALBA_LOAD_N=2000 test/run test/load.bats

# Every benchmark, side by side with the alternatives: bench/results/<date>.md
# and its plots (bench/run).  Not part of check: a benchmark is not a test.
bench:
	$(Q)scripts/alba-deps bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)ALBA_BIN=$(abspath $(BIN)) bench/run

# Leak detection stays on; test/lsan.supp names the one libjq 1.6 leak.
check-asan: deps
	$(Q)$(MAKE) --no-print-directory O=build-asan all \
		SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all'
	$(Q)ALBA_BIN=$(abspath build-asan/bin) \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=97:fast_unwind_on_malloc=0 \
		LSAN_OPTIONS=suppressions=$(abspath test/lsan.supp):print_suppressions=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=97 \
		test/run

# The mutation run: each bug of test/mutants/list planted alone, the suites
# it concerns run, the kill rate and the survivors printed (not in check).
mutate: deps
	$(Q)test/mutate

check-valgrind: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)ALBA_BIN=$(abspath $(BIN)) ALBA_VALGRIND=1 test/run

# libFuzzer on each harness for FUZZ_SECONDS (FUZZERS=... picks some),
# with ASan and UBSan; new inputs go to build-fuzz/corpus/<name>, what
# crashes to build-fuzz/crash-<name>-*.  Needs clang (scripts/alba-deps
# fuzz).  The committed corpus is fuzz/corpus/<name>: add an input there
# (minimised with -merge=1) when it finds something new.
# Leaks: libjq 1.6 leaks on some parse errors, suppressed by name
# (test/lsan.supp), and the name is only seen with the slow unwinder
# (Debian's libjq has no frame pointers), ten times slower.  So the run
# looks for crashes only, then every input it kept (each one found new
# code) runs again with leak detection.
FUZZ_SECONDS ?= 60
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LEAKS = ASAN_OPTIONS=fast_unwind_on_malloc=0:malloc_context_size=8 \
	LSAN_OPTIONS=suppressions=$(abspath test/lsan.supp):print_suppressions=0

fuzz: fuzz-build
	$(Q)for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus/$$f fuzz/corpus/$$f; \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=0 build-fuzz/$$f -max_len=4096 -timeout=10 \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build-fuzz/crash-$$f- \
			build-fuzz/corpus/$$f fuzz/corpus/$$f || exit; \
		echo "fuzz: $$f: the inputs it kept, for leaks"; \
		$(FUZZ_LEAKS) build-fuzz/$$f -runs=0 -artifact_prefix=build-fuzz/crash-$$f- \
			build-fuzz/corpus/$$f fuzz/corpus/$$f || exit; \
	done

# The libFuzzer builds only.
fuzz-build:
	$(Q)scripts/alba-deps fuzz
	$(Q)$(MAKE) --no-print-directory O=build-fuzz CC=clang \
		SAN='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' $(FUZZERS:%=build-fuzz/%)

build-fuzz/%: fuzz/%.c fuzz/fuzz.h $(LIBA)
	$(qecho) LD $@
	$(Q)$(CC) $(ALBA_CPPFLAGS) $(CPPFLAGS) $(ALBA_CFLAGS) -fsanitize=fuzzer \
		-o $@ $< $(LIBA) $(LIBS)

# ---- install

install: all
	$(Q)mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	$(Q)for f in $(BINS); do \
		scripts/install-file 0755 "$$f" "$(DESTDIR)$(BINDIR)/$${f##*/}" || exit; \
	done
	$(Q)mkdir -p $(DESTDIR)$(DATADIR)
	$(Q)for f in $(DATA); do \
		scripts/install-file 0644 "$$f" "$(DESTDIR)$(DATADIR)/$${f##*/}" || exit; \
	done
	$(Q)# alba-serve finds the pages where they were installed.
	$(Q)for f in $(SCRIPTS); do \
		sed 's|^ALBA_INSTALLED_DATADIR=$$|ALBA_INSTALLED_DATADIR=$(DATADIR)|' "$$f" >"$$f.tmp.$$$$" && \
		scripts/install-file 0755 "$$f.tmp.$$$$" "$(DESTDIR)$(BINDIR)/$${f##*/}" && \
		rm -f "$$f.tmp.$$$$" || exit; \
	done
	$(Q)for f in $(MANS); do \
		s=$${f##*.}; \
		scripts/install-file 0644 "$$f" "$(DESTDIR)$(MANDIR)/man$$s/$${f##*/}" || exit; \
	done

uninstall:
	$(Q)for f in $(CMDS) $(notdir $(SCRIPTS)); do rm -f "$(DESTDIR)$(BINDIR)/$$f"; done
	$(Q)for f in $(notdir $(MANS)); do \
		rm -f "$(DESTDIR)$(MANDIR)/man$${f##*.}/$$f"; done
	$(Q)for f in $(notdir $(DATA)); do rm -f "$(DESTDIR)$(DATADIR)/$$f"; done
	$(Q)rmdir "$(DESTDIR)$(DATADIR)" 2>/dev/null || true

clean:
	rm -rf obj bin build-asan build-fuzz

.PHONY: all demo check lint deps bench load check-asan check-valgrind mutate fuzz fuzz-build install uninstall clean
# Keep the objects make would see as intermediate.
.SECONDARY:
