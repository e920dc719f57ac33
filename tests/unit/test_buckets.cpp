// Bucket accumulation (train/buckets.hpp): the buckets a step starts are
// contiguous, tail first, at least the bucket size (all but the last), and
// cover the gradient buffer exactly once.
#include <catch2/catch.hpp>

#include <vector>

#include "train/buckets.hpp"

using namespace hpcnn::train;

namespace {
/// The buckets one step starts when backward reports `layers` (sizes, first
/// layer first) tail first.
std::vector<GradRange> one_step(BucketAccumulator& acc, const std::vector<int64_t>& layers) {
  std::vector<GradRange> started;
  acc.reset();
  int64_t end = 0;
  for (int64_t n : layers) end += n;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    end -= *it;
    if (auto b = acc.add(end, *it)) started.push_back(*b);
  }
  if (auto b = acc.finish()) started.push_back(*b);
  return started;
}
}  // namespace

TEST_CASE("Buckets: without a bucket size the whole buffer is one bucket after backward", "[buckets]") {
  BucketAccumulator acc(100, 0);
  const std::vector<GradRange> b = one_step(acc, {10, 40, 20, 30});
  REQUIRE(b.size() == 1);
  CHECK(b[0] == GradRange{0, 100});
}

TEST_CASE("Buckets: buckets start tail first once the size is reached and cover the buffer once", "[buckets]") {
  BucketAccumulator acc(100, 25);
  const std::vector<GradRange> b = one_step(acc, {10, 40, 20, 30});
  // Layer 4 (30) starts a bucket alone; layers 3 and 2 (20 + 40) the next;
  // layer 1 (10) waits for the end of backward.
  REQUIRE(b.size() == 3);
  CHECK(b[0] == GradRange{70, 100});
  CHECK(b[1] == GradRange{10, 70});
  CHECK(b[2] == GradRange{0, 10});
  // The same again on the next step: reset() forgets the last.
  CHECK(one_step(acc, {10, 40, 20, 30}) == b);
  // A bucket size every layer exceeds: one bucket per layer, nothing left at the end.
  BucketAccumulator small(100, 1);
  const std::vector<GradRange> per_layer = one_step(small, {10, 40, 20, 30});
  CHECK(per_layer == std::vector<GradRange>{{70, 100}, {50, 70}, {10, 50}, {0, 10}});
}

TEST_CASE("Buckets: a rank without a sample hands over its whole zero gradient at once", "[buckets]") {
  BucketAccumulator acc(64, 16);
  acc.reset();
  acc.all_ready();
  REQUIRE(acc.finish().has_value());
  CHECK(*acc.finish() == GradRange{0, 64});
}
