# Integration tests of the sample hosts (samples/, EMBPROF_BUILD_SAMPLES):
# each runs its sample briefly with the sampler on and checks that the
# functions the test made slow top the profile. Included by
# CMakeLists.txt in this directory, after embprof_driver is defined.
if(TARGET threaded_server)
  embprof_driver(test_sample_threaded_server "integration;threads" 240
                 --host $<TARGET_FILE:threaded_server>)
endif()
if(TARGET frame_loop)
  embprof_driver(test_sample_frame_loop "integration" 180
                 --host $<TARGET_FILE:frame_loop>)
  # The test compiles frame_loop.cpp itself, at -pedantic -Werror.
  list(GET Python3_INCLUDE_DIRS 0 _pyinc)
  set_property(TEST test_sample_frame_loop APPEND PROPERTY ENVIRONMENT
               "EMBPROF_TEST_PY_INCLUDE=${_pyinc}")
endif()
if(TARGET static_host)
  embprof_driver(test_sample_static_host "integration;static;threads" 60
                 --host $<TARGET_FILE:static_host>)
endif()
if(TARGET threaded_server AND TARGET frame_loop)
  set(_static "")
  if(TARGET static_host)
    set(_static --host $<TARGET_FILE:static_host>)
  endif()
  embprof_driver(test_sample_install "integration" 600 ${_static})
endif()
# The samples' profiles are judged by time shares: no CPU sharing.
foreach(t test_sample_threaded_server test_sample_frame_loop
          test_sample_static_host)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()
