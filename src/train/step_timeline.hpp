// The step timeline: one training step's phases on this rank's timing file
// (and Chrome trace). The step says when each phase started and how long it
// took; every phase gets its row on every rank, zero seconds when it did not
// run, so that the ranks' files line up row for row (timing/timing.hpp).
// Without a run directory there is no timing file and nothing is recorded.
// Replaces the `if (timer_)` checks that were spread over the step.
#pragma once

#include <cstdint>

#include "timing/timing.hpp"

namespace hpcnn::train {

class StepTimeline {
 public:
  /// `writer`: this rank's timing file, or null (nothing timed).
  explicit StepTimeline(timing::RankTimingWriter* writer = nullptr) : writer_(writer) {}

  bool on() const { return writer_ != nullptr; }
  /// Seconds on the timing clock (0 when nothing is timed).
  double now() const { return writer_ != nullptr ? writer_->now() : 0.0; }

  /// A step begins: its epoch, its number in the epoch (from 1) and this
  /// rank's samples in it. Returns the step's start time.
  double begin(int64_t epoch, int64_t step, int64_t samples) {
    epoch_ = epoch;
    step_ = step;
    samples_ = samples;
    first_bucket_s_ = -1;
    start_s_ = now();
    return start_s_;
  }
  double start() const { return start_s_; }

  /// A bucket went to the reducer: the first one of the step starts the all-reduce row.
  void bucket_started() {
    if (first_bucket_s_ < 0 && on()) first_bucket_s_ = now();
  }
  /// When the step's all-reduce started: its first bucket, else `wait_s`.
  double allreduce_start(double wait_s) const { return first_bucket_s_ >= 0 ? first_bucket_s_ : wait_s; }

  /// One phase's row.
  void phase(timing::Phase phase, double start_s, double seconds, int64_t bytes = 0, int64_t queue = 0) {
    if (on()) writer_->record(epoch_, step_, phase, start_s, seconds, bytes, samples_, queue);
  }
  /// One layer's forward or backward inside its phase (the trace only).
  void layer(timing::Phase phase, int layer, double start_s, double seconds) {
    if (on()) writer_->record_layer(epoch_, step_, phase, layer, start_s, seconds);
  }
  /// The step's rows are complete: written out.
  void end() {
    if (on()) writer_->end_step();
  }

 private:
  timing::RankTimingWriter* writer_;
  int64_t epoch_ = 0, step_ = 0, samples_ = 0;
  double start_s_ = 0, first_bucket_s_ = -1;
};

}  // namespace hpcnn::train
