#include "runtime/output_pump.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

// Pipes is a stdout and a stderr pipe whose write ends the test holds.
class Pipes {
 public:
  Pipes() {
    EXPECT_EQ(pipe2(out_, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err_, O_CLOEXEC), 0);
  }
  ~Pipes() {
    CloseWriters();
    close(out_[0]);
    close(err_[0]);
  }
  int stdout_reader() const { return out_[0]; }
  int stderr_reader() const { return err_[0]; }
  void Print(const std::string& text) {
    ASSERT_EQ(write(out_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void PrintError(const std::string& text) {
    ASSERT_EQ(write(err_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  // CloseWriters ends both streams (the pump then sees end-of-file).
  void CloseWriters() {
    for (int* fd : {&out_[1], &err_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

 private:
  int out_[2] = {-1, -1};
  int err_[2] = {-1, -1};
};

// Lines collects what the pump hands on.
class Lines {
 public:
  OutputPump::LineFn Collector() {
    return [this](const char* stream, std::string line) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(std::string(stream) + ": " + line);
    };
  }
  std::vector<std::string> Get() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST(OutputPumpTest, DrainHandsOnEveryLinePrintedBeforeIt) {
  Pipes pipes;
  Lines lines;
  {
    OutputPump pump(pipes.stdout_reader(), pipes.stderr_reader(), lines.Collector());
    for (int attempt = 0; attempt < 200; ++attempt) {
      pipes.Print("out " + std::to_string(attempt) + "\n");
      pipes.PrintError("err " + std::to_string(attempt) + "\n");
      pump.Drain();
      std::vector<std::string> got = lines.Get();
      ASSERT_EQ(got.size(), 2u * (attempt + 1)) << "after attempt " << attempt;
      // The two streams are read in either order; each line exactly once.
      std::vector<std::string> last(got.end() - 2, got.end());
      std::sort(last.begin(), last.end());
      EXPECT_EQ(last, (std::vector<std::string>{"stderr: err " + std::to_string(attempt),
                                                "stdout: out " + std::to_string(attempt)}));
    }
    pipes.CloseWriters();
  }
}

TEST(OutputPumpTest, DrainWithNothingPrintedReturnsAndLosesNothingLater) {
  Pipes pipes;
  Lines lines;
  {
    OutputPump pump(pipes.stdout_reader(), pipes.stderr_reader(), lines.Collector());
    for (int i = 0; i < 1000; ++i) pump.Drain();  // the quiet path: nothing to read
    EXPECT_TRUE(lines.Get().empty());
    pipes.Print("late\n");
    pump.Drain();
    EXPECT_EQ(lines.Get(), std::vector<std::string>{"stdout: late"});
    pipes.Print("unfinished");
    pipes.CloseWriters();
  }
  // End-of-file hands on the last line without its newline.
  EXPECT_EQ(lines.Get(), (std::vector<std::string>{"stdout: late", "stdout: unfinished"}));
}

}  // namespace
}  // namespace sluice
