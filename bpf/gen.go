package bpf

// The object and its Go bindings are committed: building the module needs no
// clang. Regenerate with `make generate` after changing counter.c or counter.h.
//go:generate go tool bpf2go -tags linux -type counter -type net_type -type transport counter counter.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror
