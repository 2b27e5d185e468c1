# `make compat`: CPython's own regression tests for fds and process creation (test_subprocess,
# test_os, test_posix, test_pty, test_signal, test_asyncio.test_subprocess and the multiprocessing
# tests under fork, forkserver and spawn), run without and with the library and compared test by
# test; fails on any test that passes without it and fails with it (compat/cpython.py).
# Needs Debian's libpython3.11-testsuite (in .ci/packages). COMPAT_ARGS passes options through,
# e.g. `make compat COMPAT_ARGS='--only test_pty --keep'`.
COMPAT_PYTHON ?= /usr/bin/python3
COMPAT_ARGS   ?=

.PHONY: compat
compat: all
	@env -u LD_PRELOAD $(COMPAT_PYTHON) compat/cpython.py --python $(COMPAT_PYTHON) --lib $(CURDIR)/$(LIB) $(COMPAT_ARGS)
