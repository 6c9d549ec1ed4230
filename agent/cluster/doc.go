// Package cluster is the agent's cluster mode: a policy source that reads
// the API server through informers (Pods cluster-wide, Namespaces,
// L7NetworkPolicies, HTTPMonitors, ConfigMaps) and hands the agent the same
// kind of policy set a policy directory gives (policy/source.FromObjects),
// the IPs of the pods of its node (spec.nodeName) to attach in front of, and
// writes the node's AxonNodeStatus: the generation of each policy selecting
// a local pod that is in the node's maps.
//
// When the API server is unreachable the informers keep their last state:
// nothing changes, so the table in force stays; when it returns the
// informers relist and any change is applied as usual.
package cluster
