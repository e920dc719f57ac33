// hpcnn summary: a model's layers, output shapes and parameter counts.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "model/model_spec.hpp"

namespace hpcnn::cli {

int run_summary(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn summary";
  spec.summary = "Print a Keras-like table of a model: layers, output shapes and parameter counts.";
  std::string details = "Presets:\n";
  for (const model::Preset& p : model::presets()) {
    details += cat("  ", p.name, std::string(14 - std::string(p.name).size(), ' '), "input ", p.input.c, "x", p.input.h,
                   "x", p.input.w, "  ", p.description, "\n");
  }
  details +=
      "  mlp:W1-W2-W3  input 50x1x1  the thesis's MLP regressors (1-3 hidden layers, 1 output)\n"
      "  mobilenetv2:ALPHA[:K][:mMOM]  input 3x96x96  Keras's MobileNetV2 (include_top=False) + the Edge\n"
      "                Impulse seed's head (dense 8 per position, dropout 0.1, dense K; K = 3); batch-norm\n"
      "                momentum MOM (Keras: 0.999)\n\n"
      "Model strings: conv:FxK[:sS][:same][:gG][:nobias] dwconv:K[:sS][:same][:nobias] maxpool:K[:sS]\n"
      "  dense:N relu relu6 dropout:P flatten bn[:eEPS][:mMOM] gap zeropad:P|T:B:L:R add:NAME\n"
      "  (LAYER@NAME names a layer's output for a later add:NAME; the input is named 'input')\n"
      "Examples:\n"
      "  hpcnn summary --model keras-cnn\n"
      "  hpcnn summary --model mlp:3200-1600-832\n"
      "  hpcnn summary --model mobilenetv2:0.35\n"
      "  hpcnn summary --model 'conv:8x5 relu maxpool:2 flatten dense:10' --input 3x32x32";
  spec.details = details;
  std::string model_name, input_text;
  // clang-format off
  spec.options.add_options()
      ("model,m", po::value<std::string>(&model_name)->required()->value_name("NAME|STRING"), "preset name or model string")
      ("input", po::value<std::string>(&input_text)->value_name("CxHxW"), "input shape per sample [the preset's]");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  model::Shape input;
  if (!input_text.empty()) {
    try {
      input = model::parse_shape(input_text);
    } catch (const Error& e) {
      throw UsageError("--input: " + e.message());
    }
  }
  const model::ModelSpec m = model::make_model(model_name, input_text.empty() ? nullptr : &input);
  std::cout << model::summary_table(m);
  return 0;
}

}  // namespace hpcnn::cli
