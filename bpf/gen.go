package bpf

// The object and its Go bindings are committed: building the module needs no
// clang. Regenerate with `make generate` after changing counter.c or counter.h.
//go:generate go tool bpf2go -type counter -type slot_counters -type net_type -type transport -type direction -type slot_entry -type slot_layout counter counter.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror

// The custom-program test objects, which tests load from disk as a user
// would (see docs/own-program.md). Relative paths and
// -fdebug-compilation-dir keep them byte for byte the same in any checkout.
//go:generate clang -target bpf -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -fdebug-compilation-dir . -c ../testdata/programs/port_count.c -o ../testdata/programs/port_count.o
//go:generate llvm-strip -g ../testdata/programs/port_count.o
//go:generate clang -target bpf -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -fdebug-compilation-dir . -c ../testdata/programs/shapes.c -o ../testdata/programs/shapes.o
//go:generate llvm-strip -g ../testdata/programs/shapes.o
