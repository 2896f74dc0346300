# The kit's one Makefile: builds every track's programs, the unit tests and
# the mutants, and runs the tests. Non-recursive: every rule is here.
#
#   make                 build every program of every track into build/
#   make test            install what is missing, build, run every test
#   make unit            only the C unit tests (Criterion)
#   make conformance     only the conformance suite (TRACK=... PROGRAM=...)
#   make mutants-test    show that the suite catches every known-wrong design
#   make tracks-test     each track's concurrency model (strace), valgrind
#   make test-san        unit + conformance on the ASan and TSan builds
#   make demo            the lecture demos: each version's timeline side by side
#   make bench           what each model costs: memory, threads, latency
#   make site            the lessons as a web site and slide decks
#   make SAN=address     ASan+UBSan build into build-address/
#   make SAN=thread      TSan build into build-thread/
#   make CC=clang        build with clang
#   make deps            install the Debian packages the kit needs
#   make clean           remove every build folder
#   make format          format the C sources (format-check: only check)
#   make V=1             show the full commands

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

# Tests run on Debian's interpreter, which sees Debian's pytest; the python3
# first on PATH may be another one that does not.
PYTHON ?= /usr/bin/python3
PYTEST_FLAGS ?=

CC ?= cc
SAN ?=
ifeq ($(SAN),)
  BUILD ?= build
else
  BUILD ?= build-$(SAN)
endif

ifeq ($(V),1)
  Q :=
  say := @true
else
  Q := @
  say := @printf '  %-7s %s\n'
endif

# Recursively expanded on purpose: pkg-config is asked when a recipe runs,
# after `deps` had a chance to install libuv and Criterion.
UV_CFLAGS = $(shell pkg-config --cflags libuv)
UV_LIBS = $(shell pkg-config --libs libuv)
CRITERION_CFLAGS = $(shell pkg-config --cflags criterion)
CRITERION_LIBS = $(shell pkg-config --libs criterion)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2
CFLAGS ?= -O1 -g
ALL_CFLAGS = -std=gnu11 $(WARNINGS) $(CFLAGS) -pthread -MMD -MP -Icommon \
             $(SAN_FLAGS)
LDFLAGS ?=
ALL_LDFLAGS = $(LDFLAGS) -pthread $(SAN_FLAGS)

ifeq ($(SAN),address)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
else ifeq ($(SAN),thread)
  SAN_FLAGS := -fsanitize=thread
else ifneq ($(SAN),)
  $(error SAN must be address or thread, not '$(SAN)')
endif

# ---------------------------------------------------------------------------
# What to build, read from tracks.list (track program contract).

LISTED := $(shell awk '!/^\#/ && NF >= 3 { print $$1 "/" $$2 }' tracks.list)
TRACKS := $(sort $(dir $(LISTED)))
TRACKS := $(TRACKS:/=)
# A listed program is built once its source exists; the tests fail for the
# ones that do not, so a missing program is never silently skipped.
PROGRAM_SRCS := $(foreach p,$(LISTED),$(wildcard $(p).c))
PROGRAMS := $(PROGRAM_SRCS:%.c=$(BUILD)/%)

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)

# A track's modules: its .c files (one folder deep, for async-futures/fut/)
# that are not a program's main file. Any file named after a listed program
# counts as a main, so a track can grow a program before it is listed.
PROGRAM_NAMES := $(sort $(notdir $(LISTED)))
track_srcs = $(filter-out $(PROGRAM_NAMES:%=$(1)/%.c), \
               $(wildcard $(1)/*.c $(1)/*/*.c))
track_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(call track_srcs,$(1)))
# libuv for the two event-loop tracks; the threads track needs only pthreads.
track_libs = $(if $(filter blocking-threads,$(1)),,$(UV_LIBS))
track_cflags = $(if $(filter blocking-threads,$(1)),,$(UV_CFLAGS)) -I$(1)

# ---------------------------------------------------------------------------
# Unit tests: tests/unit/<common|track>/test_*.c are Criterion suites,
# plain_*.c are plain programs that exit 0 when they pass (used where
# Criterion cannot run, e.g. under ThreadSanitizer).

UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
PLAIN_SRCS := $(wildcard tests/unit/*/plain_*.c)
PLAIN_BINS := $(PLAIN_SRCS:%.c=$(BUILD)/%)

unit_group = $(word 3,$(subst /, ,$(1)))
unit_objs = $(COMMON_OBJS) \
  $(if $(filter common,$(call unit_group,$(1))),,$(call track_objs,$(call unit_group,$(1))))

# ---------------------------------------------------------------------------
# Mutants: tests/mutants/NAME.patch is a known-wrong change to one program's
# source; it is applied to a copy and built into $(BUILD)/mutants/NAME.

MUTANT_PATCHES := $(wildcard tests/mutants/*.patch)
MUTANTS := $(MUTANT_PATCHES:tests/mutants/%.patch=$(BUILD)/mutants/%)
# The file a patch changes, from its "+++ b/TRACK/PROGRAM.c" line.
patch_target = $(shell sed -n 's|^+++ [ab]/\([^[:space:]]*\).*|\1|p' $(1) | head -n 1)

# ---------------------------------------------------------------------------

.PHONY: all deps test unit conformance mutants mutants-test tsan-plain \
        tracks-test test-san check-deps clean help

all: check-deps $(PROGRAMS)

help:
	@sed -n '4,20p' Makefile | sed 's/^# \{0,1\}//'

# Installs (as root) or names (otherwise) the missing Debian packages.
deps:
	@scripts/install-deps.sh

check-deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

$(BUILD)/obj/common/%.o: common/%.c | check-deps
	$(say) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# Track objects: the track's folder is on the include path, plus libuv's
# flags for the event-loop tracks.
$(BUILD)/obj/%.o: %.c | check-deps
	$(say) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(call track_cflags,$(firstword $(subst /, ,$*))) \
	    -c $< -o $@

.SECONDEXPANSION:

$(PROGRAMS): $(BUILD)/%: $(BUILD)/obj/%.o $(COMMON_OBJS) \
             $$(call track_objs,$$(firstword $$(subst /, ,$$*)))
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) $(filter %.o,$^) -o $@ \
	    $(call track_libs,$(firstword $(subst /, ,$*)))

$(UNIT_BINS): $(BUILD)/%: %.c $$(call unit_objs,$$*) | check-deps
	$(say) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(CRITERION_CFLAGS) \
	    $(call track_cflags,$(call unit_group,$*)) $(filter %.c %.o,$^) \
	    -o $@ $(CRITERION_LIBS) \
	    $(call track_libs,$(call unit_group,$*))

$(PLAIN_BINS): $(BUILD)/%: %.c $$(call unit_objs,$$*) | check-deps
	$(say) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(call track_cflags,$(call unit_group,$*)) \
	    $(filter %.c %.o,$^) -o $@ $(call track_libs,$(call unit_group,$*))

$(BUILD)/mutants/%.c: tests/mutants/%.patch \
      $$(call patch_target,tests/mutants/$$*.patch)
	$(say) PATCH $@
	@mkdir -p $(@D)
	$(Q)patch --quiet -o $@ $(call patch_target,$<) $< || \
	    { echo "mutant $*: the patch no longer applies to" \
	           "$(call patch_target,$<); update it" >&2; exit 1; }

mutant_track = $(firstword $(subst /, ,$(call patch_target,tests/mutants/$(1).patch)))

$(BUILD)/mutants/%.o: $(BUILD)/mutants/%.c
	$(say) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -I$(call mutant_track,$*) \
	    $(call track_cflags,$(call mutant_track,$*)) -c $< -o $@

$(BUILD)/mutants/%: $(BUILD)/mutants/%.o $(COMMON_OBJS) \
      $$(call track_objs,$$(call mutant_track,$$*))
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) $(filter %.o,$^) -o $@ \
	    $(call track_libs,$(call mutant_track,$*))

# Keep the patched sources and objects: students read them.
.PRECIOUS: $(BUILD)/mutants/%.c $(BUILD)/mutants/%.o

mutants: $(MUTANTS)

# ---------------------------------------------------------------------------
# The lessons' example programs: lessons/examples/DIR/NAME.c, built with
# common/ only into $(BUILD)/lessons/examples/DIR/NAME. Not a track: each
# shows one idea (lesson 02b's fetch-line written with poll(2) by hand).

LESSON_EXAMPLE_SRCS := $(wildcard lessons/examples/*/*.c)
LESSON_EXAMPLES := $(LESSON_EXAMPLE_SRCS:%.c=$(BUILD)/%)

all: $(LESSON_EXAMPLES)

$(LESSON_EXAMPLES): $(BUILD)/%: $(BUILD)/obj/%.o $(COMMON_OBJS)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) $(filter %.o,$^) -o $@

# ---------------------------------------------------------------------------
# Tests

