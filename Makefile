# gatewayd: build, run, test, package.
#   make          gatewayd and gatewayctl (release, static Swift stdlib) and the example apps
#   make run      build, then serve the Swift hello app with etc/gatewayd.conf
#   make test     install what the tests need, build, run every test
#   make bench    side-by-side benchmark (see docs/performance.md)
#   make deb      the Debian packages gatewayd and gatewayd-wsgi (dpkg-buildpackage)
#   make wheel    dist/gatewayd-*.whl: pip install gatewayd, for the Python that runs it
#   make wheels   dist/: one wheel per CPython 3.X found (pyenv's, /usr/bin/python3, ...)

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

C_APPS     := $(APPS)/hello-c.so $(APPS)/testapp.so $(APPS)/hostile.so
BROKEN     := $(APPS)/broken-nosymbol.so $(APPS)/broken-badabi.so $(APPS)/broken-nocall.so \
              $(APPS)/broken-initfail.so $(APPS)/broken-crashinit.so

.PHONY: all deps-build run test deps unit integration tsan bench deb test-deb clean fuzz fuzz-smoke \
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

# The Swift example apps are packages of their own (Examples/hello,
# Examples/todo), depending on this one by path as an app author's package
# does (docs/swift-sdk.md): the root package exports only the daemon and the
# SDK, so an app may use any name. Each has its scratch path under
# .build-apps. Each .so is self-contained (its own static Swift runtime), so
# it loads into any gatewayd, packaged or not.
EXAMPLE = $(RELEASE) --package-path Examples/$(1) --scratch-path .build-apps/$(1)

# The Swift hello app (Examples/hello), the benchmark of the SDK.
$(APPS)/hello.so: FORCE
	@mkdir -p $(APPS)
	$(call EXAMPLE,hello) --product hello -Xswiftc -static-stdlib
	install -m 755 "$$($(call EXAMPLE,hello) --show-bin-path)/libhello.so" $@

# The todo JSON API (Examples/todo): the SDK with GatewayJSON (FoundationEssentials)
# and GatewayLogging.
$(APPS)/todo.so: FORCE
	@mkdir -p $(APPS)
	$(call EXAMPLE,todo) --product todo -Xswiftc -static-stdlib
	install -m 755 "$$($(call EXAMPLE,todo) --show-bin-path)/libtodo.so" $@

$(APPS)/hello-c.so: Examples/hello-c/hello.c Sources/CGateway/include/gateway.h
	@mkdir -p $(APPS)
	$(CC) $(APP_CFLAGS) -o $@ $<

$(APPS)/testapp.so: Examples/testapp/testapp.c Sources/CGateway/include/gateway.h
	@mkdir -p $(APPS)
	$(CC) $(APP_CFLAGS) -o $@ $<

# An app that tries what a compromised one would (exec, ptrace, mount...):
# for the sandbox's tests only (Tests/integration/test_sandbox.py).
$(APPS)/hostile.so: Examples/hostile/hostile.c Sources/CGateway/include/gateway.h
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
test: deps all unit integration tsan fuzz-smoke test-deb

# The root package's tests, then the todo example's (its own package).
unit:
	$(SWIFT) test
	$(SWIFT) test --package-path Examples/todo --scratch-path .build-apps/todo

integration: all
	python3 -m pytest -q Tests/integration

# The worker's threads under ThreadSanitizer: the worker's RequestLoop with
# 1, 2 and 4 app threads, in the test process (no fork: a forked Swift
# process under TSan deadlocks in the runtime's lazy initialisation), on
# real sockets with a mixed load (keep-alive, bodies held and spooled,
# requests waiting for a thread, new connections taken while every thread
# is busy). A data race makes TSan exit non-zero,
# which fails the target (Tests/ServerCoreTests/LoopThreadsTests.swift).
tsan:
	$(SWIFT) test --sanitize thread --scratch-path .build-tsan --filter LoopThreadsTests

bench: deps
	@bash bench/run.sh

