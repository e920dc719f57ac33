// Checkpoint I/O through the HDF5 wrappers.
#include "train/checkpoint.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <hdf5.h>

#include <nlohmann/json.hpp>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::train {

namespace {
/// Version 2 adds the "sha256" attribute on every dataset; version 1 files
/// (written before) load with a warning and without that check.
constexpr int64_t kCheckpointVersion = 2;

std::string shape_text(const model::Shape& s) { return cat(s.c, "x", s.h, "x", s.w); }

/// A double stored as text (save_checkpoint's "%.17g"); a damaged value is an
/// error naming the attribute and the file, never a bare "stod".
double double_attribute(const h5::File& f, const std::string& name) {
  const std::string text = f.string_attribute(name);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  HPCNN_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v), f.path().string(),
              ": attribute '", name, "' is not a finite number ('", text.substr(0, 40), "')");
  return v;
}
}  // namespace

namespace {
/// The datasets of a checkpoint file, by path ("params", "layers/01_conv/weights").
std::vector<std::string> dataset_names(const h5::File& f) {
  std::vector<std::string> names;
  const auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
    if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  HPCNN_CHECK(H5Ovisit2(f.id(), H5_INDEX_NAME, H5_ITER_NATIVE, visit, &names, H5O_INFO_BASIC) >= 0, f.path().string(),
              ": cannot list its datasets (the file is damaged)");
  return names;
}

/// Checks every dataset's bytes against its "sha256" attribute. Returns false
/// for a version 1 checkpoint (written before checksums; nothing to check).
/// Cost: every dataset is read once more; a 286 MB checkpoint (18 M params
/// with Adam state) took 1.2-1.3 s to `infer` before and 1.5-2.2 s with the
/// check, on 2 shared cores.
bool verify_checksums(const h5::File& f, const fs::path& path) {
  const int64_t version = f.has_attribute("version") ? f.int_attribute("version") : 1;
  HPCNN_CHECK(version >= 1 && version <= kCheckpointVersion, path.string(), ": checkpoint version ", version,
              " is not one this hpcnn reads (1..", kCheckpointVersion, ")");
  if (version < 2) return false;
  const std::vector<std::string> names = dataset_names(f);
  HPCNN_CHECK(!names.empty(), path.string(), ": holds no datasets");
  std::vector<uint8_t> bytes;
  for (const std::string& name : names) {
    HPCNN_CHECK(f.has_attribute("sha256", name), path.string(), ": /", name,
                " has no sha256 attribute (every dataset of a version 2 checkpoint has one): the file was altered");
    const h5::Dataset d = f.open_dataset(name);
    const h5::ElementType type = d.stored_type();
    hsize_t count = 1;
    for (const hsize_t n : d.dims()) {
      HPCNN_CHECK(n <= static_cast<hsize_t>(kMaxElements) && count * n <= static_cast<hsize_t>(kMaxElements),
                  path.string(), ": /", name, " claims more than ", kMaxElements, " elements");
      count *= n;
    }
    const hsize_t need = count * h5::element_size(type);
    HPCNN_CHECK(d.storage_bytes() >= need, path.string(), ": /", name, " stores ", d.storage_bytes(),
                " bytes, its shape needs ", need, " (the file is truncated or damaged)");
    bytes.resize(static_cast<size_t>(need));
    if (need > 0) d.read_all(type, bytes.data());
    const std::string stored = f.string_attribute("sha256", name), computed = sha256_hex(bytes);
    HPCNN_CHECK(stored == computed, path.string(), ": /", name,
                " fails its SHA-256 check (the data was damaged or altered after it was written: recorded ",
                stored.substr(0, 16), "..., computed ", computed.substr(0, 16), "...)");
  }
  return true;
}

/// Refuses NaN or infinite values: a model with them predicts garbage with
/// exit 0, and a run resumed from them ends in "non-finite loss" much later.
void check_finite(const std::vector<float>& values, const fs::path& path, const char* name) {
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    if (bad++ == 0) first = static_cast<int64_t>(i);
  }
  HPCNN_CHECK(bad == 0, path.string(), ": /", name, " holds ", bad, " NaN or infinite value(s) (the first at index ",
              first, ", ", values[static_cast<size_t>(std::max<int64_t>(first, 0))],
              "): refusing a model that would compute nothing but NaN");
}

