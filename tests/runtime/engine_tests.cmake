# Tests of sluice_runtime. Included from tests/runtime/CMakeLists.txt.
sluice_test(ids_test ${CMAKE_CURRENT_LIST_DIR}/ids_test.cc sluice_runtime)
sluice_test(dispatcher_test ${CMAKE_CURRENT_LIST_DIR}/dispatcher_test.cc sluice_runtime
  sluice_test_support)
sluice_test(function_registry_test ${CMAKE_CURRENT_LIST_DIR}/function_registry_test.cc
  sluice_runtime sluice_test_support)
sluice_test(invocation_service_test ${CMAKE_CURRENT_LIST_DIR}/invocation_service_test.cc
  sluice_runtime sluice_test_support)
sluice_test(timer_queue_test ${CMAKE_CURRENT_LIST_DIR}/timer_queue_test.cc sluice_runtime)
add_dependencies(function_registry_test echo fail sleep sluice)
add_dependencies(invocation_service_test echo fail sleep crash sluice)
sluice_test(async_engine_test ${CMAKE_CURRENT_LIST_DIR}/async_engine_test.cc
  sluice_runtime sluice_test_support)
add_dependencies(async_engine_test echo fail flaky crash progress sleep sluice)
sluice_test(triggers_test ${CMAKE_CURRENT_LIST_DIR}/triggers_test.cc
  sluice_triggers sluice_test_support)
add_dependencies(triggers_test echo sleep sluice)
sluice_test(callbacks_test ${CMAKE_CURRENT_LIST_DIR}/callbacks_test.cc
  sluice_triggers sluice_test_support)
add_dependencies(callbacks_test echo fail sluice)