# The hostile and test apps run under the unit in the booted container.
test-deb: $(APPS)/hostile.so $(APPS)/testapp.so
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
WIRE_SOURCES := $(shell find Sources/GatewayWire -name "*.swift" | sort)
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
# $(APPS)/wsgi.so and $(APPS)/wsgi-python3.X.so from Sources/WSGILoader/*.c
# (boot.h and wsgi.h say which file does what; docs/wsgi.md is for users):
#   wsgi.so             boot.c, venv.c: no Python headers, no libpython. In
#                       the worker it asks the Python to serve with (the
#                       virtualenv's) for its sysconfig and dlopens that
#                       install's libpython, or refuses another X.Y
#   wsgi-python3.X.so   the rest, compiled with the headers of $(PYTHON)
#                       (they fix the ABI of its X.Y), not linked against
#                       libpython: it serves with any shared install of X.Y
#   make                                  the python3 on PATH
#   make PYTHON=/usr/bin/python3          Debian's python3 (package python3-dev)
#   make PYTHON=/opt/py312/bin/python3.12 any other CPython >= 3.9 with its headers
# $(PYTHON) is also the default Python of the loader, the one it serves with
# when there is no virtualenv (the .deb's /usr/bin/python3).
#
# The variables below are expanded only when wsgi.so is built, so an
# unrelated `make` or `make clean` does not run Python.

