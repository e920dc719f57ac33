// The run record (see run_record.hpp).
#include "train/run_record.hpp"

#include <ctime>
#include <fstream>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"
#include "comm/nccl/nccl_info.hpp"
#include "core/build_info_access.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "device_info.hpp"

namespace hpcnn::train {

nlohmann::json EvalMetrics::to_json() const {
  nlohmann::json j{{"samples", samples}, {"loss", loss}, {"seconds", seconds}};
  if (accuracy >= 0) j["accuracy"] = accuracy;
  return j;
}

nlohmann::json EpochMetrics::to_json() const {
  nlohmann::json j{{"epoch", epoch}, {"steps", steps},     {"samples", samples},
                   {"loss", loss},   {"seconds", seconds}, {"samples_per_second", samples_per_second}};
  if (accuracy >= 0) j["accuracy"] = accuracy;
  if (validation) j["validation"] = validation->to_json();
  return j;
}

nlohmann::json resolved_config(const TrainConfig& c, int world, int64_t global_batch, const std::string& allreduce,
                               double bucket_mb) {
  nlohmann::json j = c.to_json();
  j["bucket_mb"] = bucket_mb;
  j["allreduce_requested"] = j["allreduce"];
  j["allreduce"] = allreduce;
  j["global_batch"] = global_batch;
  j["world_size"] = world;
  return j;
}

nlohmann::json TrainResult::to_json(const TrainConfig& c) const {
  nlohmann::json epochs_json = nlohmann::json::array();
  for (const EpochMetrics& e : epochs) epochs_json.push_back(e.to_json());
  nlohmann::json j{
      {"format", "hpcnn-metrics"},
      {"version", 1},
      {"hpcnn", version_string()},
      {"config", resolved_config(c, world_size, global_batch, allreduce, bucket_mb)},
      {"model", model},
      {"params", params},
      {"epochs", epochs_json},
      {"train_seconds", train_seconds},
      {"samples_per_second", samples_per_second},
      {"step_losses", step_losses},
      {"global_steps", global_steps},
  };
  if (resumed_from_step >= 0) j["resumed_from_step"] = resumed_from_step;
  if (!ranks.empty()) j["ranks"] = ranks;
  if (!device_transfers.is_null()) j["device_transfers"] = device_transfers;
  if (test) j["test"] = test->to_json();
  return j;
}

std::string now_text() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
  return text;
}

/// RUN_DIR/run.json's contents: what ran, where and with what (every rank
/// takes part: the host names are gathered; only rank 0's result is whole).
nlohmann::json run_manifest(const TrainConfig& c, comm::Communicator& comm, int64_t global_batch,
                            comm::AllreduceAlgo algo, double bucket_mb, const kernels::Backend& backend) {
  const std::string host = host_name();
  const int world = comm.size();
  const std::vector<std::string> hosts = comm.gather(host);
  if (comm.rank() != 0) return nlohmann::json::object();
  nlohmann::json device{{"backend", backend.name()},
                        {"kind", backend.device() == kernels::DeviceKind::kGpu ? "gpu" : "cpu"}};
  if (backend.name() == "cuda") {
    // What the run actually loaded: the GPUs rank 0 sees, the driver, and
    // the cuDNN, cuBLAS and NCCL libraries' own version reports.
    const kernels::GpuInfo gpu = kernels::query_gpu_info();
    device["gpus"] = gpu.devices;
    device["driver"] = gpu.driver_version;
    device["cuda_runtime"] = gpu.runtime_version;
    device["cudnn"] = gpu.cudnn_version;
    device["cublas"] = gpu.cublas_version;
    device["nccl"] = comm::nccl_version();
  }
  return nlohmann::json{
      {"format", "hpcnn-run"},
      {"version", 1},
      {"started", now_text()},
      {"hpcnn", version_string()},
      {"git_revision", git_revision()},
      {"compiler", compiler_string()},
      {"config", resolved_config(c, world, global_batch, comm::allreduce_name(algo), bucket_mb)},
      {"world_size", world},
      {"nodes", comm.num_nodes()},
      {"hosts", hosts},
      {"device", device},
      {"libraries",
       {{"mpi", comm::mpi_library_version()}, {"hdf5", h5::library_version()}, {"onednn", kernels::onednn_version()}}}};
}

/// Rebuilds the metrics of a finished epoch from its JSON (a checkpoint's history).
EvalMetrics eval_from_json(const nlohmann::json& j) {
  EvalMetrics m;
  m.samples = j.value("samples", int64_t{0});
  m.loss = j.value("loss", 0.0);
  m.accuracy = j.value("accuracy", -1.0);
  m.seconds = j.value("seconds", 0.0);
  return m;
}
EpochMetrics epoch_from_json(const nlohmann::json& j) {
  EpochMetrics e;
  e.epoch = j.value("epoch", 0);
  e.steps = j.value("steps", int64_t{0});
  e.samples = j.value("samples", int64_t{0});
  e.loss = j.value("loss", 0.0);
  e.accuracy = j.value("accuracy", -1.0);
  e.seconds = j.value("seconds", 0.0);
  e.samples_per_second = j.value("samples_per_second", 0.0);
  if (j.contains("validation")) e.validation = eval_from_json(j["validation"]);
  return e;
}

nlohmann::json state_to_json(const TrainState& s) {
  return {{"global_step", s.global_step}, {"epoch", s.epoch},     {"steps_in_epoch", s.steps_in_epoch},
          {"epoch_done", s.epoch_done},   {"history", s.history}, {"step_losses", s.step_losses}};
}
TrainState state_from_json(const nlohmann::json& j) {
  TrainState s;
  s.global_step = j.at("global_step").get<int64_t>();
  s.epoch = j.at("epoch").get<int64_t>();
  s.steps_in_epoch = j.at("steps_in_epoch").get<int64_t>();
  s.epoch_done = j.at("epoch_done").get<bool>();
  s.history = j.at("history");
  s.step_losses = j.at("step_losses").get<std::vector<double>>();
  return s;
}

/// The dataset's identity for resuming: its manifest (names, shapes, shard hashes).
std::string dataset_digest(const data::Manifest& m) {
  const std::string text = m.to_json().dump();
  return sha256_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

/// This process's peak resident memory and read volume, from /proc (Linux).
nlohmann::json process_resources(int rank) {
  nlohmann::json j{{"rank", rank}};
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) j["peak_rss_mb"] = std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  }
  std::ifstream io("/proc/self/io");
  for (std::string line; std::getline(io, line);) {
    if (line.rfind("rchar:", 0) == 0) j["read_call_bytes"] = std::stoll(line.substr(6));
    if (line.rfind("read_bytes:", 0) == 0) j["storage_read_bytes"] = std::stoll(line.substr(11));
  }
  return j;
}

}  // namespace hpcnn::train
