# Tests of FunctionLogs. Included from tests/runtime/CMakeLists.txt.
sluice_test(function_logs_test ${CMAKE_CURRENT_LIST_DIR}/function_logs_test.cc sluice_runtime)
