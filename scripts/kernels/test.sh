#!/usr/bin/env bash
# make test-kernels: run Axon's BPF test packages on Debian kernels 5.10, 6.1 and 6.12 under
# QEMU (TCG) and on the host kernel; print a pass/fail table per kernel; exit non-zero if any
# kernel fails.
#
#   scripts/kernels/test.sh [kernelmatrix flags...]     e.g. -v, -kernels 6.1, -run TestX
#
# Environment:
#   AXON_SKIP_KERNELS=1    skip the matrix (exit 0)
#   AXON_KERNELS=...       kernel series, comma-separated (default 5.10,6.1,6.12)
#   AXON_KERNEL_TAGS=...   build tags for the test binaries; "kernelfail" adds the deliberately
#                          kernel-specific verifier failure (docs/kernels.md), so 5.10/6.1 fail
#   AXON_KERNEL_CACHE=...  kernel cache (default ~/.cache/axon/kernels)
set -euo pipefail

if [ "${AXON_SKIP_KERNELS:-0}" = 1 ]; then
	echo "test-kernels: skipped (AXON_SKIP_KERNELS=1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "test-kernels: skipped: needs root (BPF, network namespaces, apt)"
	exit 0
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
kernels="${AXON_KERNELS:-5.10,6.1,6.12}"

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "test-kernels: installing qemu-system-x86" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2; }
fi

"$repo/scripts/kernels/fetch.sh" ${kernels//,/ }

work="$(mktemp -d /tmp/axon-kernels.XXXXXX)"
bin="$work/kernelmatrix"
go build -o "$bin" ./test/kernels/cmd/kernelmatrix
status=0
"$bin" -repo "$repo" -work "$work" -kernels "$kernels" -tags "${AXON_KERNEL_TAGS:-}" "$@" || status=$?
if [ "$status" = 0 ]; then
	rm -rf "$work"
else
	echo "test-kernels: logs kept in $work" >&2
fi
exit "$status"
