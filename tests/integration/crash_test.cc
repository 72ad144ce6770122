// A Jepsen-style check of the async queue: clients enqueue invocations of
// `append` (which appends its payload as one line to a file) with a unique
// token as payload and idempotency key, while a chaos thread SIGKILLs the
// server at random moments and restarts it on the same data dir. Clients
// retry a token until it is acknowledged, as a real client would. In the end
// every acknowledged token must be in the file (nothing lost), nothing but
// sent tokens may be (nothing invented), every acknowledged invocation must
// have SUCCEEDED, and one token must never map to two invocations.
//
// The seed of the chaos schedule is printed; set SLUICE_CRASH_SEED to replay
// a schedule.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using testing::ServerProcess;

constexpr int kClients = 8;
constexpr int kPerClient = 250;  // 2000 invocations in all
constexpr absl::Duration kOverallDeadline = absl::Seconds(70);

// Cluster is the one live server of the test and its restarts. Thread-safe.
// Clients read the current channel and generation; the chaos thread kills
// and replaces the server, bumping the generation.
class Cluster {
 public:
  explicit Cluster(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_) {
    auto server = ServerProcess::Start(data_dir_);
    if (!server.ok()) return server.status();
    absl::MutexLock lock(&mu_);
    server_ = *std::move(server);
    channel_ = server_->Channel();
    ++generation_;
    return absl::OkStatus();
  }

  // KillAndRestart SIGKILLs the server, then starts a new one (on a new
  // port) on the same data dir. While it starts, Current() has no channel.
  // On failure the cluster stays down and broken() turns true.
  absl::Status KillAndRestart() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      server_->Kill();
      server_.reset();
      channel_ = nullptr;
      ++generation_;
    }
    absl::Status started = Start();
    if (!started.ok()) broken_ = true;
    return started;
  }

  // broken says whether a restart failed, so no server will come back.
  bool broken() const { return broken_.load(); }

  // Current returns the generation and the channel of the live server (null
  // while a restart is under way).
  std::pair<int, std::shared_ptr<grpc::Channel>> Current() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return {generation_, channel_};
  }

  // Stop kills the server for good.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    server_.reset();
    channel_ = nullptr;
    ++generation_;
  }

 private:
  const std::string data_dir_;
  mutable absl::Mutex mu_;
  std::unique_ptr<ServerProcess> server_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> broken_{false};
};

// History is what the clients saw. Thread-safe.
class History {
 public:
  void Sent(const std::string& token) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sent_.insert(token);
  }
  // Acked records that `token` was acknowledged with invocation `id`
  // (`deduplicated`: the server matched an earlier send of the token whose
  // answer was lost); a second acknowledgement with another id is a conflict.
  void Acked(const std::string& token, const std::string& id, bool deduplicated)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (deduplicated) ++deduplicated_;
    auto [it, inserted] = acked_.emplace(token, id);
    if (!inserted && it->second != id) {
      conflicts_.push_back(absl::StrCat(token, ": ", it->second, " and ", id));
    }
  }
  void Error(grpc::StatusCode code) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++errors_[code];
  }

  std::set<std::string> sent() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  std::map<std::string, std::string> acked() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  size_t acked_count() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return acked_.size();
  }
  int deduplicated() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return deduplicated_;
  }
  std::vector<std::string> conflicts() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return conflicts_;
  }
  std::string ErrorSummary() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> parts;
    for (const auto& [code, n] : errors_) parts.push_back(absl::StrCat("code ", code, ": ", n));
    return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
  }

 private:
  mutable absl::Mutex mu_;
  std::set<std::string> sent_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> acked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> conflicts_ ABSL_GUARDED_BY(mu_);
  std::map<grpc::StatusCode, int> errors_ ABSL_GUARDED_BY(mu_);
  int deduplicated_ ABSL_GUARDED_BY(mu_) = 0;
};

// IsClientBug says whether `code` means the request itself is wrong, so that
// retrying it can never help.
bool IsClientBug(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::NOT_FOUND ||
         code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::UNIMPLEMENTED ||
         code == grpc::StatusCode::UNAUTHENTICATED;
}

