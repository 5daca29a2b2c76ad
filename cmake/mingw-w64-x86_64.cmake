# CMake toolchain file: cross-compiles dropspot's prober for 64-bit Windows
# with Debian's MinGW-w64 (g++-mingw-w64-x86-64-posix: the POSIX thread model,
# which std::thread and asio need). scripts/build-windows.sh passes
# DROPSPOT_WINDOWS_PREFIX: the folder where it installed static protobuf,
# OpenSSL and prometheus-cpp built for MinGW (with this file), plus links to
# Debian's header-only Asio and CLI11.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_triple}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_triple}-g++-posix)
set(CMAKE_RC_COMPILER ${_triple}-windres)
set(CMAKE_AR ${_triple}-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB ${_triple}-gcc-ranlib-posix CACHE FILEPATH "")

# Passed on to try_compile projects, which read this file again.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DROPSPOT_WINDOWS_PREFIX)

set(CMAKE_FIND_ROOT_PATH /usr/${_triple})
if(DROPSPOT_WINDOWS_PREFIX)
  list(APPEND CMAKE_FIND_ROOT_PATH ${DROPSPOT_WINDOWS_PREFIX})
  # Asio and CLI11 (links to Debian's headers; never all of /usr/include,
  # which holds glibc's headers).
  set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES ${DROPSPOT_WINDOWS_PREFIX}/include)
endif()
# Host programs (protoc) from the host; libraries, headers and packages only
# from the MinGW sysroot and the prefix.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
