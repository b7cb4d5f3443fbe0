#!/usr/bin/env bash
# Runs every test: unit tests on the fake driver, integration tests on real
# PostgreSQL (a private cluster each test binary starts from the host's
# binaries, or CTPANEL_TEST_DATABASE_URL) and real liblxc containers.
# With CI=true nothing may be skipped for a missing dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
# The web pages' vendored front-end libraries, embedded by the build.
scripts/build-web.sh
go vet ./...
# Under the race detector: the panel is all goroutines (River workers,
# websocket pumps, console sessions); a whole run takes a few minutes on
# two cores, well inside the timeout.
go test -race -count=1 -timeout 30m -p 2 ./...
