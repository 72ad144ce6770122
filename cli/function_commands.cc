// Functions API calls behind `ls`, `describe` and `rm`.
#include "cli/function_commands.h"

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "sluice/v1/functions.grpc.pb.h"

namespace sluice::cli {

int RunListFunctions(const ClientConfig& config, Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  return RunUnary<v1::ListFunctionsResponse>(
      [&](grpc::ClientContext* context, v1::ListFunctionsResponse* response) {
        return stub.List(context, v1::ListFunctionsRequest(), response);
      },
      config, console,
      [&](const v1::ListFunctionsResponse& response) {
        console.out << FunctionTable(response.functions()) << std::flush;
      });
}

int RunDescribeFunction(const std::string& name, uint64_t version, const ClientConfig& config,
                        Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  v1::GetFunctionRequest request;
  request.set_name(name);
  request.set_version(version);
  return RunUnary<v1::Function>(
      [&](grpc::ClientContext* context, v1::Function* function) {
        return stub.Get(context, request, function);
      },
      config, console,
      [&](const v1::Function& function) {
        console.out << DescribeFunction(function) << std::flush;
      });
}

int RunRemoveFunction(const std::string& name, const ClientConfig& config, Console& console) {
  v1::Functions::Stub stub(OpenChannel(config.server));
  v1::DeleteFunctionRequest request;
  request.set_name(name);
  return RunUnary<v1::DeleteFunctionResponse>(
      [&](grpc::ClientContext* context, v1::DeleteFunctionResponse* response) {
        return stub.Delete(context, request, response);
      },
      config, console,
      [&](const v1::DeleteFunctionResponse& response) {
        console.out << "deleted " << name << " (" << response.versions_deleted()
                    << (response.versions_deleted() == 1 ? " version)" : " versions)") << std::endl;
      });
}

}  // namespace sluice::cli
