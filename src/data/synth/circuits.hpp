// Procedural schematic symbols: resistor, capacitor, inductor, voltage source.
//
// Stands in for the Image2Circuit photos and drawings. Each symbol is drawn as
// strokes in a canonical frame (horizontal, leads to x = +-1), with variants
// (zigzag or box resistor, polarised capacitor, DC or AC source), then
// augmented: scale, rotation (quarter turns plus a tilt), shift, stroke width,
// hand-drawn vertex jitter and pixel noise. Bright ink on a dark background,
// like MNIST. The class of sample i is i % 4, so every split is balanced.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hpcnn::data::synth {

enum class Symbol : int { kResistor = 0, kCapacitor = 1, kInductor = 2, kVoltageSource = 3 };
inline constexpr int kNumSymbols = 4;
const std::vector<std::string>& symbol_names();

struct CircuitStyle {
  int image_size = 64;
  double max_noise = 12.0;  ///< Gaussian pixel noise, std up to this many grey levels
};

/// Draws symbol `symbol` with augmentation from `key` into `dst` (size*size bytes).
void draw_symbol(Symbol symbol, uint64_t key, const CircuitStyle& style, std::span<uint8_t> dst);

}  // namespace hpcnn::data::synth
