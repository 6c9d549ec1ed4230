// Package agentset is the operator half of the Axon controller: it keeps the
// agent DaemonSet equal to what the cluster's AxonAgent ("default") says.
//
// The Reconciler builds the DaemonSet the configuration asks for (DaemonSet:
// host network and PID namespace, the capabilities and host mounts eBPF
// enforcement needs, in the controller's namespace, owned by the AxonAgent)
// and applies it with server-side apply, so that fields it stops setting are
// removed and fields others set are kept. A changed pod template makes the
// DaemonSet controller roll the agents; a deleted DaemonSet is recreated. The
// AxonAgent's status mirrors the DaemonSet's rollout (desired, ready,
// up-to-date agents) in the Available, Progressing and Degraded conditions.
package agentset
