// Built into the agent only with -DDROPSPOT_SANITIZE=ON: the sanitizer options
// scripts/test-sanitizers.sh sets in the environment, as the defaults of the
// binary itself, for the agents that environment does not reach (sshd starts
// `agent --stdio` with a clean environment in e2e.ssh_channel). ASAN_OPTIONS
// and UBSAN_OPTIONS, where set, still override these.
// alloc_dealloc_mismatch=0: see scripts/test-sanitizers.sh (Asio's coroutine
// frame allocator); abort_on_error=1: a report kills the agent, which the
// tests see.
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0:abort_on_error=1"; }
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:abort_on_error=1:print_stacktrace=1"; }
