# mk/wsgi.mk: build/apps/wsgi.so, the WSGI loader (Examples/wsgi/wsgi.c,
# docs/wsgi.md). Included by the top Makefile; on its own:
#   make -f Makefile -f mk/wsgi.mk build/apps/wsgi.so
#
# It embeds the CPython that `$(PYTHON)` is, using the flags its
# python3-config reports (`--includes`, `--ldflags --embed`):
#   make                                  the python3 on PATH
#   make PYTHON=/usr/bin/python3          Debian's python3 (package python3-dev)
#   make PYTHON=/opt/py312/bin/python3.12 any other shared-library CPython >= 3.9
# PYTHON_CONFIG overrides the python3-config to use (default: $(PYTHON)-config,
# or `python3.X-config` next to the interpreter). The Python must be built
# with --enable-shared (a libpython3.X.so): pyenv needs
# PYTHON_CONFIGURE_OPTS=--enable-shared.
#
# All the variables below are expanded only when wsgi.so is built, so an
# unrelated `make` or `make clean` does not run Python.

# Included before the top Makefile's first target: keep its default goal.
WSGI_SAVED_GOAL := $(.DEFAULT_GOAL)

PYTHON        ?= python3
APPS          ?= build/apps
BUILD         ?= build
WSGI_APP      := $(APPS)/wsgi.so
WSGI_SRC      := Examples/wsgi/wsgi.c
# What the .so was last built with: a change of PYTHON rebuilds it.
WSGI_STAMP    := $(BUILD)/wsgi.python

# sys.executable, its LIBDIR, and its python3-config.
WSGI_PY_EXE    = $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
WSGI_PY_LIBDIR = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
WSGI_PY_CONFIG = $(or $(PYTHON_CONFIG),$(shell $(PYTHON) -c 'import sys, os, shutil; \
    v = "python%d.%d-config" % sys.version_info[:2]; \
    c = [os.path.join(os.path.dirname(sys.executable), v), sys.executable + "-config", shutil.which(v) or ""]; \
    print(next((x for x in c if x and os.access(x, os.X_OK)), "python3-config"))'))
# -isystem: warnings in Python's headers are not ours (APP_CFLAGS has -Werror).
WSGI_PY_CFLAGS = $(patsubst -I%,-isystem %,$(shell $(WSGI_PY_CONFIG) --includes))
# An rpath to libpython's directory, so that the .so loads without
# LD_LIBRARY_PATH, except for the system's own library directories.
WSGI_PY_RPATH  = $(if $(filter /usr/lib% /lib%,$(WSGI_PY_LIBDIR)),,-Wl,-rpath,$(WSGI_PY_LIBDIR))
WSGI_PY_LDFLAGS = $(shell $(WSGI_PY_CONFIG) --ldflags --embed)
WSGI_PY_LINK    = $(WSGI_PY_LDFLAGS) $(if $(findstring -rpath,$(WSGI_PY_LDFLAGS)),,$(WSGI_PY_RPATH))
WSGI_CFLAGS   ?= $(or $(APP_CFLAGS),-O2 -fPIC -shared -Wall -Wextra -Werror -ISources/CGateway/include)

$(WSGI_APP): $(WSGI_SRC) Sources/CGateway/include/gateway.h mk/wsgi.mk $(WSGI_STAMP)
	@mkdir -p $(APPS)
	@$(PYTHON) -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else \
	    "wsgi.so: $(PYTHON) has no shared libpython (rebuild it with --enable-shared, or pick another with make PYTHON=...)")'
	$(CC) $(WSGI_CFLAGS) -fvisibility=hidden $(WSGI_PY_CFLAGS) \
	    -DWSGI_PYTHON_EXECUTABLE='"$(WSGI_PY_EXE)"' -o $@ $(WSGI_SRC) $(WSGI_PY_LINK)

# Rewritten only when the interpreter changes.
$(WSGI_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(WSGI_PY_EXE) $(WSGI_PY_CONFIG)' | cmp -s - $@ || echo '$(WSGI_PY_EXE) $(WSGI_PY_CONFIG)' > $@

.PHONY: wsgi
wsgi: $(WSGI_APP)

FORCE:

.DEFAULT_GOAL := $(WSGI_SAVED_GOAL)
