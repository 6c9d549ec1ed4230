#!/bin/sh
# Regenerates the axon.dev API's deepcopy functions and CRD manifests from the
# Go types in api/ (kubebuilder markers), and the webhook's
# ValidatingWebhookConfiguration from the +kubebuilder:webhook markers in
# webhook/, and the controller's ClusterRole from the +kubebuilder:rbac markers
# in controller/. Run from anywhere; used by `make generate`. Never edit the
# generated files by hand.
set -eu
cd "$(dirname "$0")/.."
go tool controller-gen object paths=./api/...
go tool controller-gen crd paths=./api/... output:crd:artifacts:config=crds
go tool controller-gen webhook paths=./webhook/... output:webhook:artifacts:config=config/webhook
go tool controller-gen rbac:roleName=axon-controller paths=./controller/... output:rbac:artifacts:config=config/rbac
