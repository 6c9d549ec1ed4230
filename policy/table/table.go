package table

import (
	"net/netip"

	"github.com/axon-dev/axon/policy/httppath"

	"github.com/axon-dev/axon/bpf/shared"
)

// This file is the contract between the compiler (which fills a Table), the Go
// reference evaluator (which decides requests from a Table) and the datapath
// (agent/datapath encodes a Table into BPF maps; bpf/ reads them). The
// semantics are in docs/semantics.md. Change the three together.

// RuleID identifies an entry of Table.Rules: Rules[id-1]. Zero means "none".
// IDs follow the sorted order (namespace, policy, rule index), so a lower ID
// is the rule reported when several rules of the same kind match.
type RuleID uint32

// Action is what a rule or a default does with a request: the allow and
// deny verdicts of enum ax_verdict.
type Action uint8

const (
	ActionAllow = Action(shared.SharedAxVerdictAX_VERDICT_ALLOW)
	ActionDeny  = Action(shared.SharedAxVerdictAX_VERDICT_DENY)
)

// Mode says whether a policy decides (Enforce) or only counts (Audit)
// (enum ax_mode).
type Mode uint8

const (
	ModeEnforce = Mode(shared.SharedAxModeAX_MODE_ENFORCE)
	ModeAudit   = Mode(shared.SharedAxModeAX_MODE_AUDIT)
)

// Reserved identities. Pod and CIDR identities start at FirstAllocatedIdentity.
const (
	IdentityNone  uint32 = 0 // never a valid identity
	IdentityWorld uint32 = 1 // an external source no CIDR identity covers
	// FirstAllocatedIdentity is the smallest identity the compiler assigns.
	FirstAllocatedIdentity uint32 = 256
)

// Method IDs. Methods named by some rule get IDs from 1 in Table.Methods;
// MethodUnknown is every other token, MethodAny marks rows of rules without
// `methods`, which the datapath looks up for every request.
const (
	MethodUnknown uint8 = 0
	MethodAny     uint8 = 255
)

// MaxMethodLen is the longest method token a rule may name; the datapath
// keys methods by this many bytes.
const MaxMethodLen = httppath.MaxMethodLen

// MaxPathKey is how many bytes of the path the path trie keys hold. Exact
// patterns are stored with a NUL terminator, so patterns are at most
// MaxPathKey-1 bytes long.
const MaxPathKey = int(shared.SharedAxBoundAX_BOUND_PATH_KEY)

// Table is a compiled policy set: everything the datapath needs to decide a
// request with a handful of map lookups, with all precedence resolved.
// Every slice is sorted so that two compilations of the same input are equal.
type Table struct {
	Rules      []Rule         // Rules[i].ID == RuleID(i+1)
	Identities []Identity     // pod and CIDR identities, by ID
	PodIPs     []PodIP        // known pod IP -> identity, by address
	CIDRs      []CIDRIdentity // external IP -> identity by longest prefix match, by prefix
	Methods    []Method       // method token -> ID, by ID
	Endpoints  []Endpoint     // policed (IP, port), by ID
	Classes    []SourceClass  // (endpoint, identity) -> source class, by endpoint then identity
	Paths      []PathRow      // path trie rows, by endpoint, class, method, prefix
	// Warnings are facts about the input worth telling the user (ignored
	// pods, duplicate IPs); not encoded in the datapath.
	Warnings []string
}

// Rule is one rule of one policy, or a policy's defaultAction (Index -1).
type Rule struct {
	ID        RuleID
	Namespace string
	Policy    string
	Index     int // position in spec.rules; -1 for the policy's defaultAction
	Action    Action
	Mode      Mode
	Origin    string // where it was written: "file.yaml:12" or "policy.rego:7"
}

// Identity is a set of sources that every rule treats alike.
type Identity struct {
	ID        uint32
	Namespace string            // pod identities only
	Labels    map[string]string // pod identities only
	// InCIDRs (pod identities only) are the CIDRs of rules that contain the
	// pod IPs of this identity: a Deny ipBlock matches pods inside it, so
	// pods with the same labels inside and outside a CIDR differ.
	InCIDRs []string
	CIDR    string // CIDR identities: the trie entry it was made for
}

// PodIP maps a known pod's address to its identity.
type PodIP struct {
	Addr     netip.Addr
	Identity uint32
}

// CIDRIdentity is one entry of the external-source LPM trie. For any address,
// the longest matching entry's identity stands for exactly the set of ipBlocks
// containing that address (the compiler inserts every cidr and except).
type CIDRIdentity struct {
	Prefix   netip.Prefix
	Identity uint32
}

// Method is a method token some rule names.
type Method struct {
	Name string
	ID   uint8
}

// Verdict is an action and the rule (or default) it is reported against.
type Verdict struct {
	Action Action
	Rule   RuleID
}

// Endpoint is a policed (pod IP, port).
type Endpoint struct {
	ID        uint32
	Addr      netip.Addr
	Port      uint16
	Namespace string // of the pod
	Pod       string // pod name
	// Enforce is true when at least one Enforce-mode policy protects the
	// endpoint: unparseable traffic is then denied, not only counted.
	Enforce bool
	// EnforceDefault decides when no Enforce-mode rule matches
	// (Action allow, Rule 0 when no Enforce-mode policy protects it).
	EnforceDefault Verdict
	// FullDefault decides when no rule of any mode matches.
	FullDefault Verdict
}

// SourceClass groups, per endpoint, the identities that all of the
// endpoint's rules treat alike. Identities without a row are in class 0.
type SourceClass struct {
	Endpoint uint32
	Identity uint32
	Class    uint16
}

// Match is the lowest matching rule of each action (0 = none). Combining two
// matches takes the lowest non-zero ID per action; deny-overrides makes the
// combination order-free.
type Match struct {
	Deny  RuleID
	Allow RuleID
}

// Combine returns the matches of m and o together.
func (m Match) Combine(o Match) Match {
	return Match{Deny: Lower(m.Deny, o.Deny), Allow: Lower(m.Allow, o.Allow)}
}

// PathRow is one entry of the path trie of (Endpoint, Class, Method). The
// reference evaluator looks up the request's method and MethodAny, takes
// the longest Prefix of each that is a byte prefix of the path key (the
// path, a NUL, then zero padding, cut to MaxPathKey bytes), and combines
// what it finds. The datapath does one lookup: agent/datapath merges
// MethodAny's rows into the trie of every method that has rows of its own,
// and a method without rows is looked up as MethodAny.
//
// Enforce and Audit hold every exact/prefix rule whose pattern covers all paths
// whose longest match is this row; Globs are the glob rules that may match
// such paths and must be tested on the whole path.
type PathRow struct {
	Endpoint uint32
	Class    uint16
	Method   uint8  // a Methods ID or MethodAny
	Prefix   string // byte prefix; exact patterns end in "\x00"; "" matches all
	Enforce  Match
	Audit    Match
	Globs    []Glob
}

// Glob is a glob rule to test on the whole path.
type Glob struct {
	Pattern string
	Rule    RuleID
	Action  Action
	Mode    Mode
}

// Lower is the lower of two rule IDs, where 0 (none) is above all.
func Lower(a, b RuleID) RuleID {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Add records a matching rule of action a.
func (m *Match) Add(a Action, id RuleID) {
	if a == ActionDeny {
		m.Deny = Lower(m.Deny, id)
	} else {
		m.Allow = Lower(m.Allow, id)
	}
}
