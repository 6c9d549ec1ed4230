// Package bpf holds the Axon TC datapath (C sources in this directory and
// include/) and its bpf2go-generated Go bindings.
//
// The program parses HTTP/1.x request lines of TCP flows to policed
// endpoints and decides them from the decision maps described in
// include/policy_maps.h. agent/datapath loads it and fills the maps; nothing
// else should use these bindings directly. axon_sock.c is the socket-level
// HTTP observer, loaded by agent/observe.
package bpf
