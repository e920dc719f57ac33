// The train options table (see train_options.hpp).
#include "train/train_options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "comm/allreduce.hpp"
#include "comm/reduce_scatter.hpp"
#include "core/error.hpp"

namespace hpcnn::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
/// Boost.Program_options' own wording for a value it cannot read, kept so
/// that scripts matching it still do.
[[noreturn]] void invalid(const std::string& name, const std::string& text) {
  throw UsageError(cat("the argument ('", text, "') for option '--", name, "' is invalid"));
}

template <typename T>
T parse_integer(const std::string& name, const std::string& text) {
  T v{};
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data() + (!text.empty() && text[0] == '+'), end, v);
  if (ec != std::errc() || p != end || text.empty()) invalid(name, text);
  return v;
}

double parse_real(const std::string& name, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) invalid(name, text);
  // Range checks compare, and every comparison with NaN is false.
  if (!std::isfinite(v)) throw UsageError(cat("--", name, " must be a finite number (got ", v, ")"));
  return v;
}

/// `v` in the fewest digits that read back as the same double.
std::string real_text(double v) {
  for (int digits = 1; digits <= 17; ++digits) {
    std::ostringstream os;
    os.precision(digits);
    os << v;
    if (std::strtod(os.str().c_str(), nullptr) == v) return os.str();
  }
  return cat(v);
}

template <typename T>
std::string number_text(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return real_text(v);
  } else {
    return std::to_string(v);
  }
}

template <typename T>
T parse_as(const std::string& name, const std::string& text) {
  if constexpr (std::is_floating_point_v<T>) {
    return parse_real(name, text);
  } else {
    return parse_integer<T>(name, text);
  }
}

bool parse_switch(const std::string& name, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  invalid(name, text);
}

/// "500,30m": --checkpoint-every as the command line writes it.
std::string checkpoint_every_text(const TrainConfig& c) {
  std::string out;
  if (c.checkpoint_every_steps > 0) out = std::to_string(c.checkpoint_every_steps);
  if (c.checkpoint_every_seconds > 0) {
    const auto s = static_cast<int64_t>(c.checkpoint_every_seconds);
    const std::string t = s % 3600 == 0 ? cat(s / 3600, "h") : s % 60 == 0 ? cat(s / 60, "m") : cat(s, "s");
    out += (out.empty() ? "" : ",") + t;
  }
  return out.empty() ? "off" : out;
}

/// --checkpoint-every: "500" (steps), "30m" / "90s" / "2h" (wall time), or
/// both ("500,30m"); "0" or "off": no periodic checkpoints.
void set_checkpoint_every(TrainConfig& c, const std::string& text) {
  c.checkpoint_every_steps = 0;
  c.checkpoint_every_seconds = 0;
  if (text == "off" || text == "0") return;
  std::istringstream is(text);
  for (std::string item; std::getline(is, item, ',');) {
    size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const std::string unit = item.substr(used);
    const double scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
    if (used == 0 || n < 1 || n > (1LL << 40) || (!unit.empty() && scale == 0)) {
      throw UsageError("--checkpoint-every: '" + item + "' is not N (steps) or N followed by s, m or h (wall time)");
    }
    if (unit.empty()) {
      c.checkpoint_every_steps = n;
    } else {
      c.checkpoint_every_seconds = static_cast<double>(n) * scale;
    }
  }
}

/// A numeric option of the configuration: `field` maps a TrainConfig (const
/// or not) to the member. The help gets the range; `above` makes the lower
/// bound one the value may not reach.
template <typename T, typename Field>
TrainOption number(std::string name, std::string key, unsigned flags, Field field, T lo, T hi, std::string help,
                   std::string example, bool above = false) {
  TrainOption o;
  o.name = name;
  o.key = key;
  o.resume_key = key;
  o.flags = flags;
  o.help = above ? cat(help, " (greater than ", number_text(lo), ", at most ", number_text(hi), ")")
                 : cat(help, " (", number_text(lo), "..", number_text(hi), ")");
  o.example = std::move(example);
  o.text = [field](const TrainArgs& a) { return number_text<T>(field(a.config)); };
  o.set = [name, field, lo, hi, above](TrainArgs& a, const std::string& text) {
    const T v = parse_as<T>(name, text);
    // Written as !(in range) so that NaN is refused too.
    if (above && !(v > lo && v <= hi)) {
      throw UsageError(cat("--", name, " must be greater than ", lo, " and at most ", hi, " (got ", v, ")"));
    }
    if (!above && !(v >= lo && v <= hi)) {
      throw UsageError(cat("--", name, " must be between ", lo, " and ", hi, " (got ", v, ")"));
    }
    field(a.config) = v;
  };
  if (!key.empty()) o.json = [field](const TrainConfig& c) { return json(field(c)); };
  return o;
}

/// A text option of the configuration kept as it is (model strings, layer names).
template <typename Field>
TrainOption text_option(std::string name, std::string key, unsigned flags, Field field, std::string value_name,
                        std::string help, std::string example) {
  TrainOption o;
  o.name = std::move(name);
  o.key = key;
  o.resume_key = key;
  o.flags = flags;
  o.value_name = std::move(value_name);
  o.help = std::move(help);
  o.example = std::move(example);
  o.text = [field](const TrainArgs& a) { return std::string(field(a.config)); };
  o.set = [field](TrainArgs& a, const std::string& text) { field(a.config) = text; };
  if (!key.empty()) o.json = [field](const TrainConfig& c) { return json(std::string(field(c))); };
  return o;
}

/// A flag of the configuration (--trace).
template <typename Field>
TrainOption switch_option(std::string name, std::string key, unsigned flags, Field field, std::string help) {
  TrainOption o;
  o.name = name;
  o.key = key;
  o.resume_key = key;
  o.flags = flags | TrainOption::kSwitch;
  o.help = std::move(help);
  o.example = "true";
  o.text = [field](const TrainArgs& a) { return std::string(field(a.config) ? "true" : "false"); };
  o.set = [name, field](TrainArgs& a, const std::string& text) { field(a.config) = parse_switch(name, text); };
  if (!key.empty()) o.json = [field](const TrainConfig& c) { return json(field(c)); };
  return o;
}

/// A value recorded in run.json that no option sets (Adam's betas).
template <typename Field>
TrainOption recorded(std::string key, unsigned flags, Field field) {
  TrainOption o;
  o.key = key;
  o.resume_key = key;
  o.flags = flags;
  o.json = [field](const TrainConfig& c) { return json(field(c)); };
  return o;
}

/// A row whose text, parsing and record are written out in full.
TrainOption custom(std::string name, std::string key, unsigned flags, std::string value_name, std::string help,
                   std::string example, std::function<std::string(const TrainArgs&)> text,
                   std::function<void(TrainArgs&, const std::string&)> set,
                   std::function<json(const TrainConfig&)> to_json = {}) {
  TrainOption o;
  o.name = std::move(name);
  o.key = key;
  o.resume_key = key;
  o.flags = flags;
  o.value_name = std::move(value_name);
  o.help = std::move(help);
  o.example = std::move(example);
  o.text = std::move(text);
  o.set = std::move(set);
  o.json = std::move(to_json);
  return o;
}

const char* verify_data_name(TrainConfig::VerifyData v) {
  switch (v) {
    case TrainConfig::VerifyData::kAuto: return "auto";
    case TrainConfig::VerifyData::kAlways: return "always";
    case TrainConfig::VerifyData::kNever: return "never";
  }
  return "auto";
}

