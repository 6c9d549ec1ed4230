package source

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// contentVersion identifies a checked policy by its content: a hash of its
// JSON form, which holds every field (the annotations with the origins
// included). It is computed once per decoding, when a file's bytes changed,
// and lets the compiler skip preparing the policies that did not change
// (compiler.Input.PolicyVersions). "" when the policy cannot be encoded:
// the compiler then prepares it every time.
func contentVersion(p *v1alpha1.L7NetworkPolicy) string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
