#include "gateway/status.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(StatusTest, KeepsCodeAndMessage) {
  const struct {
    absl::Status in;
    grpc::StatusCode code;
  } cases[] = {
      {absl::NotFoundError("function \"x\" not found"), grpc::StatusCode::NOT_FOUND},
      {absl::InvalidArgumentError("spec.name: missing"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::ResourceExhaustedError("full"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::DeadlineExceededError("late"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::UnavailableError("draining"), grpc::StatusCode::UNAVAILABLE},
      {absl::FailedPreconditionError("finished"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::DataLossError("corrupt"), grpc::StatusCode::DATA_LOSS},
  };
  for (const auto& c : cases) {
    const grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.code) << c.in;
    EXPECT_EQ(out.error_message(), std::string(c.in.message()));
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace sluice