std::vector<TrainOption> make_table() {
  using O = TrainOption;
  constexpr unsigned kTrajectory = O::kTrajectory, kRestored = O::kRestored, kShared = O::kSharedGroup;
  std::vector<TrainOption> t;
  // clang-format off
  t.push_back(custom("data", "data", kRestored, "DIR", "dataset directory", "other-data",
      [](const TrainArgs& a) { return a.config.data_dir.string(); },
      [](TrainArgs& a, const std::string& s) { a.config.data_dir = s; },
      [](const TrainConfig& c) { return json(c.data_dir.string()); }));
  t.back().short_name = 'd';
  t.push_back(text_option("model", "model", kTrajectory | kRestored, [](auto& c) -> auto& { return c.model; },
      "NAME|STRING", "preset or model string", "tiny-cnn"));
  t.back().short_name = 'm';
  t.push_back(number<int>("epochs", "epochs", kRestored, [](auto& c) -> auto& { return c.epochs; }, 1, 100000,
      "training epochs", "3"));
  t.back().short_name = 'e';
  // The global batch is what the trajectory depends on: --batch is recorded
  // but not restored, and the recorded global batch is kept unless either is given.
  t.push_back(number<int64_t>("batch", "batch", 0, [](auto& c) -> auto& { return c.batch; }, 1, int64_t{1} << 20,
      "batch size per rank (weak scaling)", "64"));
  t.back().short_name = 'b';
  t.push_back(number<int64_t>("global-batch", "global_batch", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.global_batch; }, 0, int64_t{1} << 24,
      "samples per step over all ranks (strong scaling; 0: batch x ranks)", "64"));
  t.back().restore_unless = {"batch"};
  t.push_back(custom("allreduce", "allreduce", kRestored, "", comm::allreduce_choices_help(), "ring",
      [](const TrainArgs& a) { return std::string(comm::allreduce_name(a.config.allreduce)); },
      [](TrainArgs& a, const std::string& s) { a.config.allreduce = comm::parse_allreduce(s); },
      [](const TrainConfig& c) { return json(comm::allreduce_name(c.allreduce)); }));
  t.back().resume_key = "allreduce_requested";  // "allreduce" records the algorithm that ran
  t.push_back(custom("bucket-mb", "bucket_mb", kRestored, "",
      "start all-reducing once this many MB of gradients are final, while backward goes on (0: after backward;\n"
      "auto: 1 when the ranks span several nodes, else 0) (0..1e+06)", "2",
      [](const TrainArgs& a) { return a.config.bucket_mb < 0 ? std::string("auto") : real_text(a.config.bucket_mb); },
      [](TrainArgs& a, const std::string& s) {
        if (s == "auto") {
          a.config.bucket_mb = -1.0;
          return;
        }
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) {
          throw UsageError("--bucket-mb: '" + s + "' is not a number");
        }
        if (!(v >= 0.0 && v <= 1e6)) throw UsageError(cat("--bucket-mb must be between 0 and 1e+06 (got ", v, ")"));
        a.config.bucket_mb = v;
      },
      [](const TrainConfig& c) { return c.bucket_mb < 0 ? json("auto") : json(c.bucket_mb); }));
  // Neither trajectory (bitwise the unsharded run) nor restored: a resume
  // shards when its command line says so, so it may switch either way.
  t.push_back(switch_option("shard-optimizer", "shard_optimizer", 0,
      [](auto& c) -> auto& { return c.shard_optimizer; },
      "ZeRO stages 1-2: reduce-scatter the gradients, keep optimizer state and reduced gradients for this\n"
      "rank's 1/ranks only, all-gather the weights (ring, rhd, hier); bitwise the unsharded run"));
  t.push_back(custom("grad-compression", "grad_compression", kTrajectory | kRestored | O::kNewerKey, "",
      "gradient messages in 16 bits: none | bf16 | fp16 (each hop adds in FP32 and rounds once; the ring\n"
      "only; changes results, deterministically; fp16 clamps beyond 65504)", "bf16",
      [](const TrainArgs& a) { return std::string(comm::grad_compression_name(a.config.grad_compression)); },
      [](TrainArgs& a, const std::string& s) { a.config.grad_compression = comm::parse_grad_compression(s); },
      [](const TrainConfig& c) { return json(comm::grad_compression_name(c.grad_compression)); }));
  t.push_back(switch_option("compute-only", "compute_only", kRestored, [](auto& c) -> auto& { return c.compute_only; },
      "measurement only: skip the gradient exchange (the ranks then train apart); the baseline for overlap"));
  t.push_back(custom("ranks-per-node", "", 0, "", "pretend nodes of this many ranks for hier/auto (0: real nodes) (0..1048576)",
      "2", [](const TrainArgs& a) { return std::to_string(a.ranks_per_node); },
      [](TrainArgs& a, const std::string& s) {
        const int v = parse_integer<int>("ranks-per-node", s);
        if (!(v >= 0 && v <= (1 << 20))) throw UsageError(cat("--ranks-per-node must be between 0 and ", 1 << 20, " (got ", v, ")"));
        a.ranks_per_node = v;
      }));
  t.push_back(custom("optimizer", "optimizer", kTrajectory | kRestored, "", "adam | sgd", "sgd",
      [](const TrainArgs& a) { return std::string(model::optimizer_name(a.config.optimizer.kind)); },
      [](TrainArgs& a, const std::string& s) { a.config.optimizer.kind = model::parse_optimizer(s); },
      [](const TrainConfig& c) { return json(model::optimizer_name(c.optimizer.kind)); }));
  t.push_back(number<double>("lr", "lr", kTrajectory | kRestored, [](auto& c) -> auto& { return c.optimizer.lr; },
      1e-12, 1e6, "learning rate", "0.01"));
  t.push_back(number<double>("momentum", "momentum", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.optimizer.momentum; }, 0.0, 0.999999, "SGD momentum", "0.5"));
  t.push_back(number<double>("adam-epsilon", "adam_epsilon", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.optimizer.epsilon; }, 0.0, 1.0, "Adam epsilon (Keras 2: 1e-7)", "1e-08",
      /*above=*/true));
  t.push_back(custom("seed", "seed", kTrajectory | kRestored, "N", "seed for initialisation, shuffling and dropout", "7",
      [](const TrainArgs& a) { return std::to_string(a.config.seed); },
      [](TrainArgs& a, const std::string& s) {
        // from_chars refuses the sign Boost's unsigned parsing wrapped: --seed -1 was 18446744073709551615.
        uint64_t v = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
          throw UsageError(cat("--seed must be a whole number from 0 to ", UINT64_MAX, " (got '", s, "')"));
        }
        a.config.seed = v;
      },
      [](const TrainConfig& c) { return json(c.seed); }));
  // --threads, --backend, --precision, --gpu: declared, described and range-checked by cli/option_groups.
  t.push_back(custom("threads", "threads", kRestored | kShared, "", "", "2",
      [](const TrainArgs& a) { return std::to_string(a.config.threads); },
      [](TrainArgs& a, const std::string& s) { a.config.threads = parse_integer<int>("threads", s); },
      [](const TrainConfig& c) { return json(c.threads); }));
  t.back().short_name = 't';
  t.push_back(custom("backend", "backend", kTrajectory | kRestored | kShared, "", "", "reference",
      [](const TrainArgs& a) { return std::string(kernels::backend_name(a.config.backend)); },
      [](TrainArgs& a, const std::string& s) { a.config.backend = kernels::parse_backend(s); },
      [](const TrainConfig& c) { return json(kernels::backend_name(c.backend)); }));
  t.push_back(custom("precision", "precision", kTrajectory | kRestored | kShared | O::kNewerKey, "", "", "bf16",
      [](const TrainArgs& a) { return std::string(kernels::precision_name(a.config.precision)); },
      [](TrainArgs& a, const std::string& s) { a.config.precision = kernels::parse_precision(s); },
      [](const TrainConfig& c) { return json(kernels::precision_name(c.precision)); }));
  t.push_back(custom("gpu", "", kShared, "", "", "0", [](const TrainArgs& a) { return std::to_string(a.config.gpu); },
      [](TrainArgs& a, const std::string& s) { a.config.gpu = parse_integer<int>("gpu", s); }));
  t.push_back(switch_option("allow-tf32", "allow_tf32", kTrajectory | kRestored | O::kNewerKey,
      [](auto& c) -> auto& { return c.allow_tf32; },
      "cuda: let cuDNN and cuBLAS use TF32 tensor cores (faster, 10-bit mantissa products; off: FP32)"));
  t.push_back(number<double>("validation-split", "validation_split", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.validation_split; }, 0.0, 0.99,
      "hold out the last fraction of train for validation when the dataset has no validation split", "0.1"));
  t.push_back(number<int64_t>("max-steps", "max_steps", kRestored, [](auto& c) -> auto& { return c.max_steps; }, 0,
      int64_t{1} << 40, "stop after this many steps (0: all epochs)", "10"));
  t.push_back(number<int64_t>("eval-batch", "eval_batch", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.eval_batch; }, 1, int64_t{1} << 20, "batch size for evaluation", "100"));
  t.push_back(custom("out", "", 0, "DIR", "run directory [results/runs/MODEL-TIMESTAMP]", "elsewhere",
      [](const TrainArgs& a) { return a.config.run_dir.string(); },
      [](TrainArgs& a, const std::string& s) { a.config.run_dir = s; }));
  t.back().short_name = 'o';
  t.push_back(custom("checkpoint", "", 0, "FILE", "checkpoint path [RUN_DIR/model.h5]", "elsewhere.h5",
      [](const TrainArgs& a) { return a.config.checkpoint.string(); },
      [](TrainArgs& a, const std::string& s) { a.config.checkpoint = s; }));
  t.push_back(custom("init-from", "init_from", kTrajectory | kRestored | O::kNewerKey, "CHECKPOINT",
      "transfer learning: start the leading layers that match (same layer on the same input) from this "
      "checkpoint's weights; the rest start fresh", "",
      [](const TrainArgs& a) { return a.config.init_from.string(); },
      [](TrainArgs& a, const std::string& s) {
        if (s.empty()) {
          a.config.init_from.clear();
          return;
        }
        if (!fs::is_regular_file(s)) throw UsageError("--init-from " + s + ": no such checkpoint file");
        a.config.init_from = fs::absolute(s);
      },
      [](const TrainConfig& c) { return json(c.init_from.string()); }));
  t.push_back(text_option("init-until", "init_until", kTrajectory | kRestored | O::kNewerKey,
      [](auto& c) -> auto& { return c.init_until; }, "LAYER",
      "with --init-from: take layers 1..LAYER (a number or an @NAME of the model string, e.g. backbone) and "
      "fail if one does not match", "2"));
  t.push_back(text_option("freeze", "freeze", kTrajectory | kRestored | O::kNewerKey,
      [](auto& c) -> auto& { return c.freeze; }, "LAYER",
      "freeze layers 1..LAYER (a number or an @NAME): no gradient, no optimizer state, not all-reduced; "
      "their batch norms use their running statistics", "1"));
  t.push_back(switch_option("trace", "", 0, [](auto& c) -> auto& { return c.trace; },
      "also write a Chrome-trace JSON per rank (RUN_DIR/trace/): each step's phases and, inside them, "
      "each layer's forward and backward (synchronises after every layer)"));
  t.push_back(custom("resume", "", 0, "RUN_DIR",
      "continue the run in RUN_DIR from its newest checkpoint; options not given take the values it recorded\n"
      "(a run directory holding an unfinished run is resumed without this, by the same command)", "",
      [](const TrainArgs& a) { return a.resume.string(); },
      [](TrainArgs& a, const std::string& s) { a.resume = s; }));
  t.push_back(switch_option("force", "", 0, [](auto& c) -> auto& { return c.force; },
      "replace the run found in --out (only hpcnn's own files are removed)"));
  // Long jobs: none of these change results.
  t.push_back(switch_option("restart-from-scratch", "", 0, [](auto& c) -> auto& { return c.restart_from_scratch; },
      "start again from step 0 when every checkpoint of the run in --out is invalid (they are kept aside)"));
  t.push_back(custom("checkpoint-every", "", 0, "N|Ts",
      "resumable checkpoint every N steps and/or after T of wall time (30s, 10m, 2h; '500,10m'; off);\n"
      "kept in RUN_DIR/checkpoints/", "500,10m",
      [](const TrainArgs& a) { return checkpoint_every_text(a.config); },
      [](TrainArgs& a, const std::string& s) { set_checkpoint_every(a.config, s); }));
  t.push_back(number<int>("keep-checkpoints", "", 0, [](auto& c) -> auto& { return c.keep_checkpoints; }, 1, 1000000,
      "periodic checkpoints kept (the newest)", "5"));
  t.push_back(number<double>("timeout", "", 0, [](auto& c) -> auto& { return c.timeout_s; }, 0.0, 1e7,
      "watchdog: a rank without progress this long ends the job (exit 3), naming the rank and phase that\n"
      "stalled (0: off)", "60"));
  t.back().value_name = "SECONDS";
  t.push_back(custom("sampling", "sampling", kTrajectory | kRestored, "",
      "global: one permutation cut into global batches, rank-count independent | local: each rank its own\n"
      "shards (balanced by samples), shuffled in windows of blocks; I/O and memory per rank shrink as 1/ranks",
      "local", [](const TrainArgs& a) { return std::string(data::sampling_mode_name(a.config.sampling)); },
      [](TrainArgs& a, const std::string& s) { a.config.sampling = data::parse_sampling_mode(s); },
      [](const TrainConfig& c) { return json(data::sampling_mode_name(c.sampling)); }));
  t.push_back(number<int>("shuffle-window", "shuffle_window", kTrajectory | kRestored,
      [](auto& c) -> auto& { return c.shuffle_window; }, 1, 1 << 20,
      "local sampling: blocks of 1024 samples whose samples are shuffled together", "8"));
  t.back().value_name = "BLOCKS";
  // Global sampling has no windows: recorded as null, so changing it there changes nothing.
  t.back().json = [](const TrainConfig& c) {
    return c.sampling == data::SamplingMode::kLocal ? json(c.shuffle_window) : json();
  };
  t.push_back(custom("augment", "augment", kTrajectory | kRestored | O::kNewerKey, "SPEC",
      "transform training images afresh each epoch, keyed by (seed, epoch, sample): off | on (rotate=10,\n"
      "scale=0.1,shift=0.1,stroke=0.3,noise=0.02) | KEY=VALUE,... from all-off ('on,noise=0': the defaults\n"
      "without noise). rotate: degrees; scale: relative; shift: fraction of the side; stroke: probability of a\n"
      "3x3 dilation or erosion; noise: std in input units (8-bit data is 0..1)", "on",
      [](const TrainArgs& a) { return a.config.augment.to_string(); },
      [](TrainArgs& a, const std::string& s) { a.config.augment = data::parse_augment(s); },
      [](const TrainConfig& c) { return json(c.augment.to_string()); }));
  t.push_back(number<int64_t>("cache-mb", "", 0, [](auto& c) -> auto& { return c.cache_mb; }, 0, int64_t{1} << 30,
      "memory per rank for training data: its shards are preloaded when they fit, else read through a cache of\n"
      "this size", "100"));
  t.push_back(number<int>("prefetch", "", 0, [](auto& c) -> auto& { return c.prefetch; }, 0, 1024,
      "batches read ahead on a background thread (0: read inside the step)", "0"));
  t.back().value_name = "BATCHES";
  t.push_back(custom("verify-data", "", 0, "",
      "check the shards' SHA-256 before training: auto (when the training data fits in memory) | always | never",
      "never", [](const TrainArgs& a) { return std::string(verify_data_name(a.config.verify_data)); },
      [](TrainArgs& a, const std::string& s) {
        using V = TrainConfig::VerifyData;
        for (V v : {V::kAuto, V::kAlways, V::kNever}) {
          if (s == verify_data_name(v)) {
            a.config.verify_data = v;
            return;
          }
        }
        throw UsageError("--verify-data must be auto, always or never (got '" + s + "')");
      }));
  // Recorded, set by no option.
  t.push_back(recorded("beta1", kTrajectory, [](auto& c) -> auto& { return c.optimizer.beta1; }));
  t.push_back(recorded("beta2", kTrajectory, [](auto& c) -> auto& { return c.optimizer.beta2; }));
  t.push_back(recorded("evaluate_test", kTrajectory, [](auto& c) -> auto& { return c.evaluate_test; }));
  // clang-format on
  return t;
}
}  // namespace

