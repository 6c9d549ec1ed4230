//go:build ignore

// The kernel-specific form (build tag kernelfail): the length is clamped to COPY_MAX and
// guarded by "n >= 1", which clang emits as "if n == 0". Verifiers that learn n >= 1 from
// the "!= 0" branch (newer kernels) accept it; older ones keep n in [0, COPY_MAX] and
// reject the helper call with "invalid zero-sized read". See docs/kernels.md.
#include "loadlen.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int copy_bounded(struct __sk_buff *skb)
{
	__u8 buf[COPY_MAX] = {}; /* 5.10 checks a variable-length helper write as a read */
	__u32 n = skb->len;

	if (n > COPY_MAX)
		n = COPY_MAX;
	if (n >= 1) {
		if (bpf_skb_load_bytes(skb, 0, buf, n) < 0)
			return NOTHING_COPIED;
		return buf[(n - 1) & (COPY_MAX - 1)];
	}
	return NOTHING_COPIED;
}
