# The hardening programs (c-harness/hard_*.c; the tests are
# tests/hardening_*.rs). Included by the top-level Makefile, which defines
# CC, HARNESS and LIB; `harness` builds these too.
#
#   make stress   the load test and the signal-handler test at full size,
#                 under the library (the tests run them CI-sized, with their
#                 controls).

HARD_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -pthread
# Linked into each: hard_util (tallies, children, files), common (report
# lines, fatal errors, errno names) and close_range (hard_hostile's seccomp
# rung). exec_entry.h and entry_points.h: the one exec-entry switch and the
# one entry-point list.
HARD_SRC    := c-harness/hard_util.c c-harness/common.c c-harness/close_range.c
HARD_HDRS   := c-harness/hard_util.h c-harness/common.h c-harness/close_range.h \
               c-harness/exec_entry.h c-harness/entry_points.h
HARD_PROGS  := hard_probe hard_stress hard_signal hard_errno hard_hostile

harness: $(addprefix $(HARNESS)/,$(HARD_PROGS))

# Static, like the probe: LD_PRELOAD never loads into it, and it starts fast.
$(HARNESS)/hard_probe: c-harness/hard_probe.c $(HARD_SRC) $(HARD_HDRS) | $(HARNESS)
	$(CC) $(HARD_CFLAGS) -static -o $@ c-harness/hard_probe.c $(HARD_SRC)

$(HARNESS)/hard_%: c-harness/hard_%.c $(HARD_SRC) $(HARD_HDRS) | $(HARNESS)
	$(CC) $(HARD_CFLAGS) -o $@ $< $(HARD_SRC)

HARD_RUN := env LD_PRELOAD=$(abspath $(LIB))

.PHONY: stress
stress: all
	$(HARD_RUN) $(HARNESS)/hard_stress --probe $(abspath $(HARNESS))/hard_probe \
		--fork 2000 --vfork 2000 --spawn 500 --threads 4 --timeout 600
	$(HARD_RUN) $(HARNESS)/hard_signal --probe $(abspath $(HARNESS))/hard_probe \
		--runs 1200 --timeout 20
