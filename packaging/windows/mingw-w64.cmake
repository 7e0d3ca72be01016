# mingw-w64.cmake - CMake toolchain file for a static x86-64 Windows build
# (x86_64-w64-mingw32, Debian's gcc-mingw-w64-x86-64-win32) against the
# libraries packaging/windows/build-deps.sh builds.
#
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=packaging/windows/mingw-w64.cmake
#
# Where the libraries are, first found wins:
#   1. -DSYSMONFWD_WIN_DEPS=PREFIX (a cache variable),
#   2. the environment variable SYSMONFWD_WIN_DEPS,
#   3. the prefix `build-deps.sh --print-prefix` names for the current
#      recipe (it must have been built: run packaging/windows/build-deps.sh).
# The prefix holds lib/pkgconfig/*.pc made for static linking (Libs.private
# folded into Libs; -DCURL_STATICLIB, -DXML_STATIC, -DCJSON_HIDE_SYMBOLS in
# the Cflags of libcurl, expat and libcjson) and deps.cmake, included here
# (versions, OPENSSL_ROOT_DIR, ZLIB_ROOT). pkg-config and find_* see only
# that prefix and the mingw-w64 sysroot, never the build machine's libraries.
# Executables link with -static (libgcc and winpthread included), and
# static-libs.cmake (run after each project()) makes find_library take
# static archives only.

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(SYSMONFWD_WIN_HOST x86_64-w64-mingw32)

set(CMAKE_C_COMPILER ${SYSMONFWD_WIN_HOST}-gcc)
find_program(_sysmonfwd_win_cxx ${SYSMONFWD_WIN_HOST}-g++)
if(_sysmonfwd_win_cxx)
	set(CMAKE_CXX_COMPILER ${_sysmonfwd_win_cxx})
endif()
set(CMAKE_RC_COMPILER ${SYSMONFWD_WIN_HOST}-windres)

# try_compile projects read this file again: hand them the prefix.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SYSMONFWD_WIN_DEPS)

# A prefix found by build-deps.sh (not given) is asked again at every
# configure, so that a build directory follows a new recipe (new pins,
# one more library) instead of keeping the old prefix in its cache.
if(NOT SYSMONFWD_WIN_DEPS OR
   SYSMONFWD_WIN_DEPS STREQUAL "${SYSMONFWD_WIN_DEPS_FOUND}")
	if(NOT "$ENV{SYSMONFWD_WIN_DEPS}" STREQUAL "")
		set(SYSMONFWD_WIN_DEPS "$ENV{SYSMONFWD_WIN_DEPS}")
	else()
		execute_process(
			COMMAND bash "${CMAKE_CURRENT_LIST_DIR}/build-deps.sh" --print-prefix
			OUTPUT_VARIABLE _sysmonfwd_win_prefix
			ERROR_VARIABLE _sysmonfwd_win_err
			RESULT_VARIABLE _sysmonfwd_win_rc
			OUTPUT_STRIP_TRAILING_WHITESPACE)
		if(NOT _sysmonfwd_win_rc EQUAL 0)
			message(FATAL_ERROR
				"The Windows libraries are not built: run\n"
				"  bash ${CMAKE_CURRENT_LIST_DIR}/build-deps.sh\n"
				"(about 6 minutes cold on 2 cores, seconds once cached), "
				"or pass -DSYSMONFWD_WIN_DEPS=PREFIX.\n"
				"${_sysmonfwd_win_err}")
		endif()
		set(SYSMONFWD_WIN_DEPS "${_sysmonfwd_win_prefix}")
		set(SYSMONFWD_WIN_DEPS_FOUND "${_sysmonfwd_win_prefix}" CACHE
			INTERNAL "the prefix build-deps.sh named")
	endif()
	set(SYSMONFWD_WIN_DEPS "${SYSMONFWD_WIN_DEPS}" CACHE PATH
		"Prefix of the Windows libraries built by packaging/windows/build-deps.sh"
		FORCE)
endif()

if(NOT EXISTS "${SYSMONFWD_WIN_DEPS}/deps.cmake")
	message(FATAL_ERROR
		"SYSMONFWD_WIN_DEPS=${SYSMONFWD_WIN_DEPS} is not a prefix made by "
		"packaging/windows/build-deps.sh (no deps.cmake there)")
endif()
include("${SYSMONFWD_WIN_DEPS}/deps.cmake")

set(CMAKE_FIND_ROOT_PATH "${SYSMONFWD_WIN_DEPS}" /usr/${SYSMONFWD_WIN_HOST})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Static archives only, never an import library (libz.dll.a,
# libpthread.dll.a): CMake's Windows-GNU platform file sets the suffixes
# after this file is read, so they are set again once project() is done.
set(CMAKE_PROJECT_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/static-libs.cmake")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# pkg-config: only the prefix's .pc files
find_program(_sysmonfwd_win_pkgconfig ${SYSMONFWD_WIN_HOST}-pkg-config)
if(_sysmonfwd_win_pkgconfig)
	set(PKG_CONFIG_EXECUTABLE "${_sysmonfwd_win_pkgconfig}" CACHE FILEPATH "")
endif()
set(ENV{PKG_CONFIG_LIBDIR} "${SYSMONFWD_WIN_DEPS}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})