PYTHON        ?= python3
WSGI_APP      := $(APPS)/wsgi.so
WSGI_DIR      := Sources/WSGILoader
WSGI_BOOT_SRC := $(WSGI_DIR)/boot.c $(WSGI_DIR)/venv.c
WSGI_SRC      := $(filter-out $(WSGI_BOOT_SRC),$(wildcard $(WSGI_DIR)/*.c))
# What the .so was last built with: a change of PYTHON rebuilds it.
WSGI_STAMP    := $(BUILD)/wsgi.python

# One run of $(PYTHON), the first time a WSGI_PY_* is used: sys.executable,
# X.Y, ABI flags, version, shared libpython, the headers' directories.
WSGI_PY_INFO = $(eval WSGI_PY_INFO := $(shell $(PYTHON) -c 'import os, sys, sysconfig as s; \
    p = s.get_paths(); print(sys.executable, "%d.%d" % sys.version_info[:2], "abi:" + sys.abiflags, \
    sys.version.split()[0], s.get_config_var("Py_ENABLE_SHARED") or 0, sys.implementation.name, \
    int(os.path.exists(os.path.join(p["include"], "Python.h"))), p["include"], p["platinclude"])'))$(WSGI_PY_INFO)
WSGI_PY_EXE      = $(word 1,$(WSGI_PY_INFO))
WSGI_PY_VERSION  = $(word 2,$(WSGI_PY_INFO))
WSGI_PY_ABIFLAGS = $(patsubst abi:%,%,$(word 3,$(WSGI_PY_INFO)))
WSGI_PY_FULL     = $(word 4,$(WSGI_PY_INFO))
WSGI_PY_SHARED   = $(word 5,$(WSGI_PY_INFO))
WSGI_PY_IMPL     = $(word 6,$(WSGI_PY_INFO))
WSGI_PY_HEADERS  = $(word 7,$(WSGI_PY_INFO))
# -isystem: warnings in Python's headers are not ours (APP_CFLAGS has -Werror).
WSGI_PY_CFLAGS   = $(addprefix -isystem ,$(sort $(wordlist 8,9,$(WSGI_PY_INFO))))
WSGI_PY_HALF     = $(dir $(WSGI_APP))wsgi-python$(WSGI_PY_VERSION)$(WSGI_PY_ABIFLAGS).so

# One compiler run per file: -fvisibility=hidden leaves boot.c's gateway_app
# and gateway_dump_stack, and the half's wsgi_python_app and
# wsgi_python_dump_stack, the only exported symbols. The half's Py* symbols
# stay undefined: wsgi.so loads a libpython RTLD_GLOBAL before it.
$(WSGI_APP): $(WSGI_SRC) $(WSGI_BOOT_SRC) $(WSGI_DIR)/wsgi.h $(WSGI_DIR)/boot.h \
             Sources/CGateway/include/gateway.h $(WSGI_STAMP)
	@mkdir -p $(dir $@)
	@[ "$(WSGI_PY_IMPL)" = cpython ] || { echo "wsgi.so: $(PYTHON) is not a CPython (make PYTHON=...)" >&2; exit 1; }
	@[ "$(WSGI_PY_HEADERS)" = 1 ] || { echo "wsgi.so: $(PYTHON) has no headers (Python.h): apt-get install python3-dev, or pick another with make PYTHON=..." >&2; exit 1; }
	@[ "$(WSGI_PY_SHARED)" = 1 ] || echo "wsgi.so: note: $(PYTHON) has no shared libpython: the loader is built, but serves only with installs of $(WSGI_PY_VERSION) that have one" >&2
	rm -f $(dir $@)wsgi-python*.so
	$(CC) $(APP_CFLAGS) -fvisibility=hidden $(WSGI_PY_CFLAGS) -o $(WSGI_PY_HALF) $(WSGI_SRC)
	$(CC) $(APP_CFLAGS) -fvisibility=hidden -DWSGI_PY_VERSION='"$(WSGI_PY_VERSION)"' \
	    -DWSGI_PY_ABIFLAGS='"$(WSGI_PY_ABIFLAGS)"' -DWSGI_PYTHON_EXECUTABLE='"$(WSGI_PY_EXE)"' \
	    -DWSGI_PYTHON_BUILT='"Python $(WSGI_PY_FULL), $(WSGI_PY_EXE)"' -o $@ $(WSGI_BOOT_SRC)

# Rewritten only when the interpreter changes.
$(WSGI_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(WSGI_PY_EXE) $(WSGI_PY_FULL)' | cmp -s - $@ || echo '$(WSGI_PY_EXE) $(WSGI_PY_FULL)' > $@

wsgi: $(WSGI_APP)

# ------------------------------------------------------------------ the wheels
# dist/gatewayd-<version>-cpXY-cpXY-manylinux_2_N_<arch>.whl for `pip install`:
# gatewayd and gatewayctl (bin/), wsgi.so and wsgi-python3.X.so (lib/gatewayd/,
# where gatewayd looks next to itself), tagged for what they need
# (scripts/wheel.py says how).
#   make wheel    one wheel, for $(PYTHON) (the python3 on PATH); the only
#                 gatewayd wheel left in dist/
#   make wheels   one wheel per CPython X.Y found (>= 3.9: pyenv's versions
#                 under $PYENV_ROOT or `pyenv root`, /usr/bin/python3,
#                 /usr/local/bin/python3, python3 on PATH; each X.Y built with
#                 its oldest install), replacing dist/'s gatewayd wheels.
#                 gatewayd and gatewayctl are the same in all; the loader is
#                 built per version, in build/wheels/cpXY/.
.PHONY: wheels
DIST ?= dist
WHEELS_BUILD := $(BUILD)/wheels
wheel: $(BIN)/gatewayd $(BIN)/gatewayctl $(WSGI_APP)
	$(PYTHON) scripts/wheel.py --bin $(BIN)/gatewayd --ctl $(BIN)/gatewayctl --loader $(WSGI_APP) --out $(DIST) \
	    --cache $(WHEELS_BUILD)

wheels: $(BIN)/gatewayd $(BIN)/gatewayctl
	@pys="$$(python3 scripts/wheel.py --find-pythons)" && [ -n "$$pys" ] || \
	    { echo "wheels: no CPython >= 3.9 with its headers found" >&2; exit 1; }; \
	mkdir -p $(DIST) && rm -f $(DIST)/gatewayd-*.whl; \
	for py in $$pys; do \
	    tag=$$($$py -c 'import sys; print("cp%d%d%s" % (sys.version_info[:2] + (sys.abiflags,)))') && \
	    $(MAKE) --no-print-directory $(WHEELS_BUILD)/$$tag/wsgi.so APPS=$(WHEELS_BUILD)/$$tag \
	        WSGI_STAMP=$(WHEELS_BUILD)/$$tag/python PYTHON=$$py && \
	    $$py scripts/wheel.py --bin $(BIN)/gatewayd --ctl $(BIN)/gatewayctl \
	        --loader $(WHEELS_BUILD)/$$tag/wsgi.so --out $(DIST) --keep --cache $(WHEELS_BUILD) || exit 1; \
	done
