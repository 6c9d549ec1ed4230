//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Only the enums of ../include/axon_shared.h, for bpf2go -type: package
 * shared gives Go the datapath's verdicts, reasons and bounds without
 * linking the datapath's objects. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "../include/axon_shared.h"

char __license[] SEC("license") = "Dual BSD/GPL";

volatile const struct ax_go_types ax_go_types = {};
