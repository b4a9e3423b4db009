# Finds embprof's dependencies. A missing one stops configuration with the
# Debian package that provides it.

find_package(Threads REQUIRED)
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

# CPython: the interpreter picked with -DPython3_EXECUTABLE=... (default:
# the first python3 on PATH), its embedding library and headers.
set(Python3_FIND_STRATEGY LOCATION)
set(Python3_FIND_UNVERSIONED_NAMES FIRST)
find_package(Python3 3.10 COMPONENTS Interpreter Development.Embed)
# A build dir re-configured with another interpreter keeps the old one's
# cached headers and library, silently mixing two CPythons. Ask the
# interpreter where its headers are; on a mismatch forget and find again.
if(Python3_Interpreter_FOUND)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c
    "import sysconfig; print(sysconfig.get_path('include'))"
    OUTPUT_VARIABLE _py_inc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT "${_py_inc}" IN_LIST Python3_INCLUDE_DIRS)
    message(STATUS "embprof: cached CPython does not belong to "
                   "${Python3_EXECUTABLE}; finding it again")
    get_cmake_property(_cached CACHE_VARIABLES)
    foreach(v ${_cached})
      if(v MATCHES "^_?Python3_" AND NOT v STREQUAL "Python3_EXECUTABLE")
        unset(${v} CACHE)
      endif()
    endforeach()
    find_package(Python3 3.10 COMPONENTS Interpreter Development.Embed)
  endif()
endif()
if(NOT Python3_Development.Embed_FOUND)
  message(FATAL_ERROR
    "CPython's embedding library and headers were not found for "
    "${Python3_EXECUTABLE}: apt-get install python3-dev "
    "(or pass -DPython3_EXECUTABLE=/path/to/python3.X with a shared libpython)")
endif()
if(Python3_VERSION VERSION_LESS 3.10 OR Python3_VERSION VERSION_GREATER_EQUAL 3.14)
  message(FATAL_ERROR "embprof supports CPython 3.10 to 3.13, not ${Python3_VERSION}")
endif()
execute_process(COMMAND ${Python3_EXECUTABLE} -c
  "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED') or 0)"
  OUTPUT_VARIABLE EMBPROF_PY_NOGIL OUTPUT_STRIP_TRAILING_WHITESPACE)
if(EMBPROF_PY_NOGIL STREQUAL "1")
  message(FATAL_ERROR "free-threaded CPython (${Python3_EXECUTABLE}) is not "
                      "supported: use a default (GIL) build")
endif()
if(NOT EXISTS "${Python3_INCLUDE_DIRS}/internal/pycore_runtime.h")
  message(FATAL_ERROR "CPython's internal headers are missing under "
                      "${Python3_INCLUDE_DIRS}/internal: apt-get install python3-dev")
endif()
list(GET Python3_LIBRARIES 0 EMBPROF_PYTHON_LIBRARY)
foreach(l ${Python3_LIBRARIES})
  if(l MATCHES "libpython")
    set(EMBPROF_PYTHON_LIBRARY "${l}")
  endif()
endforeach()
get_filename_component(EMBPROF_PYTHON_LIBDIR "${EMBPROF_PYTHON_LIBRARY}" DIRECTORY)
set(EMBPROF_PYTHON_LINK "${EMBPROF_PYTHON_LIBRARY}")
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import sys; print(sys.version.split()[0])"
  OUTPUT_VARIABLE EMBPROF_PY_FULLVER OUTPUT_STRIP_TRAILING_WHITESPACE)

# The static libpython, if this CPython ships one (for embprof-run-static).
execute_process(COMMAND ${Python3_EXECUTABLE} -c
  "import sysconfig as s; print(s.get_config_var('LIBPL') or ''); print(s.get_config_var('LIBRARY') or ''); print(' '.join((s.get_config_var(k) or '') for k in ('MODLIBS', 'LIBS', 'SYSLIBS')))"
  OUTPUT_VARIABLE _pystatic OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REPLACE "\n" ";" _pystatic "${_pystatic}")
list(LENGTH _pystatic _n)
set(EMBPROF_PYTHON_STATIC_LIB "")
if(_n EQUAL 3)
  list(GET _pystatic 0 _libpl)
  list(GET _pystatic 1 _library)
  list(GET _pystatic 2 _deps)
  if(_library MATCHES "\\.a$" AND EXISTS "${_libpl}/${_library}")
    set(EMBPROF_PYTHON_STATIC_LIB "${_libpl}/${_library}")
    separate_arguments(EMBPROF_PYTHON_STATIC_DEPS UNIX_COMMAND "${_deps}")
    list(REMOVE_DUPLICATES EMBPROF_PYTHON_STATIC_DEPS)
  endif()
endif()

# Lua 5.4 (policies), libevent (control socket), cmocka (unit tests).
pkg_check_modules(LUA IMPORTED_TARGET lua5.4)
if(NOT LUA_FOUND)
  message(FATAL_ERROR "Lua 5.4 not found: apt-get install liblua5.4-dev")
endif()
pkg_check_modules(LIBEVENT IMPORTED_TARGET libevent_core libevent_pthreads)
if(NOT LIBEVENT_FOUND)
  message(FATAL_ERROR "libevent not found: apt-get install libevent-dev")
endif()
pkg_check_modules(JANSSON IMPORTED_TARGET jansson)
if(NOT JANSSON_FOUND)
  message(FATAL_ERROR "jansson not found (embprofctl reads JSON replies): "
                      "apt-get install libjansson-dev")
endif()
if(EMBPROF_BUILD_TESTS)
  pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
  if(NOT CMOCKA_FOUND)
    message(FATAL_ERROR "cmocka not found: apt-get install libcmocka-dev")
  endif()
endif()
