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
#   make chaos           the conformance suite under the chaos shim
#   make fuzz            every libFuzzer target for FUZZ_SECONDS (60) each
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

# The chaos shim (chaos/shim.c), and the small fetch-line the chaos check
# is shown on: correct, and two classic mistakes it catches.
CHAOS_VARIANTS := fetch-line fetch-line-ignores-send fetch-line-eintr-fatal
CHAOS_BINS := $(BUILD)/chaos/libchaos.so $(CHAOS_VARIANTS:%=$(BUILD)/chaos/%)

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
# Mutants: tests/mutants/NAME.patch is a known-wrong change to one file of a
# track; it is applied to a copy and built into $(BUILD)/mutants/NAME.
# Most patches change a program's own source. A patch may instead change one
# of a track's modules (async-futures/fut/timer.c, say): it then names the
# program to build with the changed module on a first line of its own,
# "Program: TRACK/PROGRAM", and that program is linked with the patched
# module in place of the original. The student kit has no tests/mutants/,
# so there all of this builds nothing.

MUTANT_PATCHES := $(wildcard tests/mutants/*.patch)
MUTANTS := $(MUTANT_PATCHES:tests/mutants/%.patch=$(BUILD)/mutants/%)
# The file a patch changes, from its "+++ b/TRACK/FILE.c" line.
patch_target = $(shell sed -n 's|^+++ [ab]/\([^[:space:]]*\).*|\1|p' $(1) | head -n 1)
# The program a mutant is: its "Program:" line, else the patched file's.
mutant_file = $(call patch_target,tests/mutants/$(1).patch)
mutant_program = $(or $(shell sed -n 's|^Program: *\([^[:space:]]*\).*|\1|p' \
                   tests/mutants/$(1).patch | head -n 1),$(basename $(call mutant_file,$(1))))
mutant_track = $(firstword $(subst /, ,$(call mutant_file,$(1))))
# A module mutant links the program's own object and the track's modules
# but the patched one; a program mutant links the track's modules.
mutant_objs = $(if $(filter $(basename $(call mutant_file,$(1))),$(call mutant_program,$(1))), \
  $(call track_objs,$(call mutant_track,$(1))), \
  $(BUILD)/obj/$(call mutant_program,$(1)).o \
  $(filter-out $(BUILD)/obj/$(basename $(call mutant_file,$(1))).o, \
    $(call track_objs,$(call mutant_track,$(1)))))

# ---------------------------------------------------------------------------

.PHONY: all deps test unit conformance mutants mutants-test tsan-plain \
        tracks-test test-san check-deps clean help

all: check-deps $(PROGRAMS) $(CHAOS_BINS)

help:
	@sed -n '4,22p' Makefile | sed 's/^# \{0,1\}//'

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

$(BUILD)/mutants/%.o: $(BUILD)/mutants/%.c
	$(say) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -I$(call mutant_track,$*) \
	    -I$(dir $(call mutant_file,$*)) \
	    $(call track_cflags,$(call mutant_track,$*)) -c $< -o $@

$(BUILD)/mutants/%: $(BUILD)/mutants/%.o $(COMMON_OBJS) \
      $$(call mutant_objs,$$*)
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

# LSAN_OPTIONS: a leak inside Criterion's own runner is not the kit's
# (tests/unit/lsan.supp says which, and why).
unit: $(UNIT_BINS) $(PLAIN_BINS)
	@set -e; export LSAN_OPTIONS=suppressions=$(CURDIR)/tests/unit/lsan.supp; \
	for t in $(UNIT_BINS); do \
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
	    $(if $(TRACK),--track $(TRACK)) $(if $(PROGRAM),--program $(PROGRAM)) \
	    $(if $(ARGS),-- $(ARGS))

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

# The student kit has no tests/mutants/ (they quote the solutions): there
# this says so instead of failing.
mutants-test: all mutants
	@if [ -d tests/mutants ]; then \
	    KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/mutants $(PYTEST_FLAGS); \
	else echo "make mutants-test: the mutants are in the instructor's kit" \
	    "only; each lesson names its mistakes and the messages that catch them"; fi

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
#   make grade-me [TRACK=t] [PROGRAM=p]       your own score, from your kit
#   make gradescope TRACK=t                   dist/gradescope-autograder.zip
#   make test-gradescope [TRACK=t]            that zip run as Gradescope runs
#                                             it, on a pristine Debian (root,
#                                             about two minutes)
#   make soak [N=10] [TRACK=t] [PROGRAM=p] [ARGS='-k FL1']
#                                             the conformance suite N times on
#                                             a saturated CPU (slow; ARGS go
#                                             to pytest)

.PHONY: grade test-grader grader-quick starter gradescope test-gradescope \
        soak

grade: check-deps
	@test -n "$(TRACK)" || { echo "make grade needs TRACK=..." >&2; exit 2; }
	PYTHON=$(PYTHON) grader/grade --track $(TRACK) \
	    $(if $(BATCH),--batch $(BATCH) --jobs $(or $(JOBS),1),$(SUBMISSION)) \
	    $(if $(PROGRAM),--program $(PROGRAM)) $(if $(OUT),--out $(OUT))

test-grader: check-deps
	$(PYTHON) -m pytest tests/grader $(PYTEST_FLAGS)

# The grader's quick tests (rubric, starter markers, hostile programs:
# under a minute) are part of `make test`; the slow ones are test-grader's.
test: grader-quick
grader-quick: check-deps
	$(PYTHON) -m pytest tests/grader -m "not slow" $(PYTEST_FLAGS)

# The student kit is made from the built full kit: make-starter records
# the demo's reference columns from its programs and mutants.
starter: all mutants
	KIT_BUILD=$(BUILD) $(PYTHON) grader/make-starter dist/starter
	$(MAKE) -C dist/starter --no-print-directory

# The student kit built from scratch, and what a student runs in it (make,
# make demo, the conformance tests, make grade-me, make test-lessons): about
# half a minute.
.PHONY: test-starter
test: test-starter
test-starter: all mutants
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/starter $(PYTEST_FLAGS)

# A student's own score: the grader run on this kit's own track folders,
# one track (TRACK=...) or all of them, one program (PROGRAM=...) or all.
.PHONY: grade-me
grade-me: all
	@set -e; for t in $(or $(TRACK),$(TRACKS)); do \
	    echo "== $$t"; \
	    PYTHON=$(PYTHON) grader/grade --track $$t $(if $(PROGRAM),--program $(PROGRAM)) \
	        $(GRADE_FLAGS) --out $(BUILD)/grade-me/$$t $$t; done

gradescope:
	$(PYTHON) grader/make-gradescope $(or $(TRACK),blocking-threads) \
	    dist/gradescope-autograder.zip

# It fetches and installs a whole Debian system: about two minutes, with
# Debian's mirror at hand (CI runs it).
test-gradescope:
	$(PYTHON) grader/test-gradescope $(or $(TRACK),blocking-threads)

soak: all
	KIT_BUILD=$(BUILD) $(PYTHON) scripts/soak.py --runs $(or $(N),10) \
	    $(if $(TRACK),--track $(TRACK)) $(if $(PROGRAM),--program $(PROGRAM)) \
	    $(if $(ARGS),-- $(ARGS))

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

# ---------------------------------------------------------------------------
# Chaos: an unkind kernel (chaos/README.md)
#
#   make chaos                  the conformance suite of every track with
#                               the chaos shim loaded (a random seed, shown)
#   make chaos CHAOS_SEED=N     the same faults again (TRACK=, PROGRAM= too)
#
# Then tests/chaos: the shim's own rules, and two classic mistakes that pass
# the plain suite and fail under the shim (chaos/fetch-line.c).
#
# The shim is a preloaded library; it is built without sanitizers in every
# build folder (a sanitized program loads its runtime first, the harness
# sees to that).

.PHONY: chaos

CHAOS_SEED ?=

$(BUILD)/chaos/libchaos.so: chaos/shim.c | check-deps
	$(say) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -g -fPIC -shared -pthread \
	    $< -o $@ -ldl

chaos_define = $(if $(findstring ignores-send,$(1)),-DCHAOS_WRONG_SEND) \
               $(if $(findstring eintr-fatal,$(1)),-DCHAOS_WRONG_EINTR)

$(CHAOS_VARIANTS:%=$(BUILD)/chaos/%): $(BUILD)/chaos/%: chaos/fetch-line.c \
      | check-deps
	$(say) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(call chaos_define,$*) $< -o $@ $(ALL_LDFLAGS)

chaos: all
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/conformance --chaos \
	    $(if $(CHAOS_SEED),--chaos-seed $(CHAOS_SEED)) $(PYTEST_FLAGS) \
	    $(if $(TRACK),--track $(TRACK)) $(if $(PROGRAM),--program $(PROGRAM))
	KIT_BUILD=$(BUILD) $(PYTHON) -m pytest tests/chaos $(PYTEST_FLAGS)

# ---------------------------------------------------------------------------
# Fuzzing with libFuzzer (tests/fuzz/README.md)
#
#   make fuzz                     every target for FUZZ_SECONDS (60) each
#   make fuzz FUZZ_SECONDS=10     a short budget (CI)
#   make fuzz FUZZ=jrec           one target
#
# A crash, a failed property or a sanitizer report fails the run; the input
# that caused it is saved in $(BUILD)/fuzz/crash-TARGET/. New inputs the
# fuzzer finds go to $(BUILD)/fuzz/corpus/TARGET/; the seeds in
# tests/fuzz/corpus/ stay as they are.

.PHONY: fuzz fuzz-build

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ ?= $(FUZZ_TARGETS)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu11 $(WARNINGS) -O1 -g -pthread -Icommon \
              -Iasync-futures $(UV_CFLAGS) $(FUZZ_SAN)
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_COMMON := $(COMMON_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
# The channel target also needs the futures library's core.
FUZZ_FUT := $(FUZZ_DIR)/obj/async-futures/fut/chan.o \
            $(FUZZ_DIR)/obj/async-futures/fut/fut.o

$(FUZZ_DIR)/obj/%.o: %.c | check-deps
	$(say) FUZZCC $<
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzin.h $(FUZZ_COMMON) \
      $(FUZZ_FUT) | check-deps
	$(say) FUZZLD $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< \
	    $(FUZZ_COMMON) $(if $(filter chan,$*),$(FUZZ_FUT) $(UV_LIBS)) -o $@

.SECONDARY: $(FUZZ_COMMON) $(FUZZ_FUT)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	@failed=""; for t in $(FUZZ); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crash-$$t; \
	    log=$(FUZZ_DIR)/fuzz_$$t.log; \
	    printf '  FUZZ    %-6s %s s ... ' $$t $(FUZZ_SECONDS); \
	    if $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t/ \
	        $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$$log 2>&1 && \
	        ! grep -qE 'runtime error:|Sanitizer' $$log; then \
	        execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	        cov=$$(grep -oE 'cov: [0-9]+ ft: [0-9]+' $$log | tail -n 1); \
	        echo "ok: $$execs runs, $$cov"; \
	    else \
	        echo "FAILED (the input is in $(FUZZ_DIR)/crash-$$t/)"; \
	        grep -E 'check failed|ERROR|SUMMARY|runtime error' $$log | \
	            head -n 5; failed="$$failed $$t"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then \
	    echo "make fuzz: failed:$$failed (logs: $(FUZZ_DIR)/fuzz_*.log)"; \
	    exit 1; fi
