#!/usr/bin/env bash
# Runs the OPA CLI at the version pinned in go.mod, building it from the Go
# module proxy into a cache outside the repository on first use.
# Usage: scripts/opa.sh test policy/rego
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# The same OPA the compiler links: the version go.mod requires.
version=$(awk '$1 == "github.com/open-policy-agent/opa" { print $2; exit }' "$top/go.mod")
[[ -n "$version" ]] || { echo "opa.sh: no github.com/open-policy-agent/opa in go.mod" >&2; exit 1; }
cache="${AXON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axon}/bin"
bin="$cache/opa-$version"
if [[ ! -x "$bin" ]]; then
	mkdir -p "$cache"
	tmp="$(mktemp -d)"
	echo "building opa $version into $bin" >&2
	# Built outside any module so the repository's go.mod is not touched.
	(cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$tmp" go install "github.com/open-policy-agent/opa@$version")
	mv "$tmp/opa" "$bin.tmp.$$" && mv "$bin.tmp.$$" "$bin"
	rm -rf "$tmp"
fi
exec "$bin" "$@"
