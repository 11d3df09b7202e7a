# Make driver for the Open vSwitch build tree, run by ovs/CMakeLists.txt as
# `make -f ovs-build.mk dpx-ovs` inside OVS's own build directory.
#
# It includes OVS's generated Makefile, so every variable below is OVS's own
# (object lists, libraries, the libraries configure found), and builds only
# what our ovs-vswitchd links: the generated headers, libopenvswitch,
# libofproto, libsflow and the three vswitchd objects. Not the stock
# ovs-vswitchd, not ovsdb, not the utilities, not the tests.
DPX_OVS_MK := $(abspath $(firstword $(MAKEFILE_LIST)))
include Makefile

# OVS lists its libraries' dependencies as libtool archives (lib/foo.la);
# the static archive libtool builds for lib/foo.la is lib/.libs/foo.a.
dpx_la_to_a = $(foreach l,$(1),$(if $(filter %.la,$(l)),$(abs_top_builddir)/$(dir $(l)).libs/$(basename $(notdir $(l))).a,$(l)))

DPX_OVS_OBJECTS = $(addprefix $(abs_top_builddir)/,$(vswitchd_ovs_vswitchd_OBJECTS))
DPX_OVS_LIBS = \
	$(call dpx_la_to_a,$(vswitchd_ovs_vswitchd_LDADD)) \
	$(call dpx_la_to_a,$(ofproto_libofproto_la_LIBADD)) \
	$(call dpx_la_to_a,$(lib_libopenvswitch_la_LIBADD)) \
	$(LIBS)

.PHONY: dpx-ovs dpx-built-sources
# BUILT_SOURCES (odp-netlink.h, the IDLs) are only built by `make all`, and
# before anything else; named targets need them explicitly, in a first pass,
# so that no object compiles before the headers it includes exist.
dpx-ovs:
	@$(MAKE) -f $(DPX_OVS_MK) dpx-built-sources
	@$(MAKE) -f $(DPX_OVS_MK) dpx-ovs-link.rsp

dpx-built-sources: $(BUILT_SOURCES)

dpx-ovs-link.rsp: $(vswitchd_ovs_vswitchd_OBJECTS) $(vswitchd_ovs_vswitchd_LDADD)
	@# The linker's response file: OVS's objects and archives in libtool's
	@# order, then the system libraries configure chose. Only what `ld`
	@# itself understands (paths, -l, -L), because CMake hands it over as
	@# -Wl,@file.
	@echo $(DPX_OVS_OBJECTS) $(filter-out -pthread,$(DPX_OVS_LIBS)) > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
