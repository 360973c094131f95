# smz: zero-touch S/MIME for the enterprise.  Plain make; see README.md.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
CFLAGS ?= -O2 -g
PKGS = libcrypto libsodium popt libgfshare inih jansson libidn2 libplist-2.0 ldap gmime-3.0
# -Werror is the developers' default; packagers building with another
# compiler drop it with make WERROR=0.
WERROR ?= 1
override CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -pthread \
	-D_DEFAULT_SOURCE -D_GNU_SOURCE -Ilib $(shell pkg-config --cflags $(PKGS))
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
override LDFLAGS += -pie -Wl,-z,relro,-z,now -pthread
LDLIBS = lib/libsmz.a $(shell pkg-config --libs $(PKGS)) -ldb-5.3 -lcsv
ifeq ($(SANITIZE),1)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=address,undefined
endif

PROGS = cmd/smz-keygen cmd/smz-vault cmd/smz-issue cmd/smz-publish cmd/smz-sign cmd/smz-recover \
	cmd/smz-api
SCRIPTS = cmd/smz-offboard cmd/smz-provision cmd/smz-renew
LIBSRC = $(wildcard lib/*.c)
LIBOBJ = $(LIBSRC:.c=.o)
UNITS = $(patsubst %.c,%,$(wildcard tests/unit/test-*.c))
HELPERS = $(patsubst %.c,%,$(wildcard tests/helpers/*.c))
FUZZERS = tests/fuzz/fuzz-cmsread

all: $(PROGS) $(SCRIPTS) $(UNITS) $(HELPERS) tests/fuzz/replay

# Exit codes of the shell programs by name, from <sysexits.h>, where the C
# programs take theirs: "EX_OK=0 EX_USAGE=64 ... EX_CONFIG=78".
cmd/sysexits.inc: .flags
	echo '#include <sysexits.h>' | $(CC) -dM -E -x c - | \
		awk '$$1 == "#define" && $$2 ~ /^EX_[A-Z]+$$/ && $$3 ~ /^[0-9]+$$/ { print $$3, $$2 }' | \
		sort -n | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $$2, $$1 } END { print "" }' >$@.new
	grep -q ' EX_USAGE=64 .* EX_TEMPFAIL=75 ' $@.new && mv $@.new $@

# Shell programs: cmd/NAME.sh installed as NAME, its line "# @SYSEXITS@"
# replaced by those names, cmd/smz-sh-common.sh pasted in after its line
# "# @COMMON@"; each name they use must be one of them.
$(SCRIPTS): cmd/%: cmd/%.sh cmd/smz-sh-common.sh cmd/sysexits.inc
	test "$$(grep -c '^# @SYSEXITS@$$' $<)" = 1 && test "$$(grep -c '^# @COMMON@' $<)" = 1
	for x in $$(cat $< cmd/smz-sh-common.sh | grep -o 'EX_[A-Z]*' | sort -u); do \
		grep -q " $$x=" cmd/sysexits.inc || { echo "$<: no $$x in <sysexits.h>" >&2; exit 1; }; \
	done
	awk -v codes="$$(cat cmd/sysexits.inc)" '$$0 == "# @SYSEXITS@" { \
		print "# exit codes, sysexits(3): filled in from <sysexits.h> by make"; \
		print "# shellcheck disable=SC2034 # not every program uses every one"; \
		print codes; next } { print } /^# @COMMON@/ { \
		while ((getline l <"cmd/smz-sh-common.sh") > 0) print l }' $< >$@.new && chmod 755 $@.new && mv $@.new $@

# made afresh: a member of a renamed or removed lib/*.c must not linger
lib/libsmz.a: $(LIBOBJ)
	rm -f $@ && $(AR) rcs $@ $(LIBOBJ)

$(LIBOBJ) $(PROGS:=.o) cmd/common.o $(UNITS) $(HELPERS) tests/fuzz/replay: $(wildcard lib/*.h)

# Rebuild everything when the flags change (make check SANITIZE=1 after make).
BUILDFLAGS = $(CC) $(CFLAGS) $(LDFLAGS)
.flags: FORCE
	@echo '$(BUILDFLAGS)' | cmp -s - $@ || echo '$(BUILDFLAGS)' >$@
$(LIBOBJ) $(PROGS:=.o) cmd/common.o: .flags cmd/common.h

cmd/%: cmd/%.o cmd/common.o lib/libsmz.a
	$(CC) $(LDFLAGS) -o $@ $< cmd/common.o $(LDLIBS)

# the HTTPS server's libraries, for the one program that serves HTTPS
HTTPD_LIBS = $(shell pkg-config --libs libmicrohttpd gnutls)
cmd/smz-api: cmd/smz-api.o cmd/common.o lib/libsmz.a
	$(CC) $(LDFLAGS) -o $@ $< cmd/common.o $(LDLIBS) $(HTTPD_LIBS)

tests/unit/%: tests/unit/%.c tests/unit/tap.h lib/libsmz.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

tests/helpers/%: tests/helpers/%.c lib/libsmz.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# The fuzz targets' own main, for make check: replays a corpus.
tests/fuzz/replay: tests/fuzz/replay.c $(FUZZERS:=.c) lib/libsmz.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $(FUZZERS:=.c) $(LDLIBS)

# make fuzz: the libFuzzer targets, built apart from everything else with
# clang, ASan and UBSan from the library sources (see tests/fuzz/README).
FUZZCC = clang
FUZZFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -std=c11 -Wall -Wextra -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread \
	-Ilib $(shell pkg-config --cflags $(PKGS))
fuzz: $(FUZZERS)
tests/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(LIBSRC) $(wildcard lib/*.h)
	$(FUZZCC) $(FUZZFLAGS) -o $@ $< $(LIBSRC) $(shell pkg-config --libs $(PKGS)) -ldb-5.3 -lcsv

# Every C file follows .clang-format; make format rewrites them.
FORMATTED = $(wildcard lib/*.[ch] cmd/*.[ch] tests/unit/*.[ch] tests/helpers/*.c tests/fuzz/*.c bench/*.c)

check: all check-format
	prove -j2 $(UNITS) tests/t[0-9]*.sh

check-format:
	@clang-format --dry-run -Werror $(FORMATTED)

format:
	clang-format -i $(FORMATTED)

bench: all
	sh bench/run.sh

demo: all
	sh examples/demo.sh

deps:
	sh .ci/deps

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(PROGS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 644 completions/smz.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/smz
	# bash-completion looks completions up by command name
	for p in $(PROGS) $(SCRIPTS); do ln -sf smz $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$${p#cmd/}; done
	install -m 644 completions/_smz $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_smz

clean:
	rm -f lib/*.o lib/libsmz.a cmd/*.o $(PROGS) $(SCRIPTS) cmd/sysexits.inc $(UNITS) $(HELPERS)
	rm -f tests/fuzz/replay $(FUZZERS)
	rm -rf tests/trash.* demo .flags

.PHONY: all check check-format format fuzz bench demo deps install clean FORCE
.SECONDARY:
