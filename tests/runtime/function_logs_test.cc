// Tests of FunctionLogs: the per-function rings, subscriptions and the copy
// written to the server's log.
#include "runtime/function_logs.h"

#include <atomic>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

LogLine Line(const std::string& function, const std::string& text,
             const std::string& invocation_id = "inv-1", const std::string& stream = "stdout") {
  LogLine line;
  line.time = absl::FromUnixSeconds(1700000000);
  line.function = function;
  line.version = 3;
  line.invocation_id = invocation_id;
  line.stream = stream;
  line.text = text;
  return line;
}

std::vector<std::string> Texts(const std::vector<LogLine>& lines) {
  std::vector<std::string> texts;
  for (const LogLine& line : lines) texts.push_back(line.text);
  return texts;
}

TEST(FunctionLogsTest, KeepsOnlyTheLastRingLinesOfAFunction) {
  FunctionLogs logs(nullptr, 3);
  for (int i = 1; i <= 5; ++i) logs.Append(Line("echo", absl::StrCat("line ", i)));
  EXPECT_THAT(Texts(logs.Tail("echo", 10)), ElementsAre("line 3", "line 4", "line 5"));
}

TEST(FunctionLogsTest, KeepsFunctionsApart) {
  FunctionLogs logs(nullptr, 2);
  logs.Append(Line("alpha", "a1"));
  logs.Append(Line("beta", "b1"));
  logs.Append(Line("alpha", "a2"));
  logs.Append(Line("alpha", "a3"));
  EXPECT_THAT(Texts(logs.Tail("alpha", 10)), ElementsAre("a2", "a3"));
  EXPECT_THAT(Texts(logs.Tail("beta", 10)), ElementsAre("b1"));
  EXPECT_THAT(logs.Tail("gamma", 10), IsEmpty());
}

TEST(FunctionLogsTest, TailReturnsTheLastLinesOldestFirstWithTheirFields) {
  FunctionLogs logs;
  for (int i = 1; i <= 5; ++i) logs.Append(Line("echo", absl::StrCat("line ", i)));
  logs.Append(Line("echo", "oops", "", "stderr"));
  const std::vector<LogLine> tail = logs.Tail("echo", 2);
  EXPECT_THAT(Texts(tail), ElementsAre("line 5", "oops"));
  EXPECT_EQ(tail[0].function, "echo");
  EXPECT_EQ(tail[0].version, 3u);
  EXPECT_EQ(tail[0].invocation_id, "inv-1");
  EXPECT_EQ(tail[0].stream, "stdout");
  EXPECT_EQ(tail[0].time, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(tail[1].invocation_id, "");
  EXPECT_EQ(tail[1].stream, "stderr");
  EXPECT_THAT(logs.Tail("echo", 0), IsEmpty());
}

TEST(FunctionLogsTest, CutsLongLinesAtTheLimit) {
  FunctionLogs logs;
  logs.Append(Line("echo", std::string(FunctionLogs::kMaxLineBytes + 5000, 'x')));
  logs.Append(Line("echo", std::string(FunctionLogs::kMaxLineBytes, 'y')));
  const std::vector<LogLine> tail = logs.Tail("echo", 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].text, std::string(FunctionLogs::kMaxLineBytes, 'x'));
  EXPECT_EQ(tail[1].text, std::string(FunctionLogs::kMaxLineBytes, 'y'));
}

TEST(FunctionLogsTest, CutsLongLinesAtACharacterBoundary) {
  FunctionLogs logs;
  // "é" is two bytes; one byte first puts every boundary on an odd offset.
  std::string text = "a";
  while (text.size() <= FunctionLogs::kMaxLineBytes) text += "\xC3\xA9";
  logs.Append(Line("echo", text));
  const std::string kept = logs.Tail("echo", 1).at(0).text;
  EXPECT_EQ(kept.size(), FunctionLogs::kMaxLineBytes - 1);
  EXPECT_EQ(kept, text.substr(0, FunctionLogs::kMaxLineBytes - 1));
}

