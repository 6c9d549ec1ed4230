#!/usr/bin/env bash
# make bench-e2e: the side-by-side benchmark (bench/e2e) writing
# bench/RESULTS.md. Installs wrk, nginx and HAProxy from Debian when missing,
# builds the agent and the driver, and runs it as root. BENCH_QUICK=1 is a
# two-minute smoke run; BENCH_OUT overrides where the results go.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-e2e needs root (network namespaces, BPF): try sudo make bench-e2e" >&2
	exit 1
fi
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench-e2e: installing ${need[*]}"
	apt-get update -qq
	# Debian starts the packaged services; the benchmark runs its own.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	for s in nginx haproxy; do
		if command -v systemctl >/dev/null && systemctl is-active --quiet "$s" 2>/dev/null; then
			systemctl stop "$s" || true
		fi
	done
fi
export PATH=$PATH:/usr/sbin
scripts/deps.sh
mkdir -p bin
go build -o bin/ ./cmd/axon-agent
go build -o bin/bench-e2e ./bench/e2e
args=(--agent bin/axon-agent --out "${BENCH_OUT:-bench/RESULTS.md}")
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	args+=(--quick)
fi
exec bin/bench-e2e "${args[@]}" "$@"
