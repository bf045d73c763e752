# pglite-oxide: one C module of PostgreSQL's regression tests (regress.so
# from src/test/regress, autoinc.so and refint.so from contrib/spi) built
# for linking into the regress variant of the backend, the way
# assets/modules/module.mk links PostgreSQL's own modules.
#
# `cargo xtask regress` copies this file to
# <build tree>/src/src/test/regress/pglite-<module>/Makefile, names those
# directories in the static module list and reruns the build's
# static-modules and backend steps. The module's name is the directory's,
# without "pglite-"; its one source file is <name>.c in src/test/regress or
# contrib/spi. Never part of the shipped backend.

subdir = src/test/regress/$(notdir $(CURDIR))
top_builddir = ../../../..
include $(top_builddir)/src/Makefile.global

NAME = $(patsubst pglite-%,%,$(notdir $(CURDIR)))
OBJS = $(NAME).o
vpath %.c $(top_srcdir)/src/test/regress $(top_srcdir)/contrib/spi

# As contrib/spi/Makefile builds it: the triggers test expects the notices.
ifeq ($(NAME),refint)
override CPPFLAGS += -DREFINT_VERBOSE
endif

include $(top_srcdir)/src/Makefile.shlib

all: all-lib
install: all-lib installdirs-lib install-lib
