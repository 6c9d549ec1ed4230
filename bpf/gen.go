package bpf

// The TC datapath, the socket-level observer and the no-op baseline program, compiled with clang-19 for
// little-endian BPF. scripts/gen-bpf.sh runs this and checks reproducibility.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type ax_config -type ax_endpoint_key -type ax_endpoint -type ax_addr_key -type ax_cidr_key -type ax_class_key -type ax_method_key -type ax_path_key -type ax_trie_key -type ax_path_lens -type ax_path_hkey -type ax_match -type ax_path_val -type ax_glob_key -type ax_glob -type ax_mask128 -type ax_flow_key -type ax_flow -type ax_iface -type ax_event -type ax_denial_key Axon axon_tc.c -- -O2 -mcpu=v3 -Wall -Werror -Wpadded -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel Noop noop.c -- -O2 -mcpu=v3 -Wall -Werror -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type axs_event -type axs_conn AxonSock axon_sock.c -- -O2 -mcpu=v3 -Wall -Werror -Wpadded -I/usr/include/x86_64-linux-gnu