template <class Put>
void write_train_state(h5::File& f, const Put& put, const TrainState& state) {
  f.set_attribute("global_step", state.global_step);
  f.set_attribute("steps_in_epoch", state.steps_in_epoch);
  f.set_attribute("epoch_done", int64_t{state.epoch_done ? 1 : 0});
  f.create_group("train_state");
  const std::string history = state.history.dump();
  put("train_state/history", h5::ElementType::kUInt8, {static_cast<hsize_t>(history.size())}, history.data());
  if (!state.step_losses.empty()) {
    put("train_state/step_losses", h5::ElementType::kFloat64, {static_cast<hsize_t>(state.step_losses.size())},
        state.step_losses.data());
  }
}

/// The resumable part of a checkpoint, checked against what the file claims.
TrainState read_train_state(const h5::File& f, const fs::path& path) {
  TrainState s;
  s.epoch = f.int_attribute("epoch");
  s.global_step = f.int_attribute("global_step");
  s.steps_in_epoch = f.int_attribute("steps_in_epoch");
  s.epoch_done = f.int_attribute("epoch_done") != 0;
  HPCNN_CHECK(s.epoch >= 1 && s.global_step >= 0 && s.steps_in_epoch >= 0 && s.steps_in_epoch <= s.global_step,
              path.string(), ": inconsistent training position (epoch ", s.epoch, ", global_step ", s.global_step,
              ", steps_in_epoch ", s.steps_in_epoch, ")");
  const h5::Dataset history = f.open_dataset("train_state/history");
  const auto hdims = history.dims();
  HPCNN_CHECK(hdims.size() == 1 && hdims[0] <= (hsize_t{1} << 30), path.string(),
              ": /train_state/history has the wrong shape");
  HPCNN_CHECK(history.storage_bytes() >= hdims[0] * h5::element_size(history.stored_type()), path.string(),
              ": /train_state/history stores fewer bytes than its shape needs");
  std::string text(static_cast<size_t>(hdims[0]), '\0');
  if (!text.empty()) history.read_all(h5::ElementType::kUInt8, text.data());
  s.history = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  HPCNN_CHECK(s.history.is_object(), path.string(), ": /train_state/history is not a JSON object");
  if (s.global_step > 0) {
    const h5::Dataset losses = f.open_dataset("train_state/step_losses");
    const auto ldims = losses.dims();
    HPCNN_CHECK(ldims.size() == 1 && static_cast<int64_t>(ldims[0]) == s.global_step, path.string(),
                ": /train_state/step_losses should hold ", s.global_step, " values");
    HPCNN_CHECK(losses.storage_bytes() >= ldims[0] * h5::element_size(losses.stored_type()), path.string(),
                ": /train_state/step_losses stores fewer bytes than its shape needs");
    s.step_losses.resize(static_cast<size_t>(s.global_step));
    losses.read_all(h5::ElementType::kFloat64, s.step_losses.data());
  }
  return s;
}

/// One float32 (count,) dataset written chunk by chunk in ascending order
/// (issue 30: a sharded optimizer's state arrives from its owners in ~1 MiB
/// blocks, and rank 0 never holds the whole vector). The dataset is created
/// exactly as File::write_small creates it (contiguous, no timestamps) and
/// each chunk goes to its hyperslab; the SHA-256 attribute is computed over
/// the chunks in order, so the file is byte for byte the one a single write
/// of the whole vector gives (tests/unit/test_checkpoint.cpp).
class ChunkedVectorWriter {
 public:
  ChunkedVectorWriter(h5::File& f, std::string name, hsize_t count) : f_(f), name_(std::move(name)), count_(count) {
    const std::string where = f_.path().string() + ": writing dataset " + name_;
    const hsize_t dims[1] = {count_};
    const h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    HPCNN_CHECK(space.valid(), where);
    const h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    HPCNN_CHECK(dcpl.valid() && H5Pset_obj_track_times(dcpl.get(), false) >= 0, where);
    dataset_ = h5::Handle(H5Dcreate2(f_.id(), name_.c_str(), h5::native_type(h5::ElementType::kFloat32), space.get(),
                                     H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                          H5Dclose);
    HPCNN_CHECK(dataset_.valid(), where);
  }

  hsize_t written() const { return next_; }

  void write(int64_t first, std::span<const float> values) {
    const auto at = static_cast<hsize_t>(first), n = static_cast<hsize_t>(values.size());
    HPCNN_CHECK(first >= 0 && at == next_ && n <= count_ - next_, "checkpoint: /", name_, " got values [", first, ", ",
                first + static_cast<int64_t>(n), ") after ", next_, " of ", count_, " (chunks must come in order)");
    if (n > 0) {
      const std::string where = f_.path().string() + ": writing dataset " + name_;
      const h5::Handle file_space(H5Dget_space(dataset_.get()), H5Sclose);
      const hsize_t start[1] = {at}, size[1] = {n};
      HPCNN_CHECK(file_space.valid() &&
                      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, size, nullptr) >= 0,
                  where);
      const h5::Handle memory_space(H5Screate_simple(1, size, nullptr), H5Sclose);
      HPCNN_CHECK(
          memory_space.valid() && H5Dwrite(dataset_.get(), h5::native_type(h5::ElementType::kFloat32),
                                           memory_space.get(), file_space.get(), H5P_DEFAULT, values.data()) >= 0,
          where);
      sha_.update({reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()});
    }
    next_ += n;
  }

