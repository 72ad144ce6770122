// Tests of the mapping from gRPC failures to exit codes and messages.
#include "cli/exit_codes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::cli {
namespace {

using ::testing::HasSubstr;

TEST(ExitCodeForRpcTest, MapsEachCodeClass) {
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::INVALID_ARGUMENT), 2);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::NOT_FOUND), 3);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::UNAVAILABLE), 4);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::DEADLINE_EXCEEDED), 4);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::RESOURCE_EXHAUSTED), 4);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::FAILED_PRECONDITION), 4);
  EXPECT_EQ(ExitCodeForRpc(grpc::StatusCode::UNKNOWN), 4);
}

TEST(DescribeRpcFailureTest, FunctionErrorExitsOneWithTheServerMessage) {
  const RpcFailure failure = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::UNKNOWN, "ValueError: bad input"), true, "h:1");
  EXPECT_EQ(failure.exit_code, 1);
  EXPECT_EQ(failure.message, "function failed: ValueError: bad input");
}

TEST(DescribeRpcFailureTest, UnknownWithoutTheMarkerIsAServerError) {
  const RpcFailure failure =
      DescribeRpcFailure(grpc::Status(grpc::StatusCode::UNKNOWN, "boom"), false, "h:1");
  EXPECT_EQ(failure.exit_code, 4);
  EXPECT_THAT(failure.message, HasSubstr("boom"));
  EXPECT_THAT(failure.message, ::testing::Not(HasSubstr("function failed")));
}

TEST(DescribeRpcFailureTest, UnavailableNamesTheAddressAndTheVariable) {
  const RpcFailure failure = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"), false, "10.0.0.7:5000");
  EXPECT_EQ(failure.exit_code, 4);
  EXPECT_THAT(failure.message, HasSubstr("10.0.0.7:5000"));
  EXPECT_THAT(failure.message, HasSubstr("SLUICE_SERVER"));
  EXPECT_THAT(failure.message, HasSubstr("failed to connect"));
}

TEST(DescribeRpcFailureTest, NotFoundKeepsTheServerMessage) {
  const RpcFailure failure = DescribeRpcFailure(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "function \"x\" not found"), false, "h:1");
  EXPECT_EQ(failure.exit_code, 3);
  EXPECT_THAT(failure.message, HasSubstr("function \"x\" not found"));
}

TEST(DescribeRpcFailureTest, OverloadAndDeadlineSayWhatHappened) {
  EXPECT_THAT(DescribeRpcFailure(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full"),
                                 false, "h:1")
                  .message,
              HasSubstr("overloaded"));
  EXPECT_THAT(
      DescribeRpcFailure(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, ""), false, "h:1")
          .message,
      HasSubstr("DEADLINE_EXCEEDED"));
}

TEST(ExitCodesHelpTest, DocumentsEveryCode) {
  for (const char* code : {"  0  ", "  1  ", "  2  ", "  3  ", "  4  ", "SLUICE_SERVER"}) {
    EXPECT_THAT(kExitCodesHelp, HasSubstr(code));
  }
}

}  // namespace
}  // namespace sluice::cli
