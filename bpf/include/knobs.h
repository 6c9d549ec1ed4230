/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load-time settings, set by agent/datapath before the object is loaded. */
#ifndef AX_KNOBS_H
#define AX_KNOBS_H

#include <linux/types.h>

/* 1: a deny also sends a RST back to the client (bpf_clone_redirect). */
volatile const __u32 cfg_reflect_rst = 1;
/* Deny/audit events per second and CPU (also the burst); 0 disables them. */
volatile const __u32 cfg_event_rate = 1000;

#endif