  /// After the last chunk: closes the dataset and sets its sha256 attribute.
  void finish() {
    HPCNN_CHECK(next_ == count_, "checkpoint: /", name_, " got ", next_, " of its ", count_, " values");
    dataset_.reset();
    f_.set_attribute("sha256", sha_.hex_digest(), name_);
  }

 private:
  h5::File& f_;
  const std::string name_;
  const hsize_t count_;
  h5::Handle dataset_;
  hsize_t next_ = 0;
  Sha256 sha_;
};

/// Every save_checkpoint(): the optimizer's state streamed chunk by chunk
/// (or none).
void write_checkpoint(const fs::path& path, const model::Model& model, const OptimizerStateStream* optimizer,
                      int64_t epoch, uint64_t seed, const data::Manifest* dataset, const TrainState* state) {
  const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid());
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());  // the background reader may be reading
  bool streamed = false;  // each_chunk() called: it may be collective, so exactly once whatever fails
  try {
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    h5::File f = h5::File::create(tmp);
    // Every dataset carries the SHA-256 of its bytes as written: a flipped
    // byte anywhere in the data is found on load, not trained on (issue 26.4).
    const auto put = [&f](const std::string& name, h5::ElementType type, const std::vector<hsize_t>& dims,
                          const void* values) {
      f.write_small(name, type, dims, values);
      size_t bytes = h5::element_size(type);
      for (const hsize_t d : dims) bytes *= static_cast<size_t>(d);
      f.set_attribute("sha256", sha256_hex({static_cast<const uint8_t*>(values), bytes}), name);
    };
    // A CPU backend's parameters are written in place: a copy was one more
    // full parameter vector at the peak of the run (issue 30). A GPU
    // backend's are downloaded (host memory is not what limits it).
    std::vector<float> downloaded;
    std::span<const float> params;
    if (model.backend().device() == kernels::DeviceKind::kCpu) {
      params = {model.params(), static_cast<size_t>(model.num_params())};
    } else {
      downloaded = model.params_host();
      params = downloaded;
    }
    const auto p = static_cast<hsize_t>(params.size());
    put("params", h5::ElementType::kFloat32, {p}, params.data());
    f.create_group("layers");
    const auto& spec = model.spec();
    for (const model::ParamView& v : model.param_views()) {
      if (v.weights_count == 0) continue;
      const model::ResolvedLayer& l = spec.layers[static_cast<size_t>(v.layer)];
      char name[64];
      std::snprintf(name, sizeof name, "layers/%02d_%s", v.layer + 1, model::layer_kind_name(l.spec.kind));
      f.create_group(name);
      const auto vec = [&](const char* what, int64_t offset, int64_t count) {
        put(cat(name, "/", what), h5::ElementType::kFloat32, {static_cast<hsize_t>(count)}, params.data() + offset);
      };
      if (l.spec.kind == model::LayerKind::kBatchNorm) {  // Keras's names
        vec("gamma", v.weights_offset, v.weights_count);
        vec("beta", v.bias_offset, v.bias_count);
        vec("moving_mean", v.state_offset, v.state_count / 2);
        vec("moving_variance", v.state_offset + v.state_count / 2, v.state_count / 2);
        continue;
      }
      std::vector<hsize_t> wshape;
      if (l.spec.kind == model::LayerKind::kConv) {
        wshape = {static_cast<hsize_t>(l.output.c), static_cast<hsize_t>(l.input.c / l.spec.groups),
                  static_cast<hsize_t>(l.spec.kernel), static_cast<hsize_t>(l.spec.kernel)};
      } else {
        wshape = {static_cast<hsize_t>(l.output.size()), static_cast<hsize_t>(l.input.size())};
      }
      put(std::string(name) + "/weights", h5::ElementType::kFloat32, wshape, params.data() + v.weights_offset);
      if (v.bias_count > 0) vec("bias", v.bias_offset, v.bias_count);
    }
    f.set_attribute("format", std::string("hpcnn-checkpoint"));
    f.set_attribute("version", kCheckpointVersion);
    f.set_attribute("model_name", spec.name);
    f.set_attribute("model_text", spec.text);
    f.set_attribute("input_shape", shape_text(spec.input));
    f.set_attribute("loss", std::string(model::loss_name(model.loss())));
    f.set_attribute("epoch", epoch);
    f.set_attribute("seed", static_cast<int64_t>(seed));
    f.set_attribute("num_params", model.num_params());
    if (dataset != nullptr) {
      f.set_attribute("dataset", dataset->name);
      f.set_attribute("sample_dtype", std::string(data::sample_type_name(dataset->sample_type)));
      f.set_attribute("class_names", nlohmann::json(dataset->class_names).dump());
    }
    if (optimizer != nullptr) {
      const model::OptimizerConfig& c = optimizer->config;
      f.create_group("optimizer");
      // The optimizer keeps state for the trainable part only, the last
      // num_params - trainable_offset parameters (all of them unless frozen).
      const hsize_t q = p - static_cast<hsize_t>(model.trainable_offset());
      f.set_attribute("trainable_offset", model.trainable_offset());
      f.set_attribute("frozen_layers", static_cast<int64_t>(model.frozen_layers()));
      // Chunk by chunk: a, then Adam's b, each vector's values written as
      // they come (issue 30: rank 0 held a gathered full vector at a time).
      const int vectors = c.kind == model::OptimizerKind::kAdam ? 2 : 1;
      std::optional<ChunkedVectorWriter> writer;
      int current = -1;
      streamed = true;
      optimizer->each_chunk([&](int vector, int64_t first, std::span<const float> values) {
        HPCNN_CHECK(vector >= 0 && vector < vectors, "checkpoint: the optimizer hands state vector ", vector, " of ",
                    vectors);
        if (vector != current) {
          HPCNN_CHECK(vector == current + 1 && (!writer || writer->written() == q),
                      "checkpoint: the optimizer's state vectors come out of order or incomplete");
          if (writer) writer->finish();
          writer.emplace(f, vector == 0 ? "optimizer/a" : "optimizer/b", q);
          current = vector;
        }
        HPCNN_CHECK(first + static_cast<int64_t>(values.size()) <= static_cast<int64_t>(q),
                    "checkpoint: the optimizer holds ", first + static_cast<int64_t>(values.size()), " values for ", q,
                    " trainable parameters");
        writer->write(first, values);
      });
      HPCNN_CHECK(current == vectors - 1 && writer->written() == q, "checkpoint: the optimizer handed ", current + 1,
                  " state vectors, not ", vectors, " (or the last is incomplete: the optimizer holds ",
                  writer ? writer->written() : 0, " values for ", q, " trainable parameters)");
      writer->finish();
      f.set_attribute("optimizer", std::string(model::optimizer_name(c.kind)));
      f.set_attribute("optimizer_steps", optimizer->steps);
      // Doubles as text: exact round trip, readable in h5dump.
      for (const auto& [key, value] : {std::pair<const char*, double>{"lr", c.lr},
                                       {"beta1", c.beta1},
                                       {"beta2", c.beta2},
                                       {"epsilon", c.epsilon},
                                       {"momentum", c.momentum}}) {
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", value);
        f.set_attribute(key, std::string(text));
      }
    }
    if (state != nullptr) write_train_state(f, put, *state);
    f.flush();
    f.close();
  } catch (...) {
    if (optimizer != nullptr && !streamed) {
      try {  // the other ranks may be waiting in its gathers: take part, drop the vectors
        optimizer->each_chunk([](int, int64_t, std::span<const float>) {});
      } catch (...) {  // the first failure is the one to report
      }
    }
    std::error_code ignored;
    fs::remove(tmp, ignored);  // never leave PATH.tmp.PID behind
    throw;
  }
  rename_into_place(tmp, path);
}
}  // namespace

