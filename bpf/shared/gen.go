package shared

// The enums of bpf/include/axon_shared.h as Go constants (Shared<Enum><MEMBER>).
// scripts/gen-bpf.sh runs this; the object itself holds no program.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type ax_verdict -type ax_reason -type ax_mode -type ax_glob_result -type ax_wire -type ax_bound Shared shared.c -- -O2 -mcpu=v3 -Wall -Werror -Wpadded -I/usr/include/x86_64-linux-gnu
