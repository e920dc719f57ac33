// The vectorised 16-bit conversions (comm/compression.cpp) against the scalar
// functions of comm/compression.hpp, bit for bit, on every clone this machine
// runs (x86-64-v4, -v3, baseline; HPCNN_CPU_CLONES does not restrict which
// are compared here, only which the program uses).
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "comm/compression.hpp"

using hpcnn::comm::Codec16;
using hpcnn::kernels::cpu_clones::Isa;

namespace {

struct Format {
  const char* name;
  const Codec16& (*codec)(Isa);
  uint16_t (*to)(float);
  float (*from)(uint16_t);
};
const Format kFormats[] = {{"bf16", &hpcnn::comm::bf16_codec, &hpcnn::comm::to_bf16, &hpcnn::comm::from_bf16},
                           {"fp16", &hpcnn::comm::fp16_codec, &hpcnn::comm::to_fp16, &hpcnn::comm::from_fp16}};

std::vector<Isa> clones() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kBaseline, Isa::kV3, Isa::kV4}) {
    if (hpcnn::kernels::cpu_clones::cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

/// FP32 bit patterns by class: both signs, every exponent, and the mantissas
/// where rounding to 7 (bf16) or 10 (fp16) bits or to a subnormal fp16 turns:
/// 0, 1, all ones, and around each possible half of a dropped low part (ties
/// to even or odd kept bits, one above, one below), plus NaN payloads.
std::vector<uint32_t> float_classes() {
  std::vector<uint32_t> mantissas = {0U, 1U, 0x7fffffU, 0x400000U, 0x3fffffU, 0x7f0000U, 0x7fe000U};
  for (uint32_t drop = 1; drop <= 23; ++drop) {  // dropped low bits: bf16 16, fp16 13, subnormal fp16 14..24
    const uint32_t half = 1U << (drop - 1U);
    for (uint32_t kept : {0U, 1U, 2U, 3U, (0x7fffffU >> drop)}) {
      const uint32_t base = (kept << drop) & 0x7fffffU;
      for (uint32_t low : {half - 1U, half, half + 1U}) mantissas.push_back((base | low) & 0x7fffffU);
    }
  }
  std::vector<uint32_t> out;
  for (uint32_t sign : {0U, 0x80000000U}) {
    for (uint32_t e = 0; e < 256; ++e) {
      for (uint32_t m : mantissas) out.push_back(sign | (e << 23) | m);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("Every clone encodes and rounds each float class bitwise as the scalar bf16 and fp16 functions",
          "[compression][compress]") {
  const std::vector<uint32_t> patterns = float_classes();
  const auto n = static_cast<int64_t>(patterns.size());
  std::vector<float> x(patterns.size());
  std::memcpy(x.data(), patterns.data(), patterns.size() * sizeof(float));
  for (const Format& f : kFormats) {
    for (Isa isa : clones()) {
      INFO(f.name << " clone " << static_cast<int>(isa));
      const Codec16& c = f.codec(isa);
      std::vector<uint16_t> h(x.size());
      std::vector<float> r = x;
      c.encode(x.data(), h.data(), n);
      c.round(r.data(), n);
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t want = f.to(x[i]);
        if (h[i] != want || bits(r[i]) != bits(f.from(want))) {
          if (++wrong <= 5)
            FAIL_CHECK("input 0x" << std::hex << patterns[i] << " gave 0x" << h[i] << " want 0x" << want);
        }
      }
      CHECK(wrong == 0);
    }
  }
}

// The tests above run whole vectors from aligned starts; the ring calls the
// clones on any chunk length at any float offset, so the narrower and scalar
// loops after the widest one must give the same bits: every length 0-70 and
// a long odd one, from starts 0-3 elements past an aligned one.
TEST_CASE("Every clone gives the scalar bits at any length and from unaligned starts", "[compression][compress]") {
  const std::vector<uint32_t> classes = float_classes();
  std::vector<float> x(1000);  // a spread of the classes, every sign and exponent region
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::bit_cast<float>(classes[i * (classes.size() / x.size())]);
  for (const Format& f : kFormats) {
    for (Isa isa : clones()) {
      const Codec16& c = f.codec(isa);
      for (int64_t start = 0; start < 4; ++start) {
        for (int64_t n = 0; n <= 71; ++n) {
          const int64_t len = n == 71 ? static_cast<int64_t>(x.size()) - start - 13 : n;
          INFO(f.name << " clone " << static_cast<int>(isa) << ", start " << start << ", length " << len);
          const float* in = x.data() + start;
          std::vector<uint16_t> h(static_cast<size_t>(len + start) + 1, 0xabcd);
          std::vector<float> r(x.begin(), x.end()), w(x.size(), 1.5f), add(x.begin(), x.end()), add_round(add);
          c.encode(in, h.data() + start, len);
          c.round(r.data() + start, len);
          c.widen(h.data() + start, w.data() + start, len);
          c.widen_add(h.data() + start, add.data() + start, len);
          c.widen_add_round(h.data() + start, add_round.data() + start, len);
          int64_t wrong = 0;
          for (int64_t i = 0; i < len; ++i) {
            const uint16_t want = f.to(in[i]);
            const float sum = in[i] + f.from(want);
            wrong += h[static_cast<size_t>(start + i)] != want;
            wrong += bits(r[static_cast<size_t>(start + i)]) != bits(f.from(want));
            wrong += bits(w[static_cast<size_t>(start + i)]) != bits(f.from(want));
            if (!std::isnan(sum)) {  // NaN + NaN may keep either payload (below)
              wrong += bits(add[static_cast<size_t>(start + i)]) != bits(sum);
              wrong += bits(add_round[static_cast<size_t>(start + i)]) != bits(f.from(f.to(sum)));
            }
          }
          // Nothing written past the end.
          wrong += h[static_cast<size_t>(start + len)] != 0xabcd;
          if (start + len < static_cast<int64_t>(x.size())) {
            wrong += bits(w[static_cast<size_t>(start + len)]) != bits(1.5f);
            wrong += bits(r[static_cast<size_t>(start + len)]) != bits(x[static_cast<size_t>(start + len)]);
          }
          CHECK(wrong == 0);
        }
      }
    }
  }
}

TEST_CASE("Every clone widens every 16-bit value and adds it to each float class bitwise as the scalar functions",
          "[compression][compress]") {
  // Sums to widen into: the classes above (every exponent, rounding edges,
  // infinities, NaNs), so overflow, cancellation and NaN propagation occur.
  std::vector<uint32_t> sums = float_classes();
  // A spread-out 1/211 of them: one or two of each sign and exponent's ~350
  // patterns (the test takes 2 s, not 8 with 1/61, in each of the 4 runs of
  // the unit tests).
  constexpr size_t kStride = 211;
  for (size_t i = 0; i < sums.size(); i += kStride) sums[i / kStride] = sums[i];
  sums.resize((sums.size() + kStride - 1) / kStride);
  constexpr int64_t kAll16 = 1 << 16;
  std::vector<uint16_t> h(kAll16);
  for (int64_t i = 0; i < kAll16; ++i) h[i] = static_cast<uint16_t>(i);
  for (const Format& f : kFormats) {
    for (Isa isa : clones()) {
      INFO(f.name << " clone " << static_cast<int>(isa));
      const Codec16& c = f.codec(isa);
      std::vector<float> w(kAll16);
      c.widen(h.data(), w.data(), kAll16);
      int64_t wrong = 0;
      for (int64_t i = 0; i < kAll16; ++i) wrong += bits(w[i]) != bits(f.from(h[i]));
      for (uint32_t s : sums) {
        std::vector<float> add(kAll16, std::bit_cast<float>(s)), add_round(add);
        c.widen_add(h.data(), add.data(), kAll16);
        c.widen_add_round(h.data(), add_round.data(), kAll16);
        for (int64_t i = 0; i < kAll16; ++i) {
          const float want = std::bit_cast<float>(s) + f.from(h[i]);
          if (std::isnan(std::bit_cast<float>(s)) && std::isnan(f.from(h[i]))) {
            // NaN + NaN is one of the two NaNs: which one, x86 decides by the
            // operands' order in the instruction, which GCC may swap (a + b
            // is commutative to it) in the scalar code as in the vector.
            wrong += !std::isnan(add[i]) || !std::isnan(add_round[i]);
            continue;
          }
          if (bits(add[i]) != bits(want) || bits(add_round[i]) != bits(f.from(f.to(want)))) {
            if (++wrong <= 5) {
              FAIL_CHECK(std::hex << "0x" << s << " + 0x" << h[i] << " gave 0x" << bits(add[i]) << " and 0x"
                                  << bits(add_round[i]) << ", want 0x" << bits(want));
            }
          }
        }
      }
      CHECK(wrong == 0);
    }
  }
}

// All 2^32 float bit patterns through encode and round, every clone, both
// formats: ~1 min on 2 cores, so hidden from the default run and registered
// once as its own ctest (unit.compression_all_floats, tests/CMakeLists.txt)
// rather than again under every ISA cap.
TEST_CASE("Every clone encodes and rounds all 2^32 floats bitwise as the scalar bf16 and fp16 functions",
          "[.][compression_all_floats]") {
  constexpr int64_t kChunk = 1 << 16;
  std::vector<float> x(kChunk), r(kChunk), want_r(kChunk);
  std::vector<uint16_t> h(kChunk), want_h(kChunk);
  const std::vector<Isa> isas = clones();
  for (const Format& f : kFormats) {
    int64_t wrong = 0;
    for (uint64_t hi = 0; hi < (1U << 16); ++hi) {
      for (int64_t i = 0; i < kChunk; ++i) {
        x[i] = std::bit_cast<float>(static_cast<uint32_t>(hi << 16 | static_cast<uint64_t>(i)));
        want_h[i] = f.to(x[i]);
        want_r[i] = f.from(want_h[i]);
      }
      for (Isa isa : isas) {
        const Codec16& c = f.codec(isa);
        c.encode(x.data(), h.data(), kChunk);
        r = x;
        c.round(r.data(), kChunk);
        if (std::memcmp(h.data(), want_h.data(), kChunk * sizeof(uint16_t)) != 0 ||
            std::memcmp(r.data(), want_r.data(), kChunk * sizeof(float)) != 0) {
          if (++wrong <= 5) FAIL_CHECK(f.name << " clone " << static_cast<int>(isa) << ": chunk 0x" << std::hex << hi);
        }
      }
    }
    CHECK(wrong == 0);
  }
}

TEST_CASE("HPCNN_CPU_CLONES caps the clone the 16-bit conversions take", "[compression][compress]") {
  using hpcnn::kernels::cpu_clones::best_isa;
  using hpcnn::kernels::cpu_clones::cpu_has;
  const char* env = std::getenv("HPCNN_CPU_CLONES");
  const std::string cap = env != nullptr ? env : "";
  // The best clone the CPU has, unless capped (isa.baseline_clones.unit runs this with "baseline").
  const Isa best = cpu_has(Isa::kV4) ? Isa::kV4 : cpu_has(Isa::kV3) ? Isa::kV3 : Isa::kBaseline;
  const Isa want = cap == "baseline" ? Isa::kBaseline : cap == "x86-64-v3" && best == Isa::kV4 ? Isa::kV3 : best;
  CHECK(best_isa() == want);
  CHECK(hpcnn::kernels::cpu_clones::use_v4() == (want == Isa::kV4));
  CHECK(&hpcnn::comm::bf16_codec() == &hpcnn::comm::bf16_codec(want));
}