test: all unit tsan-plain conformance tracks-test mutants-test test-lessons

# A sanitizer finding inside a Criterion test (a leak, say) does not make
# the test fail, so each test's output is also searched for sanitizer
# reports. run_checked runs one test command that way.
define run_checked
echo "== $(1)"; log=$$(mktemp); \
$(1) 2>&1 | tee $$log; status=$${PIPESTATUS[0]}; \
if grep -qE 'Sanitizer|runtime error:' $$log; then \
    echo "$(1): a sanitizer reported a problem (see above)"; status=1; fi; \
rm -f $$log; [ $$status -eq 0 ]
endef

unit: $(UNIT_BINS) $(PLAIN_BINS)
	@set -e; for t in $(UNIT_BINS); do \
	    $(call run_checked,$$t --short-filename); done
	@set -e; for t in $(PLAIN_BINS); do $(call run_checked,$$t); done

# The plain unit programs again, built with ThreadSanitizer (Criterion
# itself cannot run under TSan).
tsan-plain:
ifneq ($(PLAIN_SRCS),)
	$(Q)$(MAKE) --no-print-directory SAN=thread BUILD=build-thread \
	    $(PLAIN_SRCS:%.c=build-thread/%)
	@set -e; for t in $(PLAIN_SRCS:%.c=build-thread/%); do \
	    echo "== $$t (ThreadSanitizer)"; \
	    TSAN_OPTIONS=halt_on_error=1 $$t; done
endif

# TRACK=name and PROGRAM=name narrow the run; KIT_BUILD tells the tests
# which build folder holds the programs (build-address after SAN=address).
conformance: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/conformance $(PYTEST_FLAGS) \
	    $(if $(TRACK),--track $(TRACK)) $(if $(PROGRAM),--program $(PROGRAM))

# Each track is concurrent only in its own way (strace), and every program
# releases what it took (valgrind).
tracks-test: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/tracks $(PYTEST_FLAGS)

# The sanitizer builds through the unit tests and the conformance suite:
# ASan+UBSan for everything, TSan for the threads track.
test-san:
	$(MAKE) --no-print-directory SAN=address BUILD=build-address unit conformance
	$(MAKE) --no-print-directory SAN=thread BUILD=build-thread conformance \
	    TRACK=blocking-threads

mutants-test: all mutants
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/mutants $(PYTEST_FLAGS)

# The kit's own rules: tracks.list is read one way (by make and by
# harness/tracks.py alike), and a new program is one line there plus its
# own files.
.PHONY: kit-test
test: kit-test
kit-test: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/kit $(PYTEST_FLAGS)

clean:
	rm -rf build build-*

# Formatting is checked by a tool, not by review (.clang-format at the top):
# `make format` rewrites the kit's C files in place, `make format-check`
# names the files that differ and fails if any does. Every .c and .h of the
# kit, wherever it lives, except in build folders and dist/.
.PHONY: format format-check
CLANG_FORMAT ?= clang-format
FORMAT_SRCS = $(shell find . \( -name 'build' -o -name 'build-*' \
                  -o -name dist -o -name .git \) -prune \
                  -o -type f -name '*.[ch]' -print | sort)

format: check-deps
	$(say) FORMAT "$(words $(FORMAT_SRCS)) C files"
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check: check-deps
	$(say) CHECK "the format of $(words $(FORMAT_SRCS)) C files"
	$(Q)$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRCS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# Lecture demos and lessons
#
#   make demo               every scene: each version's timeline side by side
#   make demo DEMO=timeout  one scene (timeout, select, pause)
#   make test-lessons       the lessons' code excerpts match the sources, and
#                           the tests of the lesson tool and of the demo pass

DEMO ?=

.PHONY: demo test-lessons

demo: all mutants
	@KIT_BUILD=$(BUILD) $(PYTHON) -m demo.demo $(DEMO)

test-lessons: all mutants
	$(PYTHON) lessons/excerpts.py --check
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/lessons tests/demo $(PYTEST_FLAGS)
	$(PYTHON) -m pytest tests/conformance/test_fetch_line.py $(PYTEST_FLAGS) \
	    --exe $(BUILD)/lessons/examples/poll/fetch-line \
	    --contract fetch-line --name fetch-line

# ---------------------------------------------------------------------------
# The lessons as a web site, and a slide deck per lesson (lessons/site.py)
#
#   make site        build/site/index.html: the lessons, the demo timelines
#                    and the excerpts, navigable; build/site/slides/ the decks
#   make test-site   open every page in headless Chromium: no missing image,
#                    no broken link (tests/site)
#
# Not part of `make test`: pandoc and chromium are large packages that only
# these two targets need. Run as root, they install what is missing;
# otherwise they print the apt-get line to run.