void save_checkpoint(const fs::path& path, const model::Model& model, const model::Optimizer* optimizer, int64_t epoch,
                     uint64_t seed, const data::Manifest* dataset, const TrainState* state) {
  if (optimizer == nullptr) {
    write_checkpoint(path, model, nullptr, epoch, seed, dataset, state);
    return;
  }
  const bool adam = optimizer->config().kind == model::OptimizerKind::kAdam;
  const bool host = model.backend().device() == kernels::DeviceKind::kCpu;
  OptimizerStateStream o{optimizer->config(), optimizer->steps(), [&](const OptimizerStateStream::Sink& sink) {
                           // In place on a CPU backend; else one vector downloaded at a time.
                           if (host) {
                             sink(0, 0, optimizer->state_a_in_place());
                             if (adam) sink(1, 0, optimizer->state_b_in_place());
                             return;
                           }
                           sink(0, 0, optimizer->state_a());
                           if (adam) sink(1, 0, optimizer->state_b());
                         }};
  write_checkpoint(path, model, &o, epoch, seed, dataset, state);
}

void save_checkpoint(const fs::path& path, const model::Model& model, const OptimizerState& optimizer, int64_t epoch,
                     uint64_t seed, const data::Manifest* dataset, const TrainState* state) {
  const OptimizerStateStream o{optimizer.config, optimizer.steps, [&](const OptimizerStateStream::Sink& sink) {
                                 sink(0, 0, optimizer.a);
                                 if (optimizer.config.kind == model::OptimizerKind::kAdam) sink(1, 0, optimizer.b);
                               }};
  write_checkpoint(path, model, &o, epoch, seed, dataset, state);
}