std::string TrainOption::option() const {
  if (!name.empty()) return "--" + name;
  std::string s = key;
  std::replace(s.begin(), s.end(), '_', '-');
  return "--" + s;
}

const std::vector<TrainOption>& train_options() {
  static const std::vector<TrainOption> table = make_table();
  return table;
}

std::string json_as_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

nlohmann::json TrainConfig::to_json() const {
  json j = json::object();
  for (const TrainOption& o : train_options()) {
    if (!o.key.empty()) j[o.key] = o.json(*this);
  }
  return j;
}

std::string resume_mismatch(const json& recorded, const json& current) {
  // What changes the trajectory: the table's kTrajectory rows. Not: epochs,
  // max_steps (how far to go), threads, allreduce, bucket_mb, compute_only,
  // world_size and the per-rank batch (how it is computed: the global batch
  // is what counts).
  static const TrainConfig kDefaults;
  for (const TrainOption& o : train_options()) {
    if (!o.has(TrainOption::kTrajectory) || o.key.empty()) continue;
    // Keys newer than some run.json files: their absence meant the default.
    const auto value = [&](const json& config) {
      if (config.contains(o.key)) return config[o.key];
      return o.has(TrainOption::kNewerKey) ? o.json(kDefaults) : json();
    };
    const json a = value(recorded);
    const json b = value(current);
    if (a == b) continue;
    if (o.key == "global_batch" && current.value("global_batch_requested", int64_t{-1}) == 0) {
      // The global batch came from --batch (x ranks): name the option typed.
      return cat("--batch ", current.value("batch", int64_t{0}), " on ", current.value("world_size", 0),
                 " rank(s) is a global batch of ", b.dump(), " here but ", a.dump(),
                 " in the run being resumed (--global-batch ", a.dump(), " keeps it on any rank count)");
    }
    return cat(o.option(), " is ", b.dump(), " here but ", a.dump(), " in the run being resumed");
  }
  // Local sampling deals shards by rank: another rank count is another trajectory.
  if (recorded.value("sampling", std::string()) == "local" &&
      recorded.value("world_size", 0) != current.value("world_size", 0)) {
    return cat("--sampling local ran on ", recorded.value("world_size", 0), " ranks, here on ",
               current.value("world_size", 0), " (local sampling resumes on the same rank count only)");
  }
  return "";
}

}  // namespace hpcnn::train
