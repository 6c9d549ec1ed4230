// Package datapath loads the Axon TC programs (package bpf), writes compiled
// decision tables into their maps with atomic generation flips, and reads
// their counters and deny/audit events.
//
// Use:
//
//	dp, err := datapath.Open(datapath.WithPinDir("/sys/fs/bpf/axon"))
//	defer dp.Close()
//	err = dp.Apply(table)          // whole-table update, atomic per packet
//	ingress, egress := dp.Ingress(), dp.Egress()
//	c, err := dp.Counters()        // cumulative per-(rule, verdict) and per-reason counts
//	r, err := dp.Events()          // deny and audit_deny events
//
// Ingress is the program for a device whose ingress carries client-to-server
// traffic (the RST for the client leaves by the same device's egress);
// Egress is for a device whose egress carries it (the host side of a pod's
// veth). Attaching is the caller's job.
package datapath
