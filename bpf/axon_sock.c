//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Axon socket-level observer: BTF raw tracepoints that copy the first
 * bytes of every buffer a monitored process reads from or writes to a TCP
 * socket when the buffer starts an HTTP/1.x message (or continues one on a
 * connection that carried HTTP), timestamp it, and send it to the agent
 * through a ring buffer (docs/observability.md).
 *
 * Three sets of hooks, chosen by the agent at load time:
 * - Where the kernel lets tracing programs attach to its functions (BTF
 *   trampolines, Linux 5.17+ for bpf_get_func_ret): fexit of tcp_recvmsg
 *   and tcp_sendmsg. Only TCP reads and writes run them: a process's pipe,
 *   Unix-socket and UDP I/O never does.
 * - Linux 6.3+: sock_recv_length and sock_send_length, which the kernel
 *   fires on socket reads and writes only: processes that do no socket I/O
 *   never run them, and the socket is an argument.
 * - Older kernels: sys_exit, on every syscall's return, with the socket
 *   found through the task's fd table.
 * All run inet_sock_set_state for the end of a connection. Cost for
 * processes that are not monitored: the calling task's network namespace
 * inode (the host's are rejected by value, others by one bit of an array
 * map), after a switch on the syscall number on the sys_exit path. Nothing
 * else runs for them. */
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "include/sock_kernel.h"
#include "include/sock_maps.h"

char __license[] SEC("license") = "Dual BSD/GPL";

#define AXS_AF_INET	 2
#define AXS_AF_INET6	 10
#define AXS_SOCK_STREAM	 1
#define AXS_MSG_PEEK	 2
#define AXS_MSG_ERRQUEUE 0x2000
#define AXS_TCP_CLOSE	 7
#define AXS_S_IFMT	 00170000
#define AXS_S_IFSOCK	 0140000

/* x86_64 syscall numbers (the object is built for x86_64). */
#define AXS_NR_READ	0
#define AXS_NR_WRITE	1
#define AXS_NR_READV	19
#define AXS_NR_WRITEV	20
#define AXS_NR_SENDTO	44
#define AXS_NR_RECVFROM 45
#define AXS_NR_SENDMSG	46
#define AXS_NR_RECVMSG	47

struct axs_iovec {
	__u64 base;
	__u64 len;
};

static __always_inline void axs_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&axs_stats, &stat);
	if (v)
		*v += 1;
}

/* axs_task_netns_inum is the network namespace inode of task t, a trusted
 * BTF pointer (5.11+): plain loads, no helper calls. */
static __always_inline __u32 axs_task_netns_inum(struct task_struct *t)
{
	return t->nsproxy->net_ns->ns.inum;
}

/* axs_netns_inum is the calling task's network namespace inode. */
static __always_inline __u32 axs_netns_inum(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return axs_task_netns_inum(bpf_get_current_task_btf());
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
}

/* axs_monitored reports whether the calling task's network namespace is
 * monitored: the host's (a static inode number) never is; other namespaces
 * are looked up in the axs_netns_bits bitmap (an array lookup the verifier
 * inlines), or in the axs_netns hash beyond its range. */
static __always_inline int axs_netns_monitored(__u32 *inum)
{
	if (*inum < AXS_NETNS_DYN_FIRST)
		return 0; /* a namespace created at boot: the host's, never a pod's */
	__u32 idx = *inum - AXS_NETNS_DYN_FIRST;
	if (idx < AXS_NETNS_BITS) {
		__u32 word = idx / 64;
		__u64 *bits = bpf_map_lookup_elem(&axs_netns_bits, &word);
		return bits && (*bits >> (idx & 63)) & 1;
	}
	return bpf_map_lookup_elem(&axs_netns, inum) != 0;
}

static __always_inline int axs_monitored(__u32 *inum)
{
	*inum = axs_netns_inum();
	return axs_netns_monitored(inum);
}

/* axs_wakeup: wake the agent's reader only once AXS_WAKEUP_BYTES are
 * waiting. A wakeup per event would cost a context switch per message on
 * the node; the reader also polls every 200 ms, and the timestamps are
 * taken here, so batching delays nothing but the metrics' update. Asking
 * the ring buffer how much waits reads the position the reader writes (a
 * cache line that moves between CPUs), so each CPU asks only on every
 * AXS_WAKEUP_EVERY-th event it sends: what waits unannounced stays under
 * AXS_WAKEUP_BYTES plus that many events per CPU. */
