# Tests of the worker pool and the native worker. Included from
# tests/runtime/CMakeLists.txt.
sluice_test(worker_pool_test ${CMAKE_CURRENT_LIST_DIR}/worker_pool_test.cc sluice_runtime)
sluice_test(frames_test ${CMAKE_CURRENT_LIST_DIR}/frames_test.cc sluice_runtime)
sluice_test(native_worker_test ${CMAKE_CURRENT_LIST_DIR}/native_worker_test.cc
  sluice_runtime sluice_test_support)
add_dependencies(native_worker_test sluice echo crash sleep whoami)
