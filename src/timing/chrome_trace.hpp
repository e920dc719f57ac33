// Chrome-trace events for timing rows, shared by the per-rank traces
// (RankTimingWriter) and hpcnn-merge's merged trace: one process per rank,
// one thread (track) per phase, times in microseconds on the run's time axis.
// With --trace each layer's forward and backward are events on the forward
// and backward tracks, nested in time inside their phase's event.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "timing/timing.hpp"

namespace hpcnn::timing {

/// Appends the metadata naming process `rank` (`label`) and its six phase tracks.
void add_rank_tracks(nlohmann::json& events, int rank, const std::string& label);

/// One complete ("X") event for a phase of a step; `start_s`, `seconds` in seconds.
nlohmann::json phase_event(int rank, Phase phase, int64_t epoch, int64_t step, double start_s, double seconds);

/// One complete ("X") event for layer `layer` (0-based) of `layer_label`'s
/// forward (phase kForward) or backward (kBackward) in a step: on the phase's
/// track, so it nests inside that phase's event; "cat": "layer".
nlohmann::json layer_event(int rank, Phase phase, int64_t epoch, int64_t step, int layer, const LayerLabel& label,
                           double start_s, double seconds);

/// The trace document: {"traceEvents": events, "displayTimeUnit": "ms"}.
nlohmann::json trace_document(nlohmann::json events);

}  // namespace hpcnn::timing
