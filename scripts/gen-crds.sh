#!/bin/sh
# Regenerates the axon.dev API's deepcopy functions and CRD manifests from the
# Go types in api/ (kubebuilder markers). Run from anywhere; used by
# `make generate`. Never edit the generated files by hand.
set -eu
cd "$(dirname "$0")/.."
go tool controller-gen object paths=./api/...
go tool controller-gen crd paths=./api/... output:crd:artifacts:config=crds
