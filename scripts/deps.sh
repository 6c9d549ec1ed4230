#!/usr/bin/env bash
# Installs the system packages Axon's build and tests need, when they are
# missing and we are root: clang/llvm 19 and libbpf headers for the BPF
# objects, bpftool, iproute2 and curl for the network tests, nginx (a real
# server for the observer tests), Node.js and HAProxy (servers of the
# evasion suite), prometheus (the real Prometheus the dashboards and alerts
# are proven against; the tests run the binary, not the service), wrk
# (a load generator of make bench) and containerd (imports and runs the
# images of make images).
set -euo pipefail

need=()
command -v clang-19 >/dev/null || need+=(clang-19)
command -v llvm-strip-19 >/dev/null || need+=(llvm-19)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v clang-format-19 >/dev/null || need+=(clang-format-19)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v prometheus >/dev/null || need+=(prometheus)
# Node.js and HAProxy: servers of the evasion suite (test/evasion), whose
# parsers differ from Go's, nginx's and Python's.
command -v node >/dev/null || need+=(nodejs)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# wrk: the second load generator of make bench's observer benchmark.
command -v wrk >/dev/null || need+=(wrk)
# containerd (with runc) imports and runs the images `make images` builds.
command -v containerd >/dev/null || need+=(containerd)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
	exit 1
fi
echo "deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