static __always_inline __u64 axs_wakeup(void)
{
	__u32 stat = AXS_STAT_EVENTS;
	__u64 *sent = bpf_map_lookup_elem(&axs_stats, &stat);
	if (sent && (*sent & (AXS_WAKEUP_EVERY - 1)))
		return BPF_RB_NO_WAKEUP;
	return bpf_ringbuf_query(&axs_events, BPF_RB_AVAIL_DATA) >= AXS_WAKEUP_BYTES
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/* axs_http_start reports whether the first 8 bytes start an HTTP/1.x
 * request (a method token of RFC 9110 and SP) or response ("HTTP/1."). */
static __always_inline int axs_http_start(const __u8 *b)
{
	switch (b[0]) {
	case 'G':
		return b[1] == 'E' && b[2] == 'T' && b[3] == ' ';
	case 'P':
		if (b[1] == 'U')
			return b[2] == 'T' && b[3] == ' ';
		if (b[1] == 'O')
			return b[2] == 'S' && b[3] == 'T' && b[4] == ' ';
		return b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' && b[5] == ' ';
	case 'H':
		if (b[1] == 'E')
			return b[2] == 'A' && b[3] == 'D' && b[4] == ' ';
		return b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' && b[5] == '1' &&
		       b[6] == '.';
	case 'D':
		return b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E' &&
		       b[6] == ' ';
	case 'O':
		return b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' &&
		       b[6] == 'S' && b[7] == ' ';
	case 'C':
		return b[1] == 'O' && b[2] == 'N' && b[3] == 'N' && b[4] == 'E' && b[5] == 'C' &&
		       b[6] == 'T' && b[7] == ' ';
	case 'T':
		return b[1] == 'R' && b[2] == 'A' && b[3] == 'C' && b[4] == 'E' && b[5] == ' ';
	}
	return 0;
}

/* AXS_SK reads member m of socket sk: a plain load when the pointer is a
 * trusted BTF pointer (a tp_btf argument: trusted is a constant 1), else a
 * probe read (a pointer found through the fd table). The functions taking
 * trusted are always inlined, so each program keeps one of the two. */
#define AXS_SK(trusted, sk, m) ((trusted) ? (sk)->m : BPF_CORE_READ(sk, m))

/* axs_tcp_sock returns sk if it is a TCP (stream) socket of an IP family,
 * else 0. */
static __always_inline struct sock *axs_tcp_sock(struct sock *sk, const int trusted)
{
	if (!sk || AXS_SK(trusted, sk, sk_type) != AXS_SOCK_STREAM)
		return 0;
	__u16 fam = AXS_SK(trusted, sk, __sk_common.skc_family);
	if (fam != AXS_AF_INET && fam != AXS_AF_INET6)
		return 0;
	return sk;
}

/* axs_fd_sock returns the struct sock behind fd of the calling task if fd is
 * a TCP (stream) socket of an IP family, else 0. */
static __always_inline struct sock *axs_fd_sock(__u32 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & AXS_S_IFMT) != AXS_S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	return axs_tcp_sock(BPF_CORE_READ(so, sk), 0);
}

/* axs_fill fills the header of event e of connection c (key). */
static __always_inline void axs_fill(struct axs_event *e, struct axs_conn *c, __u64 key)
{
	e->family = c->family;
	e->lport = c->lport;
	e->rport = c->rport;
	e->netns = c->netns;
	e->tgid = c->tgid;
	e->seq = ++c->seq; /* no fetch atomics before 5.12; events of one connection rarely race */
	e->pad1 = 0;
	e->ts = bpf_ktime_get_ns();
	e->conn = key;
	__builtin_memcpy(e->laddr, c->laddr, 16);
	__builtin_memcpy(e->raddr, c->raddr, 16);
}

/* axs_end forgets connection key (c: its entry, looked up) and tells user
 * space (requests still waiting for a response are counted there). Only
 * the caller whose delete succeeds sends the event, so a connection ends
 * once however many paths see it end. */
