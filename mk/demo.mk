# `make demo`: the leak story, live. A small reloading server that leaks a log file and a socket on
# every os.execv runs without and then with the library (demo/reload_demo.py), and so does a real
# CherryPy app under CherryPy's autoreloader (demo/cherrypy_demo.py; CherryPy is pip-installed into
# target/demo-venv, and that part is skipped, with a note, when pip cannot reach the registry).
# It ends with `cloexec report` over the log of the reloading server's run with the library.
DEMO_PYTHON := /usr/bin/python3

.PHONY: demo
demo: all
	@env -u LD_PRELOAD $(DEMO_PYTHON) demo/reload_demo.py --lib $(CURDIR)/$(LIB) --save-log target/demo-reload.log
	@env -u LD_PRELOAD $(DEMO_PYTHON) demo/cherrypy_demo.py --lib $(CURDIR)/$(LIB)
	@echo "== the report of demo 1's log: cloexec report target/demo-reload.log =="
	@$(BIN) report target/demo-reload.log
