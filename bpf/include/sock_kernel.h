/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The few kernel types the observer reads, declared with only the members it
 * uses. preserve_access_index makes every access a CO-RE relocation: the
 * loader rewrites offsets against the running kernel's BTF, so no vmlinux.h
 * is vendored and one object serves 5.10 to 6.18. */
#ifndef AXS_SOCK_KERNEL_H
#define AXS_SOCK_KERNEL_H

#include <linux/types.h>

/* Mirrors of kernel types: their layout is the kernel's, not ours. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpadded"

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct nsproxy *nsproxy;
	struct files_struct *files;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct in6_addr;

struct sock_common {
	struct {
		struct net *net;
	} skc_net;
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct {
		__u8 b[16];
	} skc_v6_daddr;
	struct {
		__u8 b[16];
	} skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
} __attribute__((preserve_access_index));

/* x86_64: the user registers saved at syscall entry. */
struct pt_regs {
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

#pragma clang diagnostic pop

#endif