static __always_inline void axs_end(__u64 key, struct axs_conn *c)
{
	struct axs_conn last = *c;
	if (bpf_map_delete_elem(&axs_conns, &key))
		return; /* another path ended it */
	struct axs_event *e =
	    bpf_ringbuf_reserve(&axs_events, __builtin_offsetof(struct axs_event, data), 0);
	if (!e) {
		axs_count(AXS_STAT_RINGBUF_FULL);
		return;
	}
	e->type = AXS_EV_CLOSE;
	e->dir = 0;
	e->flags = 0;
	e->total = 0;
	e->cap = 0;
	axs_fill(e, &last, key);
	bpf_ringbuf_submit(e, axs_wakeup());
	axs_count(AXS_STAT_EVENTS);
}

/* axs_conn_of returns the connection state of sk (c: its entry, looked up,
 * or 0), creating it (with the socket's addresses, the task's namespace and
 * process) on first sight. An entry with other ports belongs to a
 * connection whose end was not seen (its socket's memory now holds this
 * one): it is ended first. */
static __always_inline struct axs_conn *axs_conn_of(struct sock *sk, __u32 inum, struct axs_conn *c,
						    const int trusted)
{
	__u64 key = (__u64)sk;
	__u16 lport = AXS_SK(trusted, sk, __sk_common.skc_num);
	__u16 rport = __builtin_bswap16(AXS_SK(trusted, sk, __sk_common.skc_dport));
	if (c) {
		if (c->lport == lport && c->rport == rport)
			return c;
		axs_end(key, c);
	}
	struct axs_conn n = {};
	n.netns = inum;
	n.tgid = bpf_get_current_pid_tgid() >> 32;
	n.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n.lport = lport;
	n.rport = rport;
	if (n.family == AXS_AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(n.laddr, &a, 4);
		a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(n.raddr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&n.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&n.raddr, sk, __sk_common.skc_v6_daddr);
	}
	bpf_map_update_elem(&axs_conns, &key, &n, BPF_NOEXIST);
	return bpf_map_lookup_elem(&axs_conns, &key);
}

/* axs_copy copies cap bytes (at most AXS_CAPTURE - 8) of the user buffer
 * buf into e->data after h held bytes (h < 8); a fault is counted and
 * returns non-zero. The bounds are applied to the registers passed to the
 * helper, behind a compiler barrier: clang may otherwise test a copy of cap
 * that older verifiers (6.1) do not link to the one passed. */
static __always_inline int axs_copy(struct axs_event *e, __u32 h, __u32 cap, __u64 buf)
{
	asm volatile("" : "+r"(cap), "+r"(h));
	if (cap > AXS_CAPTURE - 8)
		cap = AXS_CAPTURE - 8;
	h &= 7;
	if (bpf_probe_read_user(e->data + h, cap, (void *)buf)) {
		axs_count(AXS_STAT_READ_FAULT);
		return 1;
	}
	return 0;
}

/* axs_hold_start decides where a message starts when earlier short reads
 * held h bytes (h > 0) and the buffer's first bytes follow them: head is
 * the held bytes and then the buffer, alone the buffer's first 8 bytes (0
 * if it has fewer). If the held bytes start no message but the buffer
 * alone does, they were the end of something else: *h becomes 0. Returns
 * whether a message starts, -1 if nothing can be said (neither starts one
 * and the buffer is shorter than a message start). */
static __always_inline int axs_hold_start(const __u8 *head, const __u8 *alone, __u32 *h)
{
	if (axs_http_start(head))
		return 1;
	if (!alone)
		return -1;
	if (axs_http_start(alone)) {
		*h = 0;
		return 1;
	}
	return 0;
}

/* axs_capture sends a data event for the user buffer buf of n bytes that the
 * process moved through socket sk (c: its axs_conns entry, looked up, or 0),
 * if it starts an HTTP/1.x message or continues a connection that carried
 * HTTP. For reads, hold (if not 0) is what earlier short reads of the same
 * socket returned: those bytes go first (a Go server's 1-byte background
 * read takes the first byte of the next request).
 *
 * On a connection that carried HTTP (c, the steady state of keep-alive
 * traffic) the buffer is copied once, straight into the event, and the
 * message start is looked for there; elsewhere its first 8 bytes are read
 * first, so a monitored process's other TCP traffic costs an 8-byte read,
 * not a capture. Each helper call costs a return, which some CPU
 * mitigations (AMD's Safe RET) make dear. */
