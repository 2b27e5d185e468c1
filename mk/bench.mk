# owned by the benchmark work (issue 5)
.PHONY: bench bench-build
bench-build:
bench: all bench-build
