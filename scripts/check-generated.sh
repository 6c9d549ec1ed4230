#!/usr/bin/env bash
# Regenerates every generated file (BPF objects, CRDs, deepcopy, dashboards) in a
# temporary copy of the tree and fails if any differs from what is here, so a
# source change committed without regenerating cannot land.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/axon-gen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The copy lives at the same depth name so paths embedded in objects match.
copy="$tmp/$(basename "$top")"
mkdir -p "$copy"
tar -C "$top" --exclude=./bin --exclude=./.git -cf - . | tar -C "$copy" -xf -
(cd "$copy" && make --no-print-directory generate >/dev/null)

status=0
for dir in bpf test/kernels/verifier api crds config dashboards deploy; do
	[ -d "$top/$dir" ] || continue
	if ! diff -r -q "$top/$dir" "$copy/$dir"; then
		status=1
	fi
done
if [ $status -ne 0 ]; then
	echo "check-generated: generated files are stale; run 'make generate' and commit the result" >&2
	exit 1
fi
echo "check-generated: generated files are current"
