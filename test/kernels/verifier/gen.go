package verifier

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel masked masked.c -- -O2 -g -Wall -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags kernelfail bounded bounded.c -- -O2 -g -Wall -I/usr/include/x86_64-linux-gnu
