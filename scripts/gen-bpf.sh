#!/usr/bin/env bash
# Regenerates the BPF objects and their Go bindings (*_bpfel.{go,o}) with
# bpf2go and clang-19, as the gen.go of each package with BPF C says: the
# datapath in bpf/ and the verifier probes in test/kernels/verifier. The output is reproducible: the
# same sources give byte-identical files (scripts/check-generated.sh relies
# on it).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
for tool in clang-19 llvm-strip-19; do
	command -v "$tool" >/dev/null || { echo "gen-bpf: $tool not found (make deps)" >&2; exit 1; }
done
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "gen-bpf: libbpf headers not found (make deps)" >&2; exit 1; }
cd "$top"
go generate ./bpf/ ./bpf/shared/ ./test/kernels/verifier/
