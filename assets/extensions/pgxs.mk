# pglite-oxide: what a PGXS makefile includes (the `--pgxs` of our
# pg_config) when an extension is built for wasm: the extension is built
# as contrib modules are, against the configured tree PGLITE_TOP, whose
# Makefile.global has the compiler and flags of the backend's build; PGXS
# proper would want an installed tree and its pg_config's paths.
undefine PGXS
top_builddir := $(PGLITE_TOP)
include $(top_builddir)/src/Makefile.global
include $(top_srcdir)/contrib/contrib-global.mk
