# gatewayd: build, run, test, package.
#   make          gatewayd and gatewayctl (release, static Swift stdlib) and the example apps
#   make run      build, then serve the Swift hello app with etc/gatewayd.conf
#   make test     install what the tests need, build, run every test
#   make bench    side-by-side benchmark (see docs/performance.md)
#   make deb      the Debian packages gatewayd and gatewayd-wsgi (dpkg-buildpackage)
#   make wheel    dist/gatewayd-*.whl: pip install gatewayd, for the Python that runs it

SWIFT      ?= swift
CC         ?= cc
BUILD      := build
APPS       := $(BUILD)/apps
BIN        := $(BUILD)/bin
APP_CFLAGS := -O2 -fPIC -shared -Wall -Wextra -Werror -ISources/CGateway/include
RELEASE    := $(SWIFT) build -c release
# The daemon links the Swift standard library statically: the binary runs
# where no Swift toolchain is installed (the .deb relies on it).
STATIC     := --static-swift-stdlib

C_APPS     := $(APPS)/hello-c.so $(APPS)/testapp.so
BROKEN     := $(APPS)/broken-nosymbol.so $(APPS)/broken-badabi.so $(APPS)/broken-nocall.so \
              $(APPS)/broken-initfail.so $(APPS)/broken-crashinit.so

.PHONY: all deps-build run test deps unit integration bench deb test-deb clean fuzz fuzz-smoke \
        wsgi wheel

# Optional parts may add their rules here.
-include mk/*.mk

all: deps-build $(BIN)/gatewayd $(BIN)/gatewayctl $(APPS)/hello.so $(APPS)/todo.so $(C_APPS) $(BROKEN) $(APPS)/wsgi.so

# What building needs (libsystemd-dev, pkg-config): installed when missing.
deps-build:
	@bash scripts/deps.sh build

$(BIN)/gatewayd: FORCE
	@mkdir -p $(BIN)
	$(RELEASE) $(STATIC) --product gatewayd
	install -m 755 "$$($(RELEASE) $(STATIC) --show-bin-path)/gatewayd" $@

$(BIN)/gatewayctl: $(BIN)/gatewayd
	$(RELEASE) $(STATIC) --product gatewayctl
	install -m 755 "$$($(RELEASE) $(STATIC) --show-bin-path)/gatewayctl" $@

# The Swift hello app, self-contained (its own static Swift runtime), so it
# loads into any gatewayd, packaged or not.
$(APPS)/hello.so: FORCE
	@mkdir -p $(APPS)
	$(RELEASE) --scratch-path .build-apps --product hello -Xswiftc -static-stdlib
	install -m 755 "$$($(RELEASE) --scratch-path .build-apps --show-bin-path)/libhello.so" $@

# The todo JSON API (Examples/todo): the SDK with GatewayJSON (FoundationEssentials)
# and GatewayLogging, self-contained like hello.so.
$(APPS)/todo.so: FORCE
	@mkdir -p $(APPS)
	$(RELEASE) --scratch-path .build-apps --product todo -Xswiftc -static-stdlib
	install -m 755 "$$($(RELEASE) --scratch-path .build-apps --show-bin-path)/libtodo.so" $@

$(APPS)/hello-c.so: Examples/hello-c/hello.c Sources/CGateway/include/gateway.h
	@mkdir -p $(APPS)
	$(CC) $(APP_CFLAGS) -o $@ $<

$(APPS)/testapp.so: Examples/testapp/testapp.c Sources/CGateway/include/gateway.h
	@mkdir -p $(APPS)
	$(CC) $(APP_CFLAGS) -o $@ $<

$(APPS)/broken-%.so: Examples/broken/%.c Sources/CGateway/include/gateway.h
	@mkdir -p $(APPS)
	$(CC) $(APP_CFLAGS) -o $@ $<

run: all
	$(BIN)/gatewayd -c etc/gatewayd.conf

deps:
	@bash scripts/deps.sh

# Every test: unit, integration against the real binary, a fuzz smoke run,
# and the Debian packages installed and exercised, also booted under systemd
# in systemd-nspawn where it can (scripts/test-deb.sh).
test: deps all unit integration fuzz-smoke test-deb

unit:
	$(SWIFT) test

integration: all
	python3 -m pytest -q Tests/integration

bench: deps
	@bash bench/run.sh

test-deb:
	bash scripts/test-deb.sh

deb:
	@bash scripts/deps.sh deb
	dpkg-buildpackage -us -uc -b
	@# gatewayd last: the newest .deb in build/ stays the daemon's.
	@v=$$(dpkg-parsechangelog -SVersion) a=$$(dpkg --print-architecture); mkdir -p $(BUILD) && \
	    cp ../gatewayd-wsgi_$${v}_$$a.deb ../gatewayd_$${v}_$$a.deb $(BUILD)/ && ls -t $(BUILD)/*.deb

clean:
	rm -rf $(BUILD) .build .build-apps dist

FORCE:

# libFuzzer on the wire: `make fuzz FUZZ_SECONDS=600`. Each target is the
# GatewayWire target's sources (the parser, the decoders, the encoder: a
# target that depends on nothing but gateway.h) and one driver, built with
# ASan; new inputs go to build/fuzz-corpus (the seed corpus in Fuzz/corpus
# stays as committed).
FUZZ_SECONDS ?= 60
WIRE_SOURCES := $(wildcard Sources/GatewayWire/*/*.swift)
# gateway.h as the module CGateway, for swiftc without SwiftPM.
FUZZ_MODULES := $(BUILD)/fuzz-modules/module.modulemap
$(FUZZ_MODULES): Sources/CGateway/include/gateway.h
	@mkdir -p $(dir $@)
	printf 'module CGateway {\n    header "%s"\n    export *\n}\n' "$(abspath $<)" > $@
