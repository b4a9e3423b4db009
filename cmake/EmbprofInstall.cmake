# Installs the header, both libraries, embprof-run, the sample policies,
# a CMake package
# (find_package(embprof) -> embprof::embprof) and embprof.pc.
include(CMakePackageConfigHelpers)

install(FILES include/embprof.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS embprof embprof_static EXPORT embprofTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS embprof-run RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The sample policies (docs/POLICIES.md), to copy and adapt.
install(DIRECTORY samples/policies/ DESTINATION ${CMAKE_INSTALL_DATADIR}/embprof/policies
        FILES_MATCHING PATTERN "*.lua")
install(EXPORT embprofTargets NAMESPACE embprof::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embprof)
configure_package_config_file(cmake/embprofConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/embprofConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embprof)
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/embprofConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/embprofConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/embprofConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/embprof)

# pkg-config carries the CPython flags embprof was built with.
set(EMBPROF_PC_PY_CFLAGS "")
foreach(d ${Python3_INCLUDE_DIRS})
  string(APPEND EMBPROF_PC_PY_CFLAGS " -I${d}")
endforeach()
get_filename_component(_pyname "${EMBPROF_PYTHON_LIBRARY}" NAME)
string(REGEX REPLACE "^lib" "" _pyname "${_pyname}")
string(REGEX REPLACE "\\.(so|a).*$" "" _pyname "${_pyname}")
set(EMBPROF_PC_PY_LIBS "-L${EMBPROF_PYTHON_LIBDIR} -Wl,-rpath,${EMBPROF_PYTHON_LIBDIR} -l${_pyname}")
configure_file(cmake/embprof.pc.in ${CMAKE_CURRENT_BINARY_DIR}/embprof.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/embprof.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