void save_checkpoint(const fs::path& path, const model::Model& model, const OptimizerStateStream& optimizer,
                     int64_t epoch, uint64_t seed, const data::Manifest* dataset, const TrainState* state) {
  write_checkpoint(path, model, &optimizer, epoch, seed, dataset, state);
}

Checkpoint load_checkpoint(const fs::path& path, bool warn_unverified) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  h5::File f = h5::File::open_read(path);
  HPCNN_CHECK(f.has_attribute("format") && f.string_attribute("format") == "hpcnn-checkpoint", path.string(),
              ": not an hpcnn checkpoint");
  Checkpoint c;
  c.checksums_verified = verify_checksums(f, path);
  if (!c.checksums_verified && warn_unverified) {
    Logger().warn(cat(path.string(), ": a version 1 checkpoint (no checksums): its data cannot be verified"));
  }
  c.model_name = f.string_attribute("model_name");
  c.model_text = f.string_attribute("model_text");
  try {
    c.input = model::parse_shape(f.string_attribute("input_shape"));
  } catch (const Error& e) {
    HPCNN_THROW(path.string(), ": attribute 'input_shape': ", e.message());
  }
  c.loss = f.string_attribute("loss") == model::loss_name(model::LossKind::kMeanSquaredError)
               ? model::LossKind::kMeanSquaredError
               : model::LossKind::kSoftmaxCrossEntropy;
  c.epoch = f.int_attribute("epoch");
  c.seed = static_cast<uint64_t>(f.int_attribute("seed"));
  if (f.has_attribute("dataset")) c.dataset_name = f.string_attribute("dataset");
  if (f.has_attribute("sample_dtype")) c.sample_dtype = f.string_attribute("sample_dtype");
  if (f.has_attribute("class_names")) {
    const auto names = nlohmann::json::parse(f.string_attribute("class_names"), nullptr, /*allow_exceptions=*/false);
    HPCNN_CHECK(names.is_array(), path.string(), ": attribute class_names is not a JSON array");
    for (const auto& name : names) {
      HPCNN_CHECK(name.is_string(), path.string(), ": attribute class_names holds a non-string");
      c.class_names.push_back(name.get<std::string>());
    }
  }
  // Every size is checked before anything is allocated or read: the parameter
  // count against the model string, each flat dataset's rank, length and
  // stored bytes against that count (a longer /optimizer/a once overran the
  // buffer sized by /params).
  const int64_t num_params = f.int_attribute("num_params");
  HPCNN_CHECK(num_params >= 1 && num_params <= kMaxElements, path.string(), ": attribute 'num_params' is ", num_params,
              " (expected 1..", kMaxElements, ")");
  int64_t model_params = 0;
  try {
    model_params = model::resolve(c.model_name, c.model_text, c.input).total_params();
  } catch (const Error& e) {
    HPCNN_THROW(path.string(), ": attribute 'model_text': ", e.message());
  }
  HPCNN_CHECK(model_params == num_params, path.string(), ": attribute 'num_params' is ", num_params, " but model '",
              c.model_text, "' on input ", c.input.str(), " has ", model_params, " parameters");
  auto read_flat = [&](const char* name, std::vector<float>& out, int64_t expect) {
    const h5::Dataset d = f.open_dataset(name);
    const auto dims = d.dims();
    HPCNN_CHECK(dims.size() == 1 && dims[0] == static_cast<hsize_t>(expect), path.string(), ": /", name, " must be (",
                expect, ",) like num_params - trainable_offset, but has rank ", dims.size(),
                dims.empty() ? std::string() : cat(" and ", dims[0], " elements in its first dimension"));
    const hsize_t need = static_cast<hsize_t>(expect) * h5::element_size(d.stored_type());
    HPCNN_CHECK(d.storage_bytes() >= need, path.string(), ": /", name, " stores ", d.storage_bytes(),
                " bytes, its shape needs ", need);
    out.resize(static_cast<size_t>(expect));
    d.read_all(h5::ElementType::kFloat32, out.data());
  };
  read_flat("params", c.params, num_params);
  check_finite(c.params, path, "params");
  if (f.has_attribute("trainable_offset")) {
    c.trainable_offset = f.int_attribute("trainable_offset");
    HPCNN_CHECK(c.trainable_offset >= 0 && c.trainable_offset < num_params, path.string(),
                ": attribute 'trainable_offset' is ", c.trainable_offset, " (expected 0..", num_params - 1, ")");
    c.frozen_layers = f.has_attribute("frozen_layers") ? f.int_attribute("frozen_layers") : 0;
  }
  if (f.has_attribute("optimizer")) {
    try {
      c.optimizer.kind = model::parse_optimizer(f.string_attribute("optimizer"));
    } catch (const UsageError& e) {
      HPCNN_THROW(path.string(), ": attribute 'optimizer': ", e.what());
    }
    c.optimizer.lr = double_attribute(f, "lr");
    c.optimizer.beta1 = double_attribute(f, "beta1");
    c.optimizer.beta2 = double_attribute(f, "beta2");
    c.optimizer.epsilon = double_attribute(f, "epsilon");
    c.optimizer.momentum = double_attribute(f, "momentum");
    c.optimizer_steps = f.int_attribute("optimizer_steps");
    read_flat("optimizer/a", c.optimizer_a, num_params - c.trainable_offset);
    check_finite(c.optimizer_a, path, "optimizer/a");
    if (c.optimizer.kind == model::OptimizerKind::kAdam) {
      read_flat("optimizer/b", c.optimizer_b, num_params - c.trainable_offset);
      check_finite(c.optimizer_b, path, "optimizer/b");
    }
  }
  if (f.has_attribute("global_step")) c.state = read_train_state(f, path);
  return c;
}