FUZZ_FLAGS := -sanitize=fuzzer,address -parse-as-library -O -package-name gatewayd -I $(BUILD)/fuzz-modules
$(BUILD)/fuzz-parser: $(WIRE_SOURCES) Fuzz/ParserFuzz.swift $(FUZZ_MODULES)
	swiftc $(FUZZ_FLAGS) -module-name FuzzParser $(WIRE_SOURCES) Fuzz/ParserFuzz.swift -o $@

# The uwsgi, SCGI and FastCGI decoders: a target of their own, the same rules.
$(BUILD)/fuzz-protocols: $(WIRE_SOURCES) Fuzz/ProtocolFuzz.swift $(FUZZ_MODULES)
	swiftc $(FUZZ_FLAGS) -module-name FuzzProtocols $(WIRE_SOURCES) Fuzz/ProtocolFuzz.swift -o $@

# CI: a short run that fails on any crash or split-dependent parse.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SMOKE_SECONDS:-60}

# Each target gets FUZZ_SECONDS.
fuzz: $(BUILD)/fuzz-parser $(BUILD)/fuzz-protocols
	@mkdir -p $(BUILD)/fuzz-corpus $(BUILD)/fuzz-protocol-corpus
	$(BUILD)/fuzz-parser -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -artifact_prefix=$(BUILD)/ $(BUILD)/fuzz-corpus Fuzz/corpus
	$(BUILD)/fuzz-protocols -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -artifact_prefix=$(BUILD)/protocols- $(BUILD)/fuzz-protocol-corpus Fuzz/protocol-corpus

# ------------------------------------------------------------ the WSGI loader
# $(APPS)/wsgi.so from Sources/WSGILoader/*.c (wsgi.h says which file does
# what; docs/wsgi.md is for users). It embeds the CPython that $(PYTHON)
# is, with the flags its python3-config reports (--includes, --ldflags --embed):
#   make                                  the python3 on PATH
#   make PYTHON=/usr/bin/python3          Debian's python3 (package python3-dev)
#   make PYTHON=/opt/py312/bin/python3.12 any other shared-library CPython >= 3.9
# PYTHON_CONFIG overrides the python3-config to use (default: $(PYTHON)-config,
# or `python3.X-config` next to the interpreter). The Python must be built
# with --enable-shared (a libpython3.X.so): pyenv needs
# PYTHON_CONFIGURE_OPTS=--enable-shared.
#
# The variables below are expanded only when wsgi.so is built, so an
# unrelated `make` or `make clean` does not run Python.

PYTHON        ?= python3
WSGI_APP      := $(APPS)/wsgi.so
WSGI_DIR      := Sources/WSGILoader
WSGI_SRC      := $(wildcard $(WSGI_DIR)/*.c)
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

# One compiler run over every file: -fvisibility=hidden leaves gateway_app
# the only exported symbol.
$(WSGI_APP): $(WSGI_SRC) $(WSGI_DIR)/wsgi.h Sources/CGateway/include/gateway.h $(WSGI_STAMP)
	@mkdir -p $(APPS)
	@$(PYTHON) -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else \
	    "wsgi.so: $(PYTHON) has no shared libpython (rebuild it with --enable-shared, or pick another with make PYTHON=...)")'
	$(CC) $(APP_CFLAGS) -fvisibility=hidden $(WSGI_PY_CFLAGS) \
	    -DWSGI_PYTHON_EXECUTABLE='"$(WSGI_PY_EXE)"' -DWSGI_PYTHON_LIBDIR='"$(WSGI_PY_LIBDIR)"' -o $@ $(WSGI_SRC) $(WSGI_PY_LINK)

# Rewritten only when the interpreter changes.
$(WSGI_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(WSGI_PY_EXE) $(WSGI_PY_CONFIG)' | cmp -s - $@ || echo '$(WSGI_PY_EXE) $(WSGI_PY_CONFIG)' > $@

wsgi: $(WSGI_APP)

# ------------------------------------------------------------------ the wheel
# dist/gatewayd-<version>-<python>-<abi>-<platform>.whl for `pip install`:
# gatewayd (bin/) and wsgi.so (lib/gatewayd/, where gatewayd looks next to
# itself) built against $(PYTHON), tagged for it (scripts/wheel.py says why).
DIST ?= dist
wheel: $(BIN)/gatewayd $(BIN)/gatewayctl $(WSGI_APP)
	$(PYTHON) scripts/wheel.py --bin $(BIN)/gatewayd --ctl $(BIN)/gatewayctl --loader $(WSGI_APP) --out $(DIST)
