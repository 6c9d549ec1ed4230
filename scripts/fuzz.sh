#!/usr/bin/env bash
# Runs every Go fuzz target for FUZZTIME each (default 1m), one after another
# with one worker: the BPF targets need root, and the machine's cores are
# shared. Their corpus (testdata/fuzz and the f.Add seeds) runs in every
# plain `go test`, hence in `make test`. A failure is written to the
# package's testdata/fuzz: commit it with the fix as a regression seed.
set -euo pipefail

fuzztime=${FUZZTIME:-1m}
targets=(
	"./agent/datapath FuzzRequestSegments"  # request bytes through prog.Run in random segments vs table.DecideBounded
	"./agent/datapath FuzzCanonicalPath"    # canonical path: Go vs Rego vs the kernel's parser
	"./policy/source FuzzLoadFS"            # the policy-folder loader, then the compiler
	"./policy/compiler FuzzRegoModule"      # the Rego front end of the compiler vs OPA
	"./agent/observe FuzzPairEvents"        # the observer's decoding, pairing and counting of a hostile pod's messages
)
cd "$(dirname "$0")/.."
for t in "${targets[@]}"; do
	read -r pkg name _ <<<"$t"
	echo "fuzz: $name ($pkg) for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg"
done
