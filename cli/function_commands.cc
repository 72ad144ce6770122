// Functions API calls behind `ls`, `describe` and `rm`.
#include "cli/function_commands.h"

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "sluice/v1/functions.grpc.pb.h"

namespace sluice::cli {

int RunListFunctions(const ClientConfig& config, Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  grpc::ClientContext context;
  v1::ListFunctionsResponse response;
  const grpc::Status status = stub.List(&context, v1::ListFunctionsRequest(), &response);
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(response, console);
  console.out << FunctionTable(response.functions()) << std::flush;
  return kExitOk;
}

int RunDescribeFunction(const std::string& name, uint64_t version, const ClientConfig& config,
                        Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  grpc::ClientContext context;
  v1::GetFunctionRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::Function function;
  const grpc::Status status = stub.Get(&context, request, &function);
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(function, console);
  console.out << DescribeFunction(function) << std::flush;
  return kExitOk;
}

int RunRemoveFunction(const std::string& name, const ClientConfig& config, Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  grpc::ClientContext context;
  v1::DeleteFunctionRequest request;
  request.set_name(name);
  v1::DeleteFunctionResponse response;
  const grpc::Status status = stub.Delete(&context, request, &response);
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(response, console);
  console.out << "deleted " << name << " (" << response.versions_deleted()
              << (response.versions_deleted() == 1 ? " version)" : " versions)") << std::endl;
  return kExitOk;
}

}  // namespace sluice::cli
