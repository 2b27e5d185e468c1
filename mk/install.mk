#   make install   [PREFIX=/usr/local] [DESTDIR=]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]   (the same values)
#
# install puts three files under $(DESTDIR)$(PREFIX):
#   lib/libcloexec.so           the preload library
#   bin/cloexec                 the command; it finds ../lib/libcloexec.so
#   share/man/man1/cloexec.1    its man page
# uninstall removes those three files and nothing else: the directories stay,
# since they are shared with other software (and some are standard).
# DESTDIR stages the tree for a package: the files work once the tree is
# copied to PREFIX, and cloexec run from the staged tree finds the staged lib.

INSTALL ?= install
bindir  ?= $(PREFIX)/bin
libdir  ?= $(PREFIX)/lib
man1dir ?= $(PREFIX)/share/man/man1

installed_files = $(DESTDIR)$(libdir)/libcloexec.so \
             $(DESTDIR)$(bindir)/cloexec \
             $(DESTDIR)$(man1dir)/cloexec.1

.PHONY: install uninstall
install: lib
	$(INSTALL) -d '$(DESTDIR)$(libdir)' '$(DESTDIR)$(bindir)' '$(DESTDIR)$(man1dir)'
	$(INSTALL) -m 0644 $(LIB) '$(DESTDIR)$(libdir)/libcloexec.so'
	$(INSTALL) -m 0755 $(BIN) '$(DESTDIR)$(bindir)/cloexec'
	$(INSTALL) -m 0644 man/cloexec.1 '$(DESTDIR)$(man1dir)/cloexec.1'

uninstall:
	rm -f $(foreach f,$(installed_files),'$(f)')
