# The exec-attempts parent (tests/log_attempts.rs). Included by the top-level
# Makefile, which defines CC and HARNESS; HARNESS_CFLAGS and HARNESS_COMMON
# come from harness.mk.

.PHONY: attempts-harness
attempts-harness: $(HARNESS)/attempts
harness: attempts-harness

$(HARNESS)/attempts: c-harness/attempts.c $(HARNESS_COMMON) c-harness/common.h | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -o $@ c-harness/attempts.c $(HARNESS_COMMON)
