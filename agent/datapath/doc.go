// Package datapath loads the Axon TC programs (package bpf), writes compiled
// decision tables into their maps with atomic generation flips, and reads
// their counters and deny/audit events.
//
// Use:
//
//	dp, err := datapath.Open(datapath.WithPinDir("/sys/fs/bpf/axon"))
//	defer dp.Close()
//	err = dp.Apply(table)   // whole-table update, atomic per packet; ErrTableTooLarge keeps the old table
//	in, eg := dp.Ingress(), dp.Egress()
//	c, err := dp.Counters() // cumulative per-(rule, verdict) and per-reason counts
//	r, err := dp.Events()   // deny and audit_deny events; r.Read(), r.Close()
//
// Ingress is the program for a hook where client-to-server traffic enters a
// device (the RST for the client leaves by the same device's egress); Egress
// is for a hook where it leaves one (the host side of a pod's veth; the
// client's RST is injected at that device's ingress). Reply runs on the
// other direction of the same device and records the server's ACKs, which
// lets the client-side program refuse retransmissions the server may not
// hold. Both client-side programs are loaded unless WithClientSides names
// one (the agent loads Egress and Reply only). Attaching is the caller's job.
//
// Apply writes the new table into the generation the programs are not
// reading, as a diff against what that generation held, then flips; a packet
// is decided wholly by one table. With WithPinDir the maps (tables, flows,
// counters) survive the process and Open reads back what they hold.
//
// The decision maps are sized at load by Limits (entries one table may use;
// each map holds twice as many): the object's defaults, SetLimits for the
// process (the agent's --max-* flags, LimitFlags), or WithLimits. Fit checks
// a table against the same sizes before it is applied; Open replaces pinned
// maps of other sizes by copies holding the table in force (resize.go).
package datapath
