# Tests of the lambda runtime: bundles, the Runtime API server and workers
# running real bootstraps. Included from tests/runtime/CMakeLists.txt.

# The example bundles (target sluice_lambda_bundles) come from
# functions/examples/lambda.cmake.
sluice_test(bundle_test ${CMAKE_CURRENT_LIST_DIR}/bundle_test.cc
  sluice_runtime sluice_test_support)
sluice_test(lambda_runtime_api_test ${CMAKE_CURRENT_LIST_DIR}/lambda_runtime_api_test.cc
  sluice_runtime sluice_test_support)
sluice_test(lambda_worker_test ${CMAKE_CURRENT_LIST_DIR}/lambda_worker_test.cc
  sluice_runtime sluice_test_support)
add_dependencies(bundle_test sluice_lambda_bundles)
add_dependencies(lambda_worker_test sluice_lambda_bundles)
