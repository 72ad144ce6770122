# LogsService in an in-process gRPC server, driven by a real client.
# Included from tests/integration/CMakeLists.txt.
sluice_test(logs_service_test ${CMAKE_CURRENT_LIST_DIR}/logs_service_test.cc
  sluice_gateway sluice_test_support gRPC::grpc++)
