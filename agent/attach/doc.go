// Package attach hooks Axon's TC programs onto network interfaces in both
// directions, pins what it attached under a bpffs directory so enforcement
// outlives the agent, adopts those pins after a restart, and removes them all
// on cleanup.
//
// Two mechanisms are supported: TCX links (Linux 6.6 and later), which are
// pinned and atomically updated with a new program, and the legacy clsact
// qdisc with a direct-action cls_bpf filter, which is replaced atomically by
// netlink and whose program is pinned only as a record of what Axon attached.
package attach
