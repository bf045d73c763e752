# pglite-oxide: builds one of PostgreSQL's loadable modules for linking into
# the backend instead of as a shared library (WASI has no dlopen; see
# assets/port/dlfcn.c and docs/decisions/0002-core-modules-static.md).
#
# Read after the module's own makefile, by assets/modules/Makefile:
#     make -f Makefile -f module.mk install PGLITE_OUT=<dir> NM=<llvm-nm>
# so that the module's `make install` runs as usual (SQL scripts, control
# files, stop words) with three changes:
# - the objects are compiled without -fPIC, and with the entry points every
#   module defines renamed after the module (Pg_magic_func becomes
#   plpgsql_Pg_magic_func), since all modules share the backend's namespace;
# - "linking the shared library" writes, into PGLITE_OUT, the list of the
#   module's objects and of its global functions, each with the name dlsym()
#   is asked for (the original name for a renamed entry point);
# - the shared library itself is a placeholder file, installed where
#   PostgreSQL looks for the library: dfmgr.c stat()s that file before it
#   calls dlopen() on it.
# The make warning that the recipe for the shared library is overridden is
# expected.

# The functions PostgreSQL looks up by a fixed name in every library.
PGLITE_ENTRY_POINTS = Pg_magic_func _PG_init

CFLAGS_SL =
$(OBJS): override CPPFLAGS += $(foreach f,$(PGLITE_ENTRY_POINTS),-D$(f)=$(NAME)_$(f))

# Written at every run (PostgreSQL's makefiles mark all targets .SECONDARY,
# so a missing file would not be remade).
install: pglite-lists
.PHONY: pglite-lists
pglite-lists: $(OBJS)
	@test -n '$(PGLITE_OUT)' || { echo 'module.mk: PGLITE_OUT is not set' >&2; exit 1; }
	@mkdir -p '$(PGLITE_OUT)'
	echo $(abspath $(OBJS)) > '$(PGLITE_OUT)/$(NAME).objects'
	$(NM) --defined-only --extern-only $(OBJS) | \
		$(AWK) -v prefix=$(NAME)_ -v entries='$(PGLITE_ENTRY_POINTS)' \
		'BEGIN { n = split(entries, e, " "); for (i = 1; i <= n; i++) entry[prefix e[i]] = e[i] } \
		 $$2 == "T" { print (($$3 in entry) ? entry[$$3] : $$3), $$3 }' | \
		LC_ALL=C sort > '$(PGLITE_OUT)/$(NAME).symbols'

$(shlib): $(OBJS)
	echo 'PostgreSQL module $(NAME): linked into postgres.wasm (pglite-oxide).' > $@
