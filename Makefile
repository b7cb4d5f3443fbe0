# The two commands: `make run` and `make test` (both as root, on Debian 12 or
# Ubuntu). They install whatever is missing first.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

BIN := bin/ctpanel
COUNT ?= 50
# Containers in flight at once; empty is the benchmark's default, the
# host's CPU count (as lxd-benchmark).
PARALLEL ?=

.PHONY: all deps build run test test-cgroup2 bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	scripts/build-web.sh
	go build -o $(BIN) ./cmd/ctpanel

# Starts the panel on http://127.0.0.1:8080 with its own PostgreSQL under
# /var/lib/ctpanel unless CTPANEL_DATABASE_URL says otherwise.
run: build
	./$(BIN) serve

test: deps
	scripts/test.sh

# The cgroup v2 lane: the tests that differ between cgroup v1 and v2, run
# in a Debian 12 virtual machine (cgroup v2 only) under qemu; the disk image
# is built once and cached in /var/cache/ctpanel-vm.
test-cgroup2: deps
	scripts/build-web.sh
	scripts/cgroup2-vm.sh

# Lifecycle benchmark: the panel's REST API next to raw liblxc, same run;
# then the console benchmark: shell echo latency and cat throughput over the
# websocket next to lxc-attach (-console=false skips it).
bench: deps
	scripts/build-web.sh
	go run ./cmd/ctpanel-bench -count $(COUNT) $(if $(PARALLEL),-parallel $(PARALLEL))

clean:
	rm -rf bin
