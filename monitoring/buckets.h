// Histogram bucket bounds shared by Sluice's latency histograms.
#pragma once

#include "prometheus/histogram.h"

namespace sluice {

// LatencyBuckets are bounds in seconds from 100 microseconds (a warm native
// call) to 5 minutes (long functions and cold starts), about three buckets
// per decade.
inline const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120,  300};
  return *kBuckets;
}

}  // namespace sluice
