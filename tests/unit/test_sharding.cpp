// The single-process pieces of the sharded optimizer (issue 30): bf16 and
// fp16 rounding, Optimizer::step_slices against step(), scatter_shard.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend.hpp"
#include "comm/compression.hpp"
#include "comm/shard_state.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/optimizer.hpp"

using namespace hpcnn;

TEST_CASE("bf16 rounds to nearest with ties to even and keeps NaN and infinity", "[shard][compression]") {
  using comm::from_bf16;
  using comm::round_bf16;
  using comm::to_bf16;
  CHECK(round_bf16(1.0f) == 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: the even one (1) wins; 1 + 3 * 2^-8 goes up to 1 + 2^-6.
  CHECK(round_bf16(1.0f + std::ldexp(1.0f, -8)) == 1.0f);
  CHECK(round_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(round_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 1.0f + std::ldexp(1.0f, -7));
  CHECK(round_bf16(-2.5f) == -2.5f);
  CHECK(std::isnan(round_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A signalling NaN whose payload sits only in the low bits must not become infinity.
  CHECK(std::isnan(from_bf16(to_bf16(std::bit_cast<float>(0x7f800001U)))));
  CHECK(round_bf16(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(std::isinf(round_bf16(std::numeric_limits<float>::max())));  // beyond bf16's largest finite
  // Relative error within the unit roundoff over many values.
  Rng rng(derive_key({3}));
  for (int i = 0; i < 10000; ++i) {
    const float x = static_cast<float>(rng.uniform(-1, 1) * std::ldexp(1.0, static_cast<int>(rng.uniform() * 40) - 20));
    CHECK(std::abs(static_cast<double>(round_bf16(x)) - x) <= comm::kBf16UnitRoundoff * std::abs(x));
  }
}

TEST_CASE("fp16 rounds to nearest with ties to even, keeps subnormals, NaN and infinity and clamps overflow",
          "[shard][compression]") {
  using comm::from_fp16;
  using comm::round_fp16;
  using comm::to_fp16;
  CHECK(to_fp16(1.0f) == 0x3c00);
  CHECK(to_fp16(-2.0f) == 0xc000);
  CHECK(to_fp16(0.0f) == 0x0000);
  CHECK(to_fp16(-0.0f) == 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: the even one (1) wins; 1 + 3 * 2^-11 goes up to 1 + 2^-9.
  CHECK(round_fp16(1.0f + std::ldexp(1.0f, -11)) == 1.0f);
  CHECK(round_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 1.0f + std::ldexp(1.0f, -9));
  CHECK(round_fp16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)) == 1.0f + std::ldexp(1.0f, -10));
  // Subnormals: spacing 2^-24; 2^-25 is a tie between 0 and 2^-24 (0 is even), just above it rounds up.
  CHECK(to_fp16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(to_fp16(std::ldexp(1.0f, -25)) == 0x0000);
  CHECK(to_fp16(std::ldexp(1.0f, -25) * 1.0001f) == 0x0001);
  CHECK(to_fp16(3 * std::ldexp(1.0f, -25)) == 0x0002);                      // 1.5 units: ties to even (2)
  CHECK(to_fp16(std::ldexp(1.0f, -14)) == 0x0400);                          // the smallest normal
  CHECK(to_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)) == 0x0400);  // a subnormal rounding up into it
  CHECK(round_fp16(std::ldexp(1.0f, -30)) == 0.0f);
  // Overflow is clamped to the largest finite, infinities and NaN pass.
  CHECK(round_fp16(65504.0f) == 65504.0f);
  CHECK(round_fp16(65519.0f) == 65504.0f);
  CHECK(round_fp16(65520.0f) == comm::kFp16Max);  // IEEE would give infinity here
  CHECK(round_fp16(-1e30f) == -comm::kFp16Max);
  CHECK(round_fp16(std::numeric_limits<float>::max()) == comm::kFp16Max);
  CHECK(round_fp16(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(round_fp16(-std::numeric_limits<float>::infinity()) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(round_fp16(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(from_fp16(to_fp16(std::bit_cast<float>(0x7f800001U)))));  // low-bit payload: still NaN
  // Every finite fp16 value converts to float and back unchanged.
  int64_t changed = 0;
  for (uint32_t h = 0; h < 0x10000U; ++h) {
    const auto v = static_cast<uint16_t>(h);
    if ((v & 0x7c00U) == 0x7c00U) continue;  // infinities and NaN
    changed += to_fp16(from_fp16(v)) != v ? 1 : 0;
  }
  CHECK(changed == 0);
  // Within the unit roundoff (normal range) or half the subnormal spacing, over many values.
  Rng rng(derive_key({5}));
  int64_t outside = 0;
  for (int i = 0; i < 100000; ++i) {
    const float x = static_cast<float>(rng.uniform(-1, 1) * std::ldexp(1.0, static_cast<int>(rng.uniform() * 44) - 28));
    const double err = std::abs(static_cast<double>(round_fp16(x)) - x);
    outside += err > comm::kFp16UnitRoundoff * std::abs(x) + comm::kFp16SubnormalHalfSpacing ? 1 : 0;
#if defined(__FLT16_MAX__)
    // The compiler's IEEE conversion, where it has one, agrees bit for bit below the clamp.
    if (std::abs(x) < 65504.0f) {
      const _Float16 ref = static_cast<_Float16>(x);
      outside += std::bit_cast<uint16_t>(ref) != to_fp16(x) ? 1 : 0;
    }
#endif
  }
  CHECK(outside == 0);
}

namespace {
/// Where each slice's gradients start when they are packed one after another
/// in slice order (as scatter_shard packs them).
std::vector<int64_t> packed_offsets(const std::vector<std::pair<int64_t, int64_t>>& slices) {
  std::vector<int64_t> at;
  int64_t packed = 0;
  for (const auto& [first, last] : slices) {
    at.push_back(packed);
    packed += last - first;
  }
  return at;
}
}  // namespace

TEST_CASE("step_slices over a partition of the buffer in any order = step over all of it, bitwise", "[shard]") {
  auto backend = kernels::make_reference_backend();
  const int64_t n = 1000;
  const std::vector<std::pair<int64_t, int64_t>> slices{{600, 1000}, {0, 250}, {250, 250}, {250, 600}};
  for (const auto kind : {model::OptimizerKind::kAdam, model::OptimizerKind::kSgd}) {
    model::OptimizerConfig config;
    config.kind = kind;
    config.momentum = 0.9;
    std::vector<float> whole(static_cast<size_t>(n)), sliced;
    Rng rng(derive_key({4}));
    for (float& x : whole) x = static_cast<float>(rng.uniform(-1, 1));
    sliced = whole;
    model::Optimizer full(config, *backend, n), part(config, *backend, n);
    for (int step = 0; step < 3; ++step) {
      std::vector<float> grads(static_cast<size_t>(n));
      for (float& g : grads) g = static_cast<float>(rng.uniform(-1, 1));
      full.step(whole.data(), grads.data());
      const std::vector<float> packed = comm::scatter_shard(grads, slices);
      part.step_slices(sliced.data(), packed.data(), packed_offsets(slices), slices);
    }
    CHECK(std::memcmp(whole.data(), sliced.data(), whole.size() * sizeof(float)) == 0);
    CHECK(part.steps() == 3);
    // The state, packed in slice order, is the full state's slices.
    CHECK(part.state_a() == comm::scatter_shard(full.state_a(), slices));
  }
}

TEST_CASE("step_slices reading each slice's gradients at its own offset = step over all of it, bitwise", "[shard]") {
  auto backend = kernels::make_reference_backend();
  const int64_t n = 1000;
  const std::vector<std::pair<int64_t, int64_t>> slices{{0, 250}, {250, 250}, {400, 600}, {900, 1000}};
  std::vector<int64_t> at;  // the gradients where they are in a whole buffer, as the host sharded reducer leaves them
  int64_t mine = 0;
  for (const auto& [first, last] : slices) {
    at.push_back(first);
    mine += last - first;
  }
  for (const auto kind : {model::OptimizerKind::kAdam, model::OptimizerKind::kSgd}) {
    model::OptimizerConfig config;
    config.kind = kind;
    config.momentum = 0.9;
    std::vector<float> whole(static_cast<size_t>(n));
    Rng rng(derive_key({5}));
    for (float& x : whole) x = static_cast<float>(rng.uniform(-1, 1));
    std::vector<float> sliced = whole;
    model::Optimizer full(config, *backend, n), part(config, *backend, mine);
    for (int step = 0; step < 3; ++step) {
      std::vector<float> grads(static_cast<size_t>(n));
      for (float& g : grads) g = static_cast<float>(rng.uniform(-1, 1));
      full.step(whole.data(), grads.data());
      part.step_slices(sliced.data(), grads.data(), at, slices);
    }
    for (const auto& [first, last] : slices) {
      CHECK(std::memcmp(whole.data() + first, sliced.data() + first,
                        static_cast<size_t>(last - first) * sizeof(float)) == 0);
    }
    // The state stays packed in slice order.
    CHECK(part.state_a() == comm::scatter_shard(full.state_a(), slices));
  }
  model::Optimizer part(model::OptimizerConfig{}, *backend, mine);
  std::vector<float> params(static_cast<size_t>(n)), grads(static_cast<size_t>(n));
  CHECK_THROWS_WITH(part.step_slices(params.data(), grads.data(), std::vector<int64_t>{0}, slices),
                    Catch::Contains("1 gradient offsets for 4 slices"));
}

TEST_CASE("step_slices refuses slices that do not match its state", "[shard]") {
  auto backend = kernels::make_reference_backend();
  model::Optimizer part(model::OptimizerConfig{}, *backend, 10);
  std::vector<float> params(100), grads(10);
  const std::vector<std::pair<int64_t, int64_t>> too_many{{0, 6}, {50, 56}};
  CHECK_THROWS_WITH(part.step_slices(params.data(), grads.data(), packed_offsets(too_many), too_many),
                    Catch::Contains("slices of 12"));
  CHECK(part.steps() == 0);  // refused before counting a step
}
