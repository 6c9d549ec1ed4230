#!/usr/bin/env bash
# Runs promtool from the Prometheus Go module at a pinned version, building it
# from the Go module proxy into a cache outside the repository on first use
# (as scripts/opa.sh does for OPA). Usage: scripts/promtool.sh check metrics < metrics.txt
set -euo pipefail
# Prometheus v3.x is Go module version v0.3xx; bump deliberately.
version=v0.316.0
cache="${AXON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axon}/bin"
bin="$cache/promtool-$version"
if [[ ! -x "$bin" ]]; then
	mkdir -p "$cache"
	tmp="$(mktemp -d)"
	echo "building promtool $version into $bin" >&2
	# Built outside any module so the repository's go.mod is not touched.
	(cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$tmp" go install "github.com/prometheus/prometheus/cmd/promtool@$version")
	mv "$tmp/promtool" "$bin.tmp.$$" && mv "$bin.tmp.$$" "$bin"
	rm -rf "$tmp"
fi
exec "$bin" "$@"
