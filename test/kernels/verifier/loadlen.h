// Shared by the verifier regression programs: a TC classifier that copies the first
// n = min(skb->len, COPY_MAX) bytes of the frame to the stack with bpf_skb_load_bytes and
// returns the last byte copied (or NOTHING_COPIED), so BPF_PROG_TEST_RUN can check the copy.
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define COPY_MAX 64 /* power of two: indices are masked with COPY_MAX - 1 */
#define NOTHING_COPIED (TC_ACT_SHOT + 256)