// RunClient enqueues tokens "c<client>-0" ... "c<client>-<kPerClient-1>",
// each retried against the current server until it is acknowledged.
void RunClient(int client, Cluster& cluster, History& history, absl::Time deadline) {
  int stub_generation = -1;
  std::unique_ptr<v1::Invocations::Stub> stub;
  for (int n = 0; n < kPerClient; ++n) {
    const std::string token = absl::StrCat("c", client, "-", n);
    history.Sent(token);
    while (true) {
      if (cluster.broken()) return;  // the chaos thread reports why
      if (absl::Now() > deadline) {
        ADD_FAILURE() << token << " was never acknowledged";
        return;
      }
      auto [generation, channel] = cluster.Current();
      if (channel == nullptr) {  // a restart is under way
        testing::WaitFor([&] { return cluster.Current().second != nullptr; }, absl::Seconds(1));
        continue;
      }
      if (generation != stub_generation) {
        stub = v1::Invocations::NewStub(channel);
        stub_generation = generation;
      }
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::InvokeRequest request;
      request.set_function("append");
      request.set_payload(token);
      request.set_idempotency_key(token);
      v1::InvokeAsyncResponse response;
      const grpc::Status s = stub->InvokeAsync(&context, request, &response);
      if (s.ok()) {
        history.Acked(token, response.invocation_id(), response.deduplicated());
        break;
      }
      history.Error(s.error_code());
      if (IsClientBug(s.error_code())) {
        ADD_FAILURE() << token << ": " << s.error_code() << " " << s.error_message();
        return;
      }
      // The server died or refused for now: wait a little for a new one.
      const int failed_generation = generation;
      testing::WaitFor([&] { return cluster.Current().first != failed_generation; },
                       absl::Milliseconds(50));
    }
  }
}

