# Tests of FunctionLogs and the OutputPump that feeds it. Included from tests/runtime/CMakeLists.txt.
sluice_test(function_logs_test ${CMAKE_CURRENT_LIST_DIR}/function_logs_test.cc sluice_runtime)
sluice_test(output_pump_test ${CMAKE_CURRENT_LIST_DIR}/output_pump_test.cc sluice_runtime)