SITE_PACKAGES := pandoc
TEST_SITE_PACKAGES := pandoc chromium

define need_packages
missing=""; for p in $(1); do \
    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
        grep -q "install ok installed" || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
    if [ "$$(id -u)" -eq 0 ]; then \
        echo "make $@: installing:$$missing"; \
        export DEBIAN_FRONTEND=noninteractive; apt-get update -q && \
        apt-get install -y -q --no-install-recommends $$missing || exit 1; \
    else \
        echo "make $@ needs these Debian packages:$$missing" >&2; \
        echo "    sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
        exit 1; \
    fi; \
fi
endef

.PHONY: site test-site

site: all mutants
	@$(call need_packages,$(SITE_PACKAGES))
	@for scene in $$($(PYTHON) -c 'from demo.demo import SCENES; print(*SCENES)'); do \
	    [ -f $(BUILD)/demo/$$scene.svg ] || \
	    KIT_BUILD=$(BUILD) $(PYTHON) -m demo.demo --plain $$scene >/dev/null \
	    || exit 1; done
	KIT_BUILD=$(BUILD) $(PYTHON) -m lessons.site --out $(BUILD)/site

test-site: site
	@$(call need_packages,$(TEST_SITE_PACKAGES))
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/site $(PYTEST_FLAGS)

# ---------------------------------------------------------------------------
# The grader (grader/README.md)
#
#   make grade TRACK=t SUBMISSION=path        grade one submission
#   make grade TRACK=t BATCH=dir [JOBS=2]     grade a class (gradebook.csv)
#   make test-grader                          the grader's own tests (minutes)
#   make starter                              the student kit in dist/starter/
#   make gradescope TRACK=t                   dist/gradescope-autograder.zip

.PHONY: grade test-grader grader-quick starter gradescope

grade: check-deps
	@test -n "$(TRACK)" || { echo "make grade needs TRACK=..." >&2; exit 2; }
	$(PYTHON) grader/grade --track $(TRACK) \
	    $(if $(BATCH),--batch $(BATCH) --jobs $(or $(JOBS),1),$(SUBMISSION)) \
	    $(if $(PROGRAM),--program $(PROGRAM)) $(if $(OUT),--out $(OUT))

test-grader: check-deps
	$(PYTHON) -m pytest tests/grader $(PYTEST_FLAGS)

# The grader's quick tests (rubric, starter markers, hostile programs:
# under a minute) are part of `make test`; the slow ones are test-grader's.
test: grader-quick
grader-quick: check-deps
	$(PYTHON) -m pytest tests/grader -m "not slow" $(PYTEST_FLAGS)

starter:
	$(PYTHON) grader/make-starter dist/starter
	$(MAKE) -C dist/starter --no-print-directory

gradescope:
	$(PYTHON) grader/make-gradescope $(or $(TRACK),blocking-threads) \
	    dist/gradescope-autograder.zip

# ---------------------------------------------------------------------------
# Benchmark (bench/README.md). The full runs are not part of `make test`:
# timings on a shared machine are noisy; `make test` runs the quick one.
#
#   make bench              every program of every track and the ceiling
#                           program, in one run (a few minutes): a table,
#                           build/bench/results.json and SVG plots
#   make bench ARGS='--exe PATH --contract C'   your program among them
#   make bench-lesson       the same run, written to lessons/data/bench.json,
#                           and lesson 08's tables made from it
#   make bench-test         the bench's own test (a --quick run)
#
# The plots need matplotlib (python3-matplotlib); run as root, make bench
# installs it, otherwise it prints the apt-get line to run.

BENCH_PACKAGES := python3-matplotlib
CEILING := $(BUILD)/bench/ceiling

.PHONY: bench bench-lesson bench-test

all: $(CEILING)

$(CEILING): bench/ceiling.c | check-deps
	$(say) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $< -o $@

bench: all
	@$(call need_packages,$(BENCH_PACKAGES))
	KIT_BUILD=$(BUILD) $(PYTHON) -m bench.bench $(ARGS)

bench-lesson: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m bench.bench --no-plots \
	    --json lessons/data/bench.json $(ARGS)
	$(PYTHON) -m lessons.numbers --update

test: bench-test
bench-test: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/bench $(PYTEST_FLAGS)
