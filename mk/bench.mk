# `make bench`: what libcloexec costs, as ratios measured in one run (README,
# "Performance"). Included by the top-level Makefile, which defines CC, LIB
# and HARNESS.
#
#   make bench-build   builds the driver (`make test` depends on it, so it cannot rot)
#   make bench         runs it: a Markdown table on stdout and in target/bench.md
#
# BENCH_SCALE=0.1 make bench   a quick look with fewer repetitions (the table says so).

BENCH_DIR    := target/bench
BENCH_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE
# c-harness/close_range.c: the raw close_range call and the seccomp filter
# that blocks it, shared with the harness.
BENCH_SRC    := bench/main.c bench/driver.c bench/rows.c bench/worker.c bench/stats.c bench/util.c \
                c-harness/close_range.c
BENCH_HDRS   := bench/bench.h c-harness/close_range.h

.PHONY: bench bench-build
bench-build: $(BENCH_DIR)/bench

$(BENCH_DIR):
	mkdir -p $@

$(BENCH_DIR)/bench: $(BENCH_SRC) $(BENCH_HDRS) mk/bench.mk | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRC)

bench: all bench-build
	$(BENCH_DIR)/bench --lib $(abspath $(LIB)) --empty $(abspath $(HARNESS)/libempty.so) \
		--out target/bench.md
