#include "monitoring/process_collector.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

// Values returns each family's single value by name.
std::map<std::string, double> Values() {
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& family : ProcessCollector().Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    if (family.metric.empty()) continue;
    const prometheus::ClientMetric& metric = family.metric.front();
    values[family.name] =
        family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
  }
  return values;
}

TEST(ProcessCollectorTest, ReportsTheStandardProcessMetrics) {
  const std::map<std::string, double> v = Values();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_TRUE(v.count(name)) << name;
  }
  EXPECT_GT(v.at("process_resident_memory_bytes"), 1024 * 1024);
  EXPECT_GE(v.at("process_virtual_memory_bytes"), v.at("process_resident_memory_bytes"));
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(v.at("process_max_fds"), static_cast<double>(limit.rlim_cur));
  // This test process started moments ago.
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(v.at("process_start_time_seconds"), now + 1);
  EXPECT_GT(v.at("process_start_time_seconds"), now - 600);
}

TEST(ProcessCollectorTest, OpenFileDescriptorsAreCountedExactly) {
  const double before = Values().at("process_open_fds");
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const double during = Values().at("process_open_fds");
  for (int fd : fds) close(fd);
  EXPECT_EQ(during - before, 10);
  EXPECT_EQ(Values().at("process_open_fds"), before);
}

TEST(ProcessCollectorTest, CpuSecondsGrowWithWork) {
  const double before = Values().at("process_cpu_seconds_total");
  // Burn at least 0.2 s of this process's CPU time.
  const std::clock_t start = std::clock();
  volatile uint64_t sink = 0;
  while (std::clock() - start < CLOCKS_PER_SEC / 5) sink = sink + 1;
  const double after = Values().at("process_cpu_seconds_total");
  EXPECT_GE(after - before, 0.15);
}

}  // namespace
}  // namespace sluice
