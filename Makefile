# libcloexec — build, test, install.
# `make` builds the preload library, the `cloexec` command and the C harness.

CARGO    ?= cargo
CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=

LIB      := target/release/libcloexec.so
BIN      := target/release/cloexec
HARNESS  := target/harness

.PHONY: all lib harness test clean
.DEFAULT_GOAL := all

all: lib harness

lib:
	$(CARGO) build --release --locked

include c-harness/harness.mk
include c-harness/hardening.mk
include c-harness/compat.mk
include c-harness/rules.mk
include c-harness/attempts.mk
include mk/install.mk
include mk/deb.mk
include mk/demo.mk
include mk/bench.mk
include mk/compat.mk

# Unit and property tests of the pure modules, then the integration tests,
# which drive the harness and real programs under LD_PRELOAD.
test: all bench-build
	$(CARGO) test --release --locked

clean:
	$(CARGO) clean
