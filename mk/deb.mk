# `make deb`: the Debian package, built with dpkg-deb from the data in
# packaging/deb/ (no network, no debhelper). Included by the top-level
# Makefile, which defines LIB and BIN.
#
#   target/deb/libcloexec_VERSION_ARCH.deb
#     /usr/lib/MULTIARCH/libcloexec.so   the preload library
#     /usr/bin/cloexec                   the command (finds ../lib/MULTIARCH/libcloexec.so)
#     /usr/share/man/man1/cloexec.1.gz, /usr/share/man/man5/cloexec.conf.5.gz
#     /usr/share/doc/libcloexec/copyright, changelog.Debian.gz
#     DEBIAN/prerm                       'cloexec system disable' before removal
#     DEBIAN/triggers                    ldconfig, as for any library in the multiarch directory
#
# The version is the changelog's; the architecture, the multiarch triplet and
# the dependencies come from dpkg-architecture and dpkg-shlibdeps.

DEB_DIR       := target/deb
DEB_ROOT      := $(DEB_DIR)/root
DEB_VERSION    = $(shell dpkg-parsechangelog -l packaging/deb/changelog -SVersion)
DEB_ARCH       = $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB_MULTIARCH  = $(shell dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB_FILE       = $(DEB_DIR)/libcloexec_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_DATA      := $(wildcard packaging/deb/*) man/cloexec.1 man/cloexec.conf.5

.PHONY: deb
deb: lib $(DEB_DATA) mk/deb.mk
	rm -rf $(DEB_ROOT) $(DEB_DIR)/shlibs
	install -d $(DEB_ROOT)/DEBIAN $(DEB_ROOT)/usr/bin $(DEB_ROOT)/usr/lib/$(DEB_MULTIARCH) \
		$(DEB_ROOT)/usr/share/man/man1 $(DEB_ROOT)/usr/share/man/man5 \
		$(DEB_ROOT)/usr/share/doc/libcloexec $(DEB_DIR)/shlibs/debian
	install -m 0644 $(LIB) $(DEB_ROOT)/usr/lib/$(DEB_MULTIARCH)/libcloexec.so
	install -m 0755 $(BIN) $(DEB_ROOT)/usr/bin/cloexec
	strip --strip-unneeded --remove-section=.comment --remove-section=.note \
		$(DEB_ROOT)/usr/lib/$(DEB_MULTIARCH)/libcloexec.so $(DEB_ROOT)/usr/bin/cloexec
	gzip -9n < man/cloexec.1 > $(DEB_ROOT)/usr/share/man/man1/cloexec.1.gz
	gzip -9n < man/cloexec.conf.5 > $(DEB_ROOT)/usr/share/man/man5/cloexec.conf.5.gz
	install -m 0644 packaging/deb/copyright $(DEB_ROOT)/usr/share/doc/libcloexec/copyright
	gzip -9n < packaging/deb/changelog > $(DEB_ROOT)/usr/share/doc/libcloexec/changelog.Debian.gz
	chmod 0644 $(DEB_ROOT)/usr/share/man/man*/*.gz $(DEB_ROOT)/usr/share/doc/libcloexec/*
	install -m 0755 packaging/deb/prerm $(DEB_ROOT)/DEBIAN/prerm
	install -m 0644 packaging/deb/triggers $(DEB_ROOT)/DEBIAN/triggers
	cp packaging/deb/shlibs-control $(DEB_DIR)/shlibs/debian/control
	cd $(DEB_DIR)/shlibs && dpkg-shlibdeps -O -e$(abspath $(DEB_ROOT))/usr/bin/cloexec \
		-e$(abspath $(DEB_ROOT))/usr/lib/$(DEB_MULTIARCH)/libcloexec.so \
		| sed -n 's/^shlibs:Depends=//p' > depends
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)/" \
		-e "s/@DEPENDS@/$$(cat $(DEB_DIR)/shlibs/depends)/" \
		packaging/deb/control.in > $(DEB_ROOT)/DEBIAN/control
	cd $(DEB_ROOT) && find usr -type f -exec md5sum {} + | sort -k2 > DEBIAN/md5sums
	chmod 0644 $(DEB_ROOT)/DEBIAN/control $(DEB_ROOT)/DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB_FILE)
	@echo "built $(DEB_FILE)"
