/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load-time settings, set by agent/datapath before the object is loaded. */
#ifndef AX_KNOBS_H
#define AX_KNOBS_H

#include <linux/types.h>

/* 1: a deny also sends a RST back to the client (bpf_clone_redirect). */
volatile const __u32 cfg_reflect_rst = 1;
/* Deny/audit events per second and CPU (also the burst); 0 disables them. */
volatile const __u32 cfg_event_rate = 1000;
/* How long after an audit gap a new flow still counts as open at it
 * (audit_gap.h); covers a server's SYN_RECV with the default 5 SYN-ACK
 * retries (63 s). */
volatile const __u64 cfg_gap_slack_ns = 75000000000ULL;

#endif
