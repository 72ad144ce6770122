# Worker processes, lambda and exec functions, logs, limits, against the
# real server.
sluice_test(executors_test ${CMAKE_CURRENT_LIST_DIR}/executors_test.cc
  sluice_test_support sluice_test_protos sluice_proto gRPC::grpc++)
add_dependencies(executors_test sluice echo sleep crash sluice_lambda_bundles)
