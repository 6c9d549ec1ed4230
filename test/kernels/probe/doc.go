// Package probe checks, on whatever kernel runs it, the BPF features Axon's datapath
// relies on: a TC classifier that passes the verifier, runs under BPF_PROG_TEST_RUN,
// attaches with TCX or clsact + cls_bpf and sees real veth traffic. It prints
// "AXON-FEATURE name=value" lines that the kernel matrix collects into its feature table.
package probe
