// The portable Linux build only (-DDROPSPOT_PORTABLE=ON, scripts/build-portable.sh):
// it compiles against Debian 11's glibc 2.31 so that the binaries run on
// glibc 2.28 and later, but links the host GCC's static C++ runtime, built
// against a newer glibc. Two symbols that runtime asks for are not in glibc
// 2.31; they are defined here, each with the meaning glibc gives it. And
// glibc 2.29 gave the math functions below new symbol versions (new code,
// the same results within their documented error): the binaries link them
// with -Wl,--wrap to the versions every glibc since 2.2.5 has.
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" {

// glibc 2.32: nonzero while the process has one thread, so that the C++
// runtime may skip atomic operations. 0 here: always the atomic path, right
// however many threads run.
char __libc_single_threaded = 0;  // NOLINT(readability-identifier-naming): glibc's name

// glibc 2.36: a random 32-bit number from the kernel's generator
// (std::random_device uses it). getrandom (glibc 2.25), else /dev/urandom;
// glibc's own aborts when neither gives randomness, and so does this one.
std::uint32_t arc4random() {
  std::uint32_t value = 0;
  auto* bytes = reinterpret_cast<char*>(&value);
  std::size_t got = 0;
  while (got < sizeof value) {
    const auto n = getrandom(bytes + got, sizeof value - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (got < sizeof value) {
    std::FILE* urandom = std::fopen("/dev/urandom", "rb");
    if (!urandom || std::fread(&value, sizeof value, 1, urandom) != 1) std::abort();
    std::fclose(urandom);
  }
  return value;
}

// __wrap_F calls F@GLIBC_2.2.5 (-Wl,--wrap=F sends every call of F here).
#define DROPSPOT_OLD_MATH(F, ARGS, CALL)                     \
  __asm__(".symver glibc_2_2_5_" #F ", " #F "@GLIBC_2.2.5"); \
  double glibc_2_2_5_##F ARGS;                               \
  double __wrap_##F ARGS { return glibc_2_2_5_##F CALL; }

DROPSPOT_OLD_MATH(pow, (double x, double y), (x, y))
DROPSPOT_OLD_MATH(exp, (double x), (x))
DROPSPOT_OLD_MATH(log, (double x), (x))
DROPSPOT_OLD_MATH(exp2, (double x), (x))
DROPSPOT_OLD_MATH(log2, (double x), (x))
#undef DROPSPOT_OLD_MATH

}  // extern "C"