static __always_inline void axs_capture(__u32 inum, struct sock *sk, struct axs_conn *c, __u64 buf,
					__u64 n, __u8 dir, struct axs_held *hold, const int trusted)
{
	__u32 h = hold ? hold->len & 7 : 0;
	if (!buf || n + h < 8)
		return; /* shorter than "GET / H": not a message start we can use */
	__u32 zero = 0;
	struct axs_event *e = bpf_map_lookup_elem(&axs_scratch, &zero);
	if (!e)
		return;
	__u32 cap = n > AXS_CAPTURE - 8 ? AXS_CAPTURE - 8 : (__u32)n;
	int start;
	if (c) {
		/* The held bytes, then the buffer read once after them. */
		if (h)
			__builtin_memcpy(e->data, &hold->data, 8);
		if (axs_copy(e, h, cap, buf))
			return;
		if (h) {
			__u32 was = h;
			start = axs_hold_start(e->data, n >= 8 ? e->data + h : 0, &h);
			if (start < 0)
				return;
			if (h != was && axs_copy(e, 0, cap, buf))
				return; /* the held bytes dropped: the buffer again, from 0 */
		} else {
			start = axs_http_start(e->data);
		}
	} else {
		__u64 w = 0;
		if (bpf_probe_read_user(&w, 8, (void *)buf)) {
			axs_count(AXS_STAT_READ_FAULT);
			return;
		}
		if (h) {
			__u64 wh = hold->data | (w << (h * 8));
			start =
			    axs_hold_start((const __u8 *)&wh, n >= 8 ? (const __u8 *)&w : 0, &h);
			if (start < 0)
				return;
			if (h)
				w = wh;
		} else {
			start = axs_http_start((const __u8 *)&w);
		}
		if (!start)
			return; /* no message start, on no connection that carried HTTP */
		__builtin_memcpy(e->data, &w, 8);
		if (axs_copy(e, h, cap, buf))
			return;
	}
	__u64 key = (__u64)sk;
	/* No message start: on a connection that carried HTTP this may be the
	 * rest of a body followed by the next message, which user space finds
	 * by Content-Length. */
	__u8 flags = start ? 0 : AXS_F_CONT;
	if (start)
		c = axs_conn_of(sk, inum, c, trusted);
	if (!c)
		return;
	cap += h;
	n += h;
	e->type = AXS_EV_DATA;
	e->dir = dir;
	e->flags = flags;
	e->total = n > 0xffffffff ? 0xffffffff : (__u32)n;
	e->cap = cap;
	axs_fill(e, c, key);
	__u64 wake = axs_wakeup();
	/* The size is bounded after the wakeup check's helper call: a bound
	 * spilled across a call is lost on 5.10. */
	asm volatile("" : "+r"(cap));
	__u64 size = __builtin_offsetof(struct axs_event, data) + (cap & (AXS_CAPTURE - 1));
	if (bpf_ringbuf_output(&axs_events, e, size, wake)) {
		axs_count(AXS_STAT_RINGBUF_FULL);
		return;
	}
	axs_count(AXS_STAT_EVENTS);
	/* A connection may end while the bytes move: a reset that answers a
	 * request is often handled before the sending call returns, so its
	 * TCP_CLOSE came before this event made the entry. */
	if (AXS_SK(trusted, sk, __sk_common.skc_state) == AXS_TCP_CLOSE)
		axs_end(key, c);
}

/* axs_first_iov resolves a vector or message buffer to its first element. */
static __always_inline int axs_first_iov(__u64 *buf, __u64 *len, __u32 kind)
{
	__u64 iov = *buf;
	if (kind == AXS_BUF_MSG) {
		/* struct user_msghdr: msg_iov at 16, msg_iovlen at 24 (UAPI). */
		__u64 m[2];
		if (bpf_probe_read_user(m, sizeof(m), (void *)(iov + 16)) || !m[1])
			return -1;
		iov = m[0];
	}
	struct axs_iovec v;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)iov))
		return -1;
	*buf = v.base;
	if (v.len < *len)
		*len = v.len;
	return 0;
}

/* axs_read captures what a monitored read-type call returned: n bytes
 * into buf (of the given kind) from socket sk. A read shorter than a
 * message start (a Go server's 1-byte background read takes the first byte
 * of the next request) is kept for the socket's next read: in its
 * connection's entry when it carried HTTP (the common case, no map update),
 * else in axs_held. */
