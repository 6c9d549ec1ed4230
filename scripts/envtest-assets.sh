#!/usr/bin/env bash
# Builds the etcd and kube-apiserver binaries controller-runtime's envtest
# runs, from the Go module proxy, into a cache outside the repository keyed by
# their versions, and prints that folder (the KUBEBUILDER_ASSETS value) on
# stdout. Skips the build when both binaries are already there, so only the
# first run on a machine pays for it (minutes; later runs take milliseconds).
#
# Both modules carry replace directives, so `go install pkg@version` refuses
# them: each is built from a small wrapper module in a temporary folder
# (docs/webhook.md, "Tests on a real API server").
#
# Usage: KUBEBUILDER_ASSETS=$(scripts/envtest-assets.sh)
set -euo pipefail

k8s_version=${AXON_K8S_VERSION:-1.37.2}
etcd_version=${AXON_ETCD_VERSION:-3.7.3}
cache="${AXON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axon}/envtest"
dest="$cache/k8s-$k8s_version-etcd-$etcd_version"

have() { [[ -x "$dest/etcd" && -x "$dest/kube-apiserver" ]]; }

if have; then
	echo "$dest"
	exit 0
fi

mkdir -p "$cache"
# One build at a time: a second caller waits for the first and reuses it.
exec 9>"$cache/.lock"
flock 9
if have; then
	echo "$dest"
	exit 0
fi

tmp=$(mktemp -d /tmp/axon-envtest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
start=$SECONDS

# etcd: a main that calls etcdmain.Main, as etcd's own main does.
mkdir -p "$tmp/etcd"
cat >"$tmp/etcd/go.mod" <<EOF
module axon.invalid/envtest/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v$etcd_version
EOF
cat >"$tmp/etcd/main.go" <<'EOF'
// Command etcd is etcd's server, built from its Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
echo "envtest-assets: building etcd v$etcd_version" >&2
(cd "$tmp/etcd" && go build -trimpath -ldflags='-s -w' -o "$tmp/out/etcd" .)

# kube-apiserver: k8s.io/kubernetes points every k8s.io/X at ./staging; the
# wrapper points each at the published k8s.io/X v0.(minor).(patch) instead.
mkdir -p "$tmp/kas"
gomod=$(cd "$tmp/kas" && go mod download -json "k8s.io/kubernetes@v$k8s_version" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f "$gomod" ]] || { echo "envtest-assets: no go.mod for k8s.io/kubernetes@v$k8s_version" >&2; exit 1; }
staging="0.${k8s_version#*.}"
{
	printf 'module axon.invalid/envtest/kube-apiserver\n\ngo 1.26.0\n\n'
	printf 'require k8s.io/kubernetes v%s\n\n' "$k8s_version"
	awk -v v="v$staging" '$1 ~ /^k8s\.io\// && $2 == "=>" && $3 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $1, $1, v }' "$gomod"
} >"$tmp/kas/go.mod"
cat >"$tmp/kas/tools.go" <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
minor=${k8s_version#*.}
minor=${minor%%.*}
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=v$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=${k8s_version%%.*}"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
echo "envtest-assets: building kube-apiserver v$k8s_version (a few minutes on a cold cache)" >&2
(cd "$tmp/kas" && go build -trimpath -ldflags="$ldflags" -o "$tmp/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)

"$tmp/out/kube-apiserver" --version >&2
"$tmp/out/etcd" --version | head -1 >&2

# Publish both at once, so a reader never sees half a folder.
rm -rf "$dest.tmp"
mv "$tmp/out" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "envtest-assets: built in $((SECONDS - start)) s into $dest" >&2
echo "$dest"
