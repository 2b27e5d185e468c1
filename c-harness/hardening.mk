# owned by the hardening work (issue 6)
.PHONY: stress
stress: all
