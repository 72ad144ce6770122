#include "gateway/status.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "runtime/retry_info.h"

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

TEST(StatusTest, PlainErrorsHaveNoDetails) {
  EXPECT_TRUE(ToGrpcStatus(absl::ResourceExhaustedError("full")).error_details().empty());
}

TEST(StatusTest, RetryDelayTravelsAsRetryInfoInStatusDetails) {
  absl::Status full = absl::ResourceExhaustedError("the queue of function \"f\" is full");
  SetRetryDelay(full, absl::Milliseconds(2500));
  const grpc::Status out = ToGrpcStatus(full);
  EXPECT_EQ(out.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(out.error_message(), std::string(full.message()));

  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(out.error_details()));
  EXPECT_EQ(rpc.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(rpc.message(), out.error_message());
  ASSERT_EQ(rpc.details_size(), 1);
  EXPECT_EQ(rpc.details(0).type_url(), "type.googleapis.com/google.rpc.RetryInfo");
  google::rpc::RetryInfo info;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().seconds(), 2);
  EXPECT_EQ(info.retry_delay().nanos(), 500000000);
  EXPECT_EQ(RetryDelayOfDetails(out.error_details()), absl::Milliseconds(2500));
}

}  // namespace
}  // namespace sluice
