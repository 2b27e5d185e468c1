# The C harness: programs the integration tests run (see c-harness/README.md).
# Included by the top-level Makefile, which defines CC and HARNESS.

HARNESS_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE
HARNESS_COMMON := c-harness/common.c
HARNESS_HDRS   := c-harness/common.h c-harness/leaky.h c-harness/close_range.h \
                  c-harness/exec_entry.h c-harness/entry_points.h
HARNESS_LEAKY  := c-harness/leaky.c c-harness/entry.c c-harness/stress.c c-harness/seccomp.c \
                  c-harness/close_range.c

.PHONY: harness
harness: $(HARNESS)/probe $(HARNESS)/leaky $(HARNESS)/noproc $(HARNESS)/libempty.so \
         $(HARNESS)/secure

$(HARNESS):
	mkdir -p $@

# Static: LD_PRELOAD never loads into the probe, and it starts even when the
# whole fd table is taken (no shared library to open).
$(HARNESS)/probe: c-harness/probe.c $(HARNESS_COMMON) $(HARNESS_HDRS) | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -static -o $@ c-harness/probe.c $(HARNESS_COMMON)

$(HARNESS)/leaky: $(HARNESS_LEAKY) $(HARNESS_COMMON) $(HARNESS_HDRS) | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -pthread -o $@ $(HARNESS_LEAKY) $(HARNESS_COMMON)

$(HARNESS)/noproc: c-harness/noproc.c $(HARNESS_COMMON) $(HARNESS_HDRS) | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -o $@ c-harness/noproc.c $(HARNESS_COMMON)

# Dynamic and self-contained: tests/secure_exec.rs copies it, makes the copy
# setuid and runs it with the library preloaded.
$(HARNESS)/secure: c-harness/secure.c | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -o $@ c-harness/secure.c

$(HARNESS)/libempty.so: c-harness/empty.c | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -shared -fPIC -o $@ c-harness/empty.c
