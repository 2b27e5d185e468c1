# owned by the install/wrapper work (issue 4)
.PHONY: install uninstall
install:
uninstall:
