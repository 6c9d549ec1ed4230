//go:build ignore

// The portable form: the length is forced into [1, COPY_MAX] by arithmetic, so every
// verifier sees a non-zero bounded size without having to learn anything from a branch.
#include "loadlen.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int copy_masked(struct __sk_buff *skb)
{
	__u8 buf[COPY_MAX] = {}; /* 5.10 checks a variable-length helper write as a read */
	__u32 n = skb->len;

	if (n == 0)
		return NOTHING_COPIED;
	if (n > COPY_MAX)
		n = COPY_MAX;
	n = ((n - 1) & (COPY_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, buf, n) < 0)
		return NOTHING_COPIED;
	return buf[(n - 1) & (COPY_MAX - 1)];
}
