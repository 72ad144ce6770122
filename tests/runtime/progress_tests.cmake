# Tests of progress reports from native functions, in process and in worker
# processes. Included from tests/runtime/CMakeLists.txt.

# A function that reports progress in odd ways, built like the examples into
# ${CMAKE_BINARY_DIR}/functions.
sluice_native_function(progress_test_function ${CMAKE_CURRENT_LIST_DIR}/progress_test_function.cc)

sluice_test(native_executor_test ${CMAKE_CURRENT_LIST_DIR}/native_executor_test.cc
  sluice_runtime sluice_test_support)
add_dependencies(native_executor_test progress progress_test_function echo whoami)
add_dependencies(native_worker_test progress flaky progress_test_function)
