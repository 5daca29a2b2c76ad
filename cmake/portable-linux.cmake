# CMake toolchain file: the portable Linux build of agent and prober
# (scripts/build-portable.sh). The host's GCC compiles against the C library
# of an old Debian root (DROPSPOT_PORTABLE_ROOT, glibc 2.31, made by
# mmdebstrap), so that the binaries ask for no glibc symbol newer than the
# oldest distribution dropspot supports; everything else they link (the C++
# runtime, protobuf, OpenSSL, libpcap, libxml2, prometheus-cpp, civetweb) is
# static, from the root's /usr/local where the script put it (prometheus-cpp
# and civetweb built with this file too: scripts/portable-deps.sh).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

# Passed on to try_compile projects, which read this file again.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DROPSPOT_PORTABLE_ROOT)
if(NOT DROPSPOT_PORTABLE_ROOT)
  message(FATAL_ERROR "portable-linux.cmake: set DROPSPOT_PORTABLE_ROOT (scripts/build-portable.sh does)")
endif()

set(CMAKE_C_COMPILER gcc)
set(CMAKE_CXX_COMPILER g++)
set(CMAKE_SYSROOT ${DROPSPOT_PORTABLE_ROOT})
# Host programs (protoc) from the host; libraries, headers and packages only
# from the old root (never the host's /usr/include, which holds a newer glibc).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The root's C library and start files before the host's: GCC's own search
# path names the host's /usr/lib/x86_64-linux-gnu ahead of the sysroot. The
# C++ runtime inside the binaries; libgcc_s stays shared (every glibc
# distribution has it, and the static unwinder of this GCC wants glibc 2.35).
set(_multiarch x86_64-linux-gnu)
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-B${DROPSPOT_PORTABLE_ROOT}/usr/lib/${_multiarch} -L${DROPSPOT_PORTABLE_ROOT}/usr/lib/${_multiarch} \
-L${DROPSPOT_PORTABLE_ROOT}/lib/${_multiarch} -static-libstdc++")
set(OPENSSL_USE_STATIC_LIBS TRUE)
set(Protobuf_USE_STATIC_LIBS ON)
