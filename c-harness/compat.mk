# The C programs of the compatibility matrix (tests/compat_c.rs,
# tests/compat_tools.rs). Included by the top-level Makefile, which defines
# CC and HARNESS; `harness` builds these too.
#
# compat_parent_musl is the same parent linked dynamically against musl
# (Debian's musl-tools); it is built only where musl-gcc is installed, and
# the musl test requires it.

COMPAT_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE
COMPAT_DEPS   := c-harness/common.c c-harness/common.h
MUSL_GCC      := $(shell command -v musl-gcc 2>/dev/null)

harness: $(HARNESS)/compat_parent $(HARNESS)/compat_child
ifneq ($(MUSL_GCC),)
harness: $(HARNESS)/compat_parent_musl
endif

$(HARNESS)/compat_parent: c-harness/compat_parent.c $(COMPAT_DEPS) | $(HARNESS)
	$(CC) $(COMPAT_CFLAGS) -o $@ c-harness/compat_parent.c c-harness/common.c

$(HARNESS)/compat_parent_musl: c-harness/compat_parent.c $(COMPAT_DEPS) | $(HARNESS)
	$(MUSL_GCC) $(COMPAT_CFLAGS) -o $@ c-harness/compat_parent.c c-harness/common.c

# Static, like the probe: it only observes.
$(HARNESS)/compat_child: c-harness/compat_child.c $(COMPAT_DEPS) | $(HARNESS)
	$(CC) $(COMPAT_CFLAGS) -static -o $@ c-harness/compat_child.c c-harness/common.c