TEST(FunctionLogsTest, ReplacesBytesThatAreNotUtf8) {
  FunctionLogs logs;
  logs.Append(Line("echo", "ok \xC3\xA9 \xFF bad \xE2\x82 cut \xED\xA0\x80 surrogate"));
  EXPECT_EQ(logs.Tail("echo", 1).at(0).text,
            "ok \xC3\xA9 \xEF\xBF\xBD bad \xEF\xBF\xBD\xEF\xBF\xBD cut "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD surrogate");
}

TEST(FunctionLogsTest, WritesEachLineToTheServerLogOnOneLine) {
  std::ostringstream server_log;
  Logger logger(LogFormat::kText, LogLevel::kInfo, &server_log,
                [] { return absl::FromUnixSeconds(1795821000); });
  FunctionLogs logs(&logger);
  logs.Append(Line("echo", "hello world"));
  logs.Append(Line("echo", "two\nlines\r", "", "stderr"));
  const std::vector<std::string> lines = absl::StrSplit(server_log.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << server_log.str();
  EXPECT_THAT(lines[0], ::testing::HasSubstr("info function: hello world"));
  EXPECT_THAT(lines[0], ::testing::HasSubstr("function=echo version=3 invocation_id=inv-1"));
  EXPECT_THAT(lines[0], ::testing::HasSubstr("stream=stdout"));
  EXPECT_THAT(lines[1], ::testing::HasSubstr("stream=stderr"));
  EXPECT_THAT(lines[1], ::testing::Not(::testing::HasSubstr("invocation_id")));
}

TEST(FunctionLogsTest, SubscribersGetNewLinesOfTheirFunctionUntilUnsubscribed) {
  FunctionLogs logs;
  logs.Append(Line("echo", "before"));
  std::vector<std::string> seen;
  const uint64_t handle =
      logs.Subscribe("echo", [&](const LogLine& line) { seen.push_back(line.text); });
  EXPECT_NE(handle, 0u);
  logs.Append(Line("echo", "one"));
  logs.Append(Line("other", "not mine"));
  logs.Append(Line("echo", "two"));
  logs.Unsubscribe("echo", handle);
  logs.Append(Line("echo", "after"));
  EXPECT_THAT(seen, ElementsAre("one", "two"));
  logs.Unsubscribe("echo", handle);  // a second time is harmless
  logs.Unsubscribe("nobody", 12345);
}

TEST(FunctionLogsTest, UnsubscribeWaitsForARunningCallback) {
  FunctionLogs logs;
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> callback_done{false};
  const uint64_t handle = logs.Subscribe("echo", [&](const LogLine&) {
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(10));
    callback_done = true;
  });
  std::thread appender([&] { logs.Append(Line("echo", "slow")); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::atomic<bool> done_when_unsubscribed{false};
  std::thread unsubscriber([&] {
    logs.Unsubscribe("echo", handle);
    done_when_unsubscribed = callback_done.load();
  });
  // Give an Unsubscribe that does not wait the chance to return early.
  absl::SleepFor(absl::Milliseconds(50));
  release.Notify();
  unsubscriber.join();
  appender.join();
  EXPECT_TRUE(done_when_unsubscribed);
}

TEST(FunctionLogsTest, SequenceNumbersLetASubscriberSkipWhatTheTailHas) {
  FunctionLogs logs;
  logs.Append(Line("echo", "old"));
  std::vector<SequencedLogLine> followed;
  const uint64_t handle = logs.SubscribeSequenced(
      "echo", [&](const SequencedLogLine& entry) { followed.push_back(entry); });
  logs.Append(Line("other", "elsewhere"));
  logs.Append(Line("echo", "between"));
  const std::vector<SequencedLogLine> tail = logs.TailSequenced("echo", 10);
  logs.Append(Line("echo", "new"));
  logs.Unsubscribe("echo", handle);

  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].line.text, "old");
  EXPECT_EQ(tail[1].line.text, "between");
  EXPECT_LT(tail[0].sequence, tail[1].sequence);
  ASSERT_EQ(followed.size(), 2u);
  EXPECT_EQ(followed[0].sequence, tail[1].sequence);
  EXPECT_GT(followed[1].sequence, tail[1].sequence);
  EXPECT_EQ(followed[1].line.text, "new");
}

TEST(FunctionLogsTest, ForgetDropsTheLinesButKeepsSubscribers) {
  FunctionLogs logs;
  logs.Append(Line("echo", "one"));
  std::vector<std::string> seen;
  const uint64_t handle =
      logs.Subscribe("echo", [&](const LogLine& line) { seen.push_back(line.text); });
  logs.Forget("echo");
  EXPECT_THAT(logs.Tail("echo", 10), IsEmpty());
  logs.Append(Line("echo", "redeployed"));
  EXPECT_THAT(Texts(logs.Tail("echo", 10)), ElementsAre("redeployed"));
  EXPECT_THAT(seen, ElementsAre("redeployed"));
  logs.Unsubscribe("echo", handle);
  logs.Forget("echo");
  logs.Forget("never-seen");
  EXPECT_THAT(logs.Tail("echo", 10), IsEmpty());
}

TEST(FunctionLogsTest, ConcurrentAppendsKeepEveryLineInEachWritersOrder) {
  constexpr int kThreads = 8;
  constexpr int kLinesEach = 1000;
  FunctionLogs logs(nullptr, kThreads * kLinesEach);
  std::vector<uint64_t> sequences;  // guarded by the FunctionLogs lock
  const uint64_t handle = logs.SubscribeSequenced(
      "echo", [&](const SequencedLogLine& entry) { sequences.push_back(entry.sequence); });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&logs, t] {
      for (int i = 0; i < kLinesEach; ++i) {
        logs.Append(Line("echo", absl::StrCat(t, " ", i)));
        if (i % 100 == 0) logs.Tail("echo", 10);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  logs.Unsubscribe("echo", handle);

  const std::vector<SequencedLogLine> tail = logs.TailSequenced("echo", kThreads * kLinesEach);
  ASSERT_EQ(tail.size(), static_cast<size_t>(kThreads * kLinesEach));
  std::vector<int> next(kThreads, 0);
  for (size_t i = 0; i < tail.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(tail[i - 1].sequence, tail[i].sequence);
    }
    int thread = 0;
    int index = 0;
    ASSERT_EQ(std::sscanf(tail[i].line.text.c_str(), "%d %d", &thread, &index), 2);
    EXPECT_EQ(index, next[thread]++);
  }
  ASSERT_EQ(sequences.size(), tail.size());
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(sequences[i], tail[i].sequence);
}

}  // namespace
}  // namespace sluice