bool hpcnn_hdf5_file(const fs::path& path) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  try {
    h5::silence_errors();
    const h5::File f = h5::File::open_read(path);
    return f.has_attribute("format") && f.string_attribute("format").rfind("hpcnn-", 0) == 0;
  } catch (const std::exception&) {
    return false;  // not HDF5, or damaged: not shown to be hpcnn's
  }
}

void check_checkpoint_path(const fs::path& checkpoint, const fs::path& run_dir, const fs::path& data_dir,
                           const fs::path& init_from, bool force) {
  OutputRules rules;
  rules.input_files = {init_from};
  rules.input_dirs = {data_dir};
  rules.force = force;
  rules.own_dir = run_dir;
  rules.written_by_hpcnn = hpcnn_hdf5_file;
  check_output_file("--checkpoint", checkpoint, rules);
}

std::unique_ptr<model::Model> restore_model(const Checkpoint& ckpt, kernels::Backend& backend) {
  model::ModelSpec spec = model::resolve(ckpt.model_name, ckpt.model_text, ckpt.input);
  HPCNN_CHECK(spec.total_params() == static_cast<int64_t>(ckpt.params.size()), "checkpoint holds ", ckpt.params.size(),
              " parameters but its model '", ckpt.model_name, "' has ", spec.total_params());
  auto m = std::make_unique<model::Model>(std::move(spec), ckpt.loss, backend, ckpt.seed);
  m->set_params_host(ckpt.params);
  return m;
}

}  // namespace hpcnn::train