static __always_inline int axs_read(__u32 inum, struct sock *sk, __u64 buf, __u64 n, __u32 kind,
				    const int trusted)
{
	if (kind != AXS_BUF_PLAIN && axs_first_iov(&buf, &n, kind))
		return 0;
	__u64 key = (__u64)sk;
	struct axs_held hold = {};
	struct axs_conn *c = bpf_map_lookup_elem(&axs_conns, &key);
	if (c) {
		hold.data = c->held;
		hold.len = c->held_len;
		c->held_len = 0;
		c->held = 0;
	} else {
		struct axs_held *hp = bpf_map_lookup_elem(&axs_held, &key);
		if (hp) {
			hold = *hp;
			bpf_map_delete_elem(&axs_held, &key);
		}
	}
	if (n < 8 && hold.len + n < 8) {
		/* A short read: keep its bytes for the next read of this socket. */
		__u32 h = hold.len & 7;
		__u64 w = 0;
		if (bpf_probe_read_user(&w, ((n - 1) & 7) + 1, (void *)buf) == 0) {
			hold.data |= w << (h * 8);
			hold.len = h + n;
			if (c) {
				c->held = hold.data;
				c->held_len = hold.len;
			} else if (bpf_map_update_elem(&axs_held, &key, &hold, BPF_ANY)) {
				axs_count(AXS_STAT_HELD_FULL);
			}
		}
		return 0;
	}
	axs_capture(inum, sk, c, buf, n, AXS_DIR_READ, hold.len ? &hold : 0, trusted);
	return 0;
}

/* axs_write captures what a monitored write-type call sent: n bytes from
 * buf (of the given kind) to socket sk. */
static __always_inline int axs_write(__u32 inum, struct sock *sk, __u64 buf, __u64 n, __u32 kind,
				     const int trusted)
{
	if (kind != AXS_BUF_PLAIN && axs_first_iov(&buf, &n, kind))
		return 0;
	__u64 key = (__u64)sk;
	axs_capture(inum, sk, bpf_map_lookup_elem(&axs_conns, &key), buf, n, AXS_DIR_WRITE, 0,
		    trusted);
	return 0;
}

/* axs_call says what syscall nr does with its buffer: the direction
 * (AXS_DIR_*, 0 for syscalls the observer does not read) and the kind of
 * buffer in *kind. */
static __always_inline __u8 axs_call(long nr, __u32 *kind)
{
	switch (nr) {
	case AXS_NR_READ:
	case AXS_NR_RECVFROM:
		*kind = AXS_BUF_PLAIN;
		return AXS_DIR_READ;
	case AXS_NR_READV:
		*kind = AXS_BUF_IOV;
		return AXS_DIR_READ;
	case AXS_NR_RECVMSG:
		*kind = AXS_BUF_MSG;
		return AXS_DIR_READ;
	case AXS_NR_WRITE:
	case AXS_NR_SENDTO:
		*kind = AXS_BUF_PLAIN;
		return AXS_DIR_WRITE;
	case AXS_NR_WRITEV:
		*kind = AXS_BUF_IOV;
		return AXS_DIR_WRITE;
	case AXS_NR_SENDMSG:
		*kind = AXS_BUF_MSG;
		return AXS_DIR_WRITE;
	}
	return 0;
}

/* axs_io captures a monitored task's socket read or write of n bytes that
 * syscall regs made, when dir is the syscall's direction. The buffer is the
 * syscall's second argument (x86_64: si), left as it was by the syscall. */
static __always_inline int axs_io(__u32 inum, struct sock *sk, struct pt_regs *regs, __u64 n,
				  __u8 dir, const int trusted)
{
	__u32 kind = AXS_BUF_PLAIN;
	if (axs_call(regs->orig_ax, &kind) != dir)
		return 0; /* sendfile, splice, io_uring: not a user buffer */
	if (dir == AXS_DIR_READ)
		return axs_read(inum, sk, regs->si, n, kind, trusted);
	return axs_write(inum, sk, regs->si, n, kind, trusted);
}

/* axs_sock_io is the socket hooks' common part: ret bytes moved through sk
 * by the current task, in direction dir. */
