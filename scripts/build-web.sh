#!/usr/bin/env bash
# Builds web/static/vendor/ from npm: the front-end libraries of the web
# pages (xterm.js and its fit addon, uPlot for charts), pinned by web/package-lock.json and
# embedded into the binary by go build. Run before go build, vet or test.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
	echo "build-web: npm is missing: run scripts/install-deps.sh (Debian's nodejs and npm)" >&2
	exit 1
fi
# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

# Staged outside static/ (go:embed would take a half-made copy) in a
# directory of this run's own, then synced in: files that did not change
# are not touched, so a build or test running meanwhile sees whole files.
vendor=static/vendor
stage=$(mktemp -d .vendor-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
mkdir -p "$stage/xterm"
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css \
	node_modules/@xterm/xterm/LICENSE "$stage/xterm/"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$stage/xterm/"
mkdir -p "$stage/uplot"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \
	node_modules/uplot/LICENSE "$stage/uplot/"
mkdir -p "$vendor"
rsync -a --delete --checksum "$stage/" "$vendor/"
