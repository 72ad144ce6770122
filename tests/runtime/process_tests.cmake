# Tests of child processes: Subprocess and OutputPump, and the exec runtime.
# Included from tests/runtime/CMakeLists.txt.
sluice_test(subprocess_test ${CMAKE_CURRENT_LIST_DIR}/subprocess_test.cc sluice_runtime)
sluice_test(exec_executor_test ${CMAKE_CURRENT_LIST_DIR}/exec_executor_test.cc sluice_runtime)
