/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map size and bound of the socket-level observer (axon_sock.c) in one
 * place. Go reads them back through the generated bindings' BTF
 * (agent/observe checks them). */
#ifndef AXS_SOCK_SIZING_H
#define AXS_SOCK_SIZING_H

#define AXS_MAX_NETNS	 4096	   /* monitored network namespaces */
#define AXS_MAX_PENDING	 16384	   /* read-type syscalls in flight (enter -> exit) */
#define AXS_MAX_CONNS	 65536	   /* connections seen carrying HTTP (LRU) */
#define AXS_CAPTURE	 2048	   /* bytes copied from a message-start buffer (power of two) */
#define AXS_EVENTS_BYTES (1 << 22) /* ring buffer */
#define AXS_STATS	 8	   /* loss and activity counters, enum axs_stat */

#endif
