// Transfer learning (see transfer.hpp).
#include "train/transfer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "train/checkpoint.hpp"

namespace hpcnn::train {

void init_from_checkpoint(model::Model& net, const TrainConfig& c, const Logger& log) {
  const std::string path = c.init_from.string();
  const Checkpoint ckpt = load_checkpoint(c.init_from);
  const model::ModelSpec from = model::resolve(ckpt.model_name, ckpt.model_text, ckpt.input);
  const model::ModelSpec& to = net.spec();
  size_t limit = std::min(from.layers.size(), to.layers.size());
  const bool until = !c.init_until.empty();
  if (until) {
    limit = to.layer_index(c.init_until) + 1;
    HPCNN_CHECK(limit <= from.layers.size(), "--init-until ", c.init_until, " is layer ", limit, ", but the model of ",
                path, " has ", from.layers.size(), " layers");
  }
  // Layers match when they are the same layer (names aside) on the same input.
  const auto text = [](model::LayerSpec l) {
    l.name.clear();
    return l.str();
  };
  size_t copied = 0;
  for (; copied < limit; ++copied) {
    const model::ResolvedLayer &a = from.layers[copied], &b = to.layers[copied];
    if (text(a.spec) == text(b.spec) && a.input == b.input && a.params() == b.params()) continue;
    HPCNN_CHECK(!until, "--init-from ", path, ": layer ", copied + 1, " is '", text(a.spec), "' on ", a.input.str(),
                " there but '", text(b.spec), "' on ", b.input.str(), " here (--init-until ", c.init_until,
                " asks for it)");
    break;
  }
  HPCNN_CHECK(copied > 0, "--init-from ", path, ": its model '", ckpt.model_name, "' and '", to.name,
              "' differ from the first layer on (", text(from.layers[0].spec), " on ", from.input.str(), " there, ",
              text(to.layers[0].spec), " on ", to.input.str(), " here)");
  // Both buffers are laid out layer by layer, so the matching layers are a common prefix.
  const int64_t count = copied < to.layers.size() ? net.param_views()[copied].weights_offset : net.num_params();
  std::vector<float> params = net.params_host();
  std::copy_n(ckpt.params.begin(), count, params.begin());
  net.set_params_host(params);
  log.info(cat("init: layers 1-", copied, " (", count, " parameters) from ", path, " (model ", ckpt.model_name,
               ", trained on ", ckpt.dataset_name.empty() ? std::string("?") : ckpt.dataset_name, ")",
               copied < to.layers.size() ? cat("; layers ", copied + 1, "-", to.layers.size(), " start fresh") : ""));
}

}  // namespace hpcnn::train