// ListAll lists every invocation of `function`, following pages.
absl::StatusOr<std::vector<v1::Invocation>> ListAll(v1::Invocations::Stub& stub,
                                                    const std::string& function) {
  std::vector<v1::Invocation> all;
  std::string token;
  do {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListInvocationsRequest request;
    request.set_function(function);
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListInvocationsResponse response;
    const grpc::Status s = stub.List(&context, request, &response);
    if (!s.ok()) return absl::InternalError(s.error_message());
    for (const v1::Invocation& inv : response.invocations()) all.push_back(inv);
    token = response.next_page_token();
  } while (!token.empty());
  return all;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// First returns at most `n` elements of `items`, joined for a message.
template <typename Container>
std::string First(const Container& items, size_t n = 20) {
  std::vector<std::string> some;
  for (const auto& item : items) {
    if (some.size() == n) break;
    some.push_back(item);
  }
  return absl::StrCat(absl::StrJoin(some, " "), items.size() > n ? " ..." : "");
}

TEST(CrashTest, NoAcknowledgedInvocationIsLostAcrossRepeatedSigkills) {
  const char* seed_env = std::getenv("SLUICE_CRASH_SEED");
  const uint64_t seed =
      seed_env != nullptr ? std::strtoull(seed_env, nullptr, 10) : std::random_device()();
  std::cout << "chaos seed: " << seed << " (set SLUICE_CRASH_SEED to replay)" << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int kills = std::uniform_int_distribution<int>(3, 5)(rng);
  std::vector<absl::Duration> delays;
  for (int i = 0; i < kills; ++i) {
    delays.push_back(absl::Milliseconds(std::uniform_int_distribution<int>(100, 1000)(rng)));
  }

  const std::string dir = testing::MakeTempDir();
  const std::string out_file = dir + "/appended.txt";
  Cluster cluster(dir + "/data");
  ASSERT_TRUE(cluster.Start().ok());
  {
    auto functions = v1::Functions::NewStub(cluster.Current().second);
    v1::FunctionSpec spec;
    spec.set_concurrency(8);
    spec.set_max_queue(100000);
    spec.mutable_timeout()->set_seconds(5);
    (*spec.mutable_env())["APPEND_FILE"] = out_file;
    // A kill while an attempt runs costs that attempt; allow many.
    spec.mutable_retry()->set_max_attempts(50);
    spec.mutable_retry()->mutable_initial_backoff()->set_nanos(10'000'000);
    spec.mutable_retry()->mutable_max_backoff()->set_nanos(200'000'000);
    v1::DeployResponse deployed;
    const grpc::Status s = testing::DeployExample(*functions, "append", "append", &deployed, spec);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  const absl::Time deadline = absl::Now() + kOverallDeadline;
  History history;
  std::atomic<int> clients_running{kClients};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      RunClient(c, cluster, history, deadline);
      --clients_running;
    });
  }

  int kills_while_sending = 0;
  absl::Status restart_status;
  std::thread chaos([&] {
    for (int i = 0; i < kills; ++i) {
      // Random moments, independent of the clients' progress.
      absl::SleepFor(delays[i]);
      const size_t acked = history.acked_count();
      const bool sending = clients_running.load() > 0;
      kills_while_sending += sending ? 1 : 0;
      std::cout << "kill " << i + 1 << "/" << kills << " after " << absl::FormatDuration(delays[i])
                << ": " << acked << " acknowledged" << (sending ? "" : " (all sent)") << "\n";
      restart_status = cluster.KillAndRestart();
      if (!restart_status.ok()) return;
    }
  });
  chaos.join();
  for (std::thread& t : clients) t.join();
  ASSERT_TRUE(restart_status.ok()) << restart_status;
  ::testing::Test::RecordProperty("kills", kills);
  ::testing::Test::RecordProperty("kills_while_sending", kills_while_sending);
  std::cout << "errors seen by clients: " << history.ErrorSummary()
            << "; retries answered as duplicates of a send whose answer was lost: "
            << history.deduplicated() << "\n";
  ::testing::Test::RecordProperty("deduplicated_retries", history.deduplicated());

  const std::set<std::string> sent = history.sent();
  const std::map<std::string, std::string> acked = history.acked();
  ASSERT_EQ(sent.size(), static_cast<size_t>(kClients * kPerClient));
  ASSERT_EQ(acked.size(), sent.size()) << "clients gave up; see the failures above";

  // The server stays up now: every acknowledged invocation must succeed.
  auto stub = v1::Invocations::NewStub(cluster.Current().second);
  std::vector<std::string> not_succeeded;
  for (const auto& [token, acked_id] : acked) {
    const std::string& id = acked_id;
    v1::Invocation inv;
    grpc::Status s;
    testing::WaitFor(
        [&] {
          s = testing::GetInvocation(*stub, id, &inv);
          return !s.ok() || inv.state() == v1::SUCCEEDED || inv.state() == v1::FAILED ||
                 inv.state() == v1::CANCELLED;
        },
        std::max(deadline - absl::Now(), absl::Seconds(1)));
    if (!s.ok()) {
      not_succeeded.push_back(absl::StrCat(token, "=", id, " (", s.error_message(), ")"));
    } else if (inv.state() != v1::SUCCEEDED) {
      not_succeeded.push_back(
          absl::StrCat(token, "=", id, " (", v1::InvocationState_Name(inv.state()), ")"));
    }
  }
  EXPECT_TRUE(not_succeeded.empty())
      << not_succeeded.size()
      << " acknowledged invocations did not succeed: " << First(not_succeeded);

  // The file: lost = acked - lines, unexpected = lines - sent.
  const std::vector<std::string> lines = ReadLines(out_file);
  const std::multiset<std::string> all_lines(lines.begin(), lines.end());
  const std::set<std::string> unique_lines(lines.begin(), lines.end());
  std::vector<std::string> lost, unexpected;
  for (const auto& [token, id] : acked) {
    if (!unique_lines.contains(token)) lost.push_back(token);
  }
  for (const std::string& line : unique_lines) {
    if (!sent.contains(line)) unexpected.push_back(line);
  }
  const size_t duplicates = lines.size() - unique_lines.size();
  ::testing::Test::RecordProperty("lines", static_cast<int>(lines.size()));
  ::testing::Test::RecordProperty("lost", static_cast<int>(lost.size()));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(duplicates));
  std::cout << "sent " << sent.size() << ", acknowledged " << acked.size() << ", lines "
            << lines.size() << ", lost " << lost.size() << ", unexpected " << unexpected.size()
            << ", duplicate lines (re-run attempts) " << duplicates << "\n";
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged tokens lost: " << First(lost);
  EXPECT_TRUE(unexpected.empty()) << "lines never sent: " << First(unexpected);

  // Idempotency across restarts: one token, one invocation. The records
  // hold the key, so a token whose first acknowledgement was lost to a kill
  // and was then sent again shows up here as two invocations.
  auto listed = ListAll(*stub, "append");
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, std::set<std::string>> ids_by_key;
  size_t without_key = 0;
  for (const v1::Invocation& inv : *listed) {
    if (inv.idempotency_key().empty()) {
      ++without_key;
    } else {
      ids_by_key[inv.idempotency_key()].insert(inv.id());
    }
  }
  std::vector<std::string> split_keys;
  for (const auto& [key, ids] : ids_by_key) {
    if (ids.size() > 1) split_keys.push_back(absl::StrCat(key, " -> ", First(ids, 4)));
  }
  EXPECT_EQ(without_key, 0u) << "invocations recorded without their idempotency key";
  std::cout << "invocations recorded: " << listed->size() << "\n";
  EXPECT_TRUE(history.conflicts().empty()) << First(history.conflicts());
  EXPECT_TRUE(split_keys.empty()) << split_keys.size()
                                  << " idempotency keys map to several invocations: "
                                  << First(split_keys);
  EXPECT_EQ(listed->size(), acked.size()) << "invocations recorded vs tokens acknowledged";

  // And asking again now, after the restarts, answers the same ids.
  size_t different = 0, not_deduplicated = 0;
  std::vector<std::string> examples;
  for (const auto& [token, id] : acked) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::InvokeRequest request;
    request.set_function("append");
    request.set_payload(token);
    request.set_idempotency_key(token);
    v1::InvokeAsyncResponse response;
    const grpc::Status s = stub->InvokeAsync(&context, request, &response);
    ASSERT_TRUE(s.ok()) << token << ": " << s.error_message();
    if (response.invocation_id() != id) {
      ++different;
      if (examples.size() < 5) {
        examples.push_back(absl::StrCat(token, ": ", id, " then ", response.invocation_id()));
      }
    }
    if (!response.deduplicated()) ++not_deduplicated;
  }
  EXPECT_EQ(different, 0u) << "tokens answered with another id: " << First(examples);
  EXPECT_EQ(not_deduplicated, 0u) << "answers not marked deduplicated";

  cluster.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