static __always_inline int axs_sock_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	/* A peek moves no bytes; the error queue holds the kernel's
	 * notifications (timestamps may quote sent data), not the stream. */
	if (ret <= 0 || (flags & (AXS_MSG_PEEK | AXS_MSG_ERRQUEUE)))
		return 0;
	/* One task pointer for the namespace and the saved registers: every
	 * helper call costs a return. */
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 inum = axs_task_netns_inum(task);
	if (!axs_netns_monitored(&inum))
		return 0;
	if (!axs_tcp_sock(sk, 1))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	return axs_io(inum, sk, regs, (__u64)ret, dir, 1);
}

/* Linux 6.3+: the kernel's socket read and write tracepoints (fired in
 * sock_recvmsg and sock_sendmsg with the bytes moved). Only tasks doing
 * socket I/O run them. */
SEC("tp_btf/sock_recv_length")
int axs_sock_recv(__u64 *ctx)
{
	return axs_sock_io((struct sock *)ctx[0], (int)ctx[1], (int)ctx[2], AXS_DIR_READ);
}

SEC("tp_btf/sock_send_length")
int axs_sock_send(__u64 *ctx)
{
	return axs_sock_io((struct sock *)ctx[0], (int)ctx[1], (int)ctx[2], AXS_DIR_WRITE);
}

/* Where the kernel attaches tracing programs to its functions: the return
 * of TCP's own read and write (after the bytes have moved, like the socket
 * tracepoints), which only TCP sockets call. tcp_recvmsg lost its nonblock
 * argument in Linux 5.19: flags is its 4th argument since, its 5th before;
 * the helpers find the return value whatever the count. */
SEC("fexit/tcp_recvmsg")
int axs_tcp_recv(__u64 *ctx)
{
	__u64 ret = 0, flags = 0;
	if (bpf_get_func_ret(ctx, &ret))
		return 0;
	if ((int)ret <= 0)
		return 0; /* the common EAGAIN of event loops stops here */
	if (bpf_get_func_arg(ctx, bpf_get_func_arg_cnt(ctx) == 6 ? 4 : 3, &flags))
		return 0;
	return axs_sock_io((struct sock *)ctx[0], (int)ret, (int)flags, AXS_DIR_READ);
}

SEC("fexit/tcp_sendmsg")
int axs_tcp_send(__u64 *ctx)
{
	__u64 ret = 0;
	if (bpf_get_func_ret(ctx, &ret))
		return 0;
	return axs_sock_io((struct sock *)ctx[0], (int)ret, 0, AXS_DIR_WRITE);
}

/* Older kernels: every syscall's return. The first work is a switch on the
 * syscall number, then the namespace check; the socket is found through the
 * fd table (x86_64 syscall ABI: fd in di, buffer in si), which the syscalls
 * observed here leave as they were. */
SEC("tp_btf/sys_exit")
int axs_sys_exit(__u64 *ctx)
{
	long ret = (long)ctx[1];
	if (ret <= 0)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	__u32 kind;
	__u8 dir = axs_call(regs->orig_ax, &kind);
	if (!dir)
		return 0;
	__u32 inum;
	if (!axs_monitored(&inum))
		return 0;
	struct sock *sk = axs_fd_sock(regs->di);
	if (!sk)
		return 0;
	return axs_io(inum, sk, regs, (__u64)ret, dir, 0);
}

/* The end of a TCP connection, whoever ends it (close, exit, reset): if it
 * carried HTTP, tell user space (requests still waiting for a response are
 * counted there) and forget it. Runs in any context (often softirq), so the
 * event names the namespace and process recorded with the connection. The
 * socket's own namespace is checked first: connections of unmonitored
 * namespaces stop there. */
SEC("tp_btf/inet_sock_set_state")
int axs_sock_state(__u64 *ctx)
{
	if ((int)ctx[2] != AXS_TCP_CLOSE)
		return 0;
	struct sock *sk = (struct sock *)ctx[0];
	__u32 inum = sk->__sk_common.skc_net.net->ns.inum; /* a trusted BTF pointer */
	if (!axs_netns_monitored(&inum))
		return 0;
	__u64 key = (__u64)sk;
	bpf_map_delete_elem(&axs_held, &key);
	struct axs_conn *c = bpf_map_lookup_elem(&axs_conns, &key);
	if (c)
		axs_end(key, c);
	return 0;
}
