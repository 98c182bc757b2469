# gatewayd: build, run, test, package.
#   make          gatewayd and gatewayctl (release, static Swift stdlib) and the example apps
#   make run      build, then serve the Swift hello app with etc/gatewayd.conf
#   make test     install what the tests need, build, run every test
#   make bench    side-by-side benchmark (see docs/performance.md)
#   make deb      the Debian packages gatewayd and gatewayd-wsgi (dpkg-buildpackage)

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

.PHONY: all deps-build run test deps unit integration bench deb test-deb clean fuzz fuzz-smoke

# Optional parts (the WSGI loader) add their rules here.
-include mk/*.mk

all: deps-build $(BIN)/gatewayd $(BIN)/gatewayctl $(APPS)/hello.so $(C_APPS) $(BROKEN) $(APPS)/wsgi.so

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
	rm -rf $(BUILD) .build .build-apps

FORCE:

# libFuzzer on the HTTP parser: `make fuzz FUZZ_SECONDS=600`. The target is
# built from the parser's sources alone with ASan; new inputs go to
# build/fuzz-corpus (the seed corpus in Fuzz/corpus stays as committed).
FUZZ_SECONDS ?= 60
FUZZ_SOURCES := $(wildcard Sources/ServerCore/HTTP/*.swift) Sources/ServerCore/Config/Config.swift \
                Sources/ServerCore/Logging/AccessLogFormat.swift Fuzz/ParserFuzz.swift
$(BUILD)/fuzz-parser: $(FUZZ_SOURCES)
	@mkdir -p $(BUILD)
	swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzParser $(FUZZ_SOURCES) -o $@

# CI: a short run that fails on any crash or split-dependent parse.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SMOKE_SECONDS:-60}

fuzz: $(BUILD)/fuzz-parser
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz-parser -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -artifact_prefix=$(BUILD)/ $(BUILD)/fuzz-corpus Fuzz/corpus
