# The keep-rule tests' parent (tests/rules.rs). Included by the top-level
# Makefile, which defines CC and HARNESS; HARNESS_CFLAGS and HARNESS_COMMON
# come from harness.mk.

.PHONY: rules-harness
rules-harness: $(HARNESS)/rules_parent
harness: rules-harness

$(HARNESS)/rules_parent: c-harness/rules_parent.c $(HARNESS_COMMON) c-harness/common.h | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -o $@ c-harness/rules_parent.c $(HARNESS_COMMON)

# The fork children and spawning parents of tests/fork_children.rs.
.PHONY: children-harness
children-harness: $(HARNESS)/children
harness: children-harness

$(HARNESS)/children: c-harness/children.c $(HARNESS_COMMON) c-harness/common.h | $(HARNESS)
	$(CC) $(HARNESS_CFLAGS) -o $@ c-harness/children.c $(HARNESS_COMMON)
