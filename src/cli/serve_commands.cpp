// hpcnn predict | serve: a trained classifier on pictures a person made.
//
// Both load the checkpoint the same way, preprocess with serve::preprocess
// (the one function, see serve/preprocess.hpp) and classify through a
// serve::Predictor, so a PNG file given to `predict` and the same pixels
// drawn on `serve`'s page get the same answer.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <map>
#include <thread>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "serve/http_server.hpp"
#include "serve/predictor.hpp"
#include "serve/preprocess.hpp"
#include "serve/service.hpp"
#include "serve/transcribe.hpp"
#include "train/checkpoint.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

namespace {
/// A PNG on disk may be larger than what the server accepts (64 Mpixel).
constexpr int64_t kMaxFilePixels = 8192LL * 8192;
/// A PNG file predict reads: its size is checked before it is read (predict
/// /dev/zero read 2.2 GB before looking at the signature).
constexpr int64_t kMaxPngFileBytes = int64_t{64} << 20;

/// Loads a checkpoint and refuses models that cannot take a grey picture.
train::Checkpoint load_image_classifier(const std::string& path) {
  train::Checkpoint ckpt = train::load_checkpoint(path);
  HPCNN_CHECK(ckpt.input.c == 1, "checkpoint ", path, ": model '", ckpt.model_name, "' takes ", ckpt.input.str(),
              "; predict and serve handle one-channel (grey) image models");
  HPCNN_CHECK(ckpt.sample_dtype.empty() || ckpt.sample_dtype == "uint8", "checkpoint ", path, ": model '",
              ckpt.model_name, "' was trained on ", ckpt.sample_dtype,
              " samples; predict and serve feed 8-bit images scaled to [0, 1]");
  return ckpt;
}

/// Class names: from --data's manifest when given, else from the checkpoint,
/// else the class numbers (checkpoints written before names were recorded).
std::vector<std::string> class_names_for(const train::Checkpoint& ckpt, int num_classes, const std::string& data_dir,
                                         const Logger& log) {
  std::vector<std::string> names;
  if (!data_dir.empty()) {
    const data::Manifest m = data::load_manifest(data_dir);
    HPCNN_CHECK(m.task == data::Task::kClassification && m.num_classes == num_classes, "--data ", data_dir,
                ": dataset '", m.name, "' has ", m.num_classes, " classes but the model has ", num_classes, " outputs");
    names = m.class_names;
  } else if (static_cast<int>(ckpt.class_names.size()) == num_classes) {
    names = ckpt.class_names;
  } else {
    log.warn("the checkpoint records no class names: showing class numbers (--data DIR names them)");
  }
  if (static_cast<int>(names.size()) != num_classes) {
    names.clear();
    for (int k = 0; k < num_classes; ++k) names.push_back(std::to_string(k));
  }
  return names;
}

/// --checkpoint and the --ensemble members, loaded; `pointers` for serve::Predictor.
struct Members {
  std::vector<train::Checkpoint> checkpoints;
  std::vector<const train::Checkpoint*> pointers() const {
    std::vector<const train::Checkpoint*> out;
    for (const train::Checkpoint& c : checkpoints) out.push_back(&c);
    return out;
  }
};
Members load_members(const std::string& checkpoint, const std::vector<std::string>& ensemble) {
  Members m;
  m.checkpoints.push_back(load_image_classifier(checkpoint));
  for (const std::string& path : ensemble) m.checkpoints.push_back(load_image_classifier(path));
  return m;
}

void add_model_options(CommandSpec& spec, std::string& checkpoint, std::string& data_dir, std::string& framing,
                       int& top_k, std::string& backend, int& threads, std::vector<std::string>& ensemble) {
  const std::string framing_help =
      "how a picture is cropped and placed in the input: " + serve::framing_choices() + " (see docs/formats.md)";
  // clang-format off
  spec.options.add_options()
      ("checkpoint,c", po::value<std::string>(&checkpoint)->required()->value_name("FILE"),
       "checkpoint of a classifier of one-channel images (model.h5)")
      ("ensemble", po::value<std::vector<std::string>>(&ensemble)->value_name("FILE"),
       "another checkpoint of the same input and classes, whose probabilities are averaged with\n"
       "--checkpoint's (repeat for more: an ensemble)")
      ("data,d", po::value<std::string>(&data_dir)->value_name("DIR"),
       "name the classes from this dataset's manifest [the names recorded in the checkpoint]")
      ("framing", po::value<std::string>(&framing)->default_value(framing), framing_help.c_str())
      ("top-k,k", po::value<int>(&top_k)->default_value(top_k), "classes listed per prediction (JSON)")
      ("backend", po::value<std::string>(&backend)->default_value(backend), kernels::backend_choices().c_str())
      ("threads,t", po::value<int>(&threads)->default_value(threads), "compute threads (0: all cores)");
  // clang-format on
}

void check_model_options(const std::string& framing, int top_k, const std::string& backend, int threads) {
  serve::parse_framing(framing);
  require_range("top-k", top_k, 1, 1000);
  require_range("threads", threads, 0, 4096);
  kernels::parse_backend(backend);  // a usage error before any work
}
}  // namespace

int run_predict(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn predict";
  spec.positional_usage = "IMAGE...";
  spec.summary =
      "Classify PNG images (grey or colour, any size) with a trained checkpoint. Each picture is\n"
      "preprocessed like the training data (dark-on-light pictures inverted, the drawing cropped, scaled\n"
      "and centred, then v/255: docs/formats.md, \"Pictures for predict and serve\") and one line per\n"
      "file gives the class, its name and its probability; --json gives the top-k and all probabilities.";
  spec.details =
      "Examples:\n"
      "  hpcnn predict --checkpoint results/canvas/model.h5 shirt.png trousers.png\n"
      "  hpcnn predict -c model.h5 --json --top-k 3 --save-input seen/ drawing.png\n"
      "  hpcnn predict -c results/runs/math/model.h5 --expression sum.png   # one LaTeX line per file\n"
      "\n"
      "--expression: each PNG is a one-line handwritten expression; it is cut into glyphs (connected\n"
      "components, with = and \\div kept whole, left to right), each glyph classified with MNIST framing\n"
      "(a math-symbols model: results/math), and the LaTeX printed; --json adds each glyph's box and\n"
      "its top-k alternatives (docs/formats.md, \"Transcriptions\").";
  std::string checkpoint, data_dir, framing = "fill", backend = "onednn", save_dir;
  std::vector<std::string> images;
  int top_k = 3, threads = 0, views = serve::kDefaultViews;
  bool json = false, expression = false;
  std::vector<std::string> ensemble;
  add_model_options(spec, checkpoint, data_dir, framing, top_k, backend, threads, ensemble);
  // clang-format off
  spec.options.add_options()
      ("json", po::bool_switch(&json), "print one JSON document (docs/formats.md) instead of a table")
      ("expression", po::bool_switch(&expression), "each image is a handwritten expression: print its LaTeX")
      ("views", po::value<int>(&views)->default_value(views)->value_name("N"),
       "--expression: classify each glyph in N framings (1 to 5) and average (serve/transcribe.hpp)")
      ("save-input", po::value<std::string>(&save_dir)->value_name("DIR"),
       "also write what the model sees (the preprocessed input) as DIR/NAME.input.png")
      ("image", po::value<std::vector<std::string>>(&images)->value_name("IMAGE"),
       "PNG files (positional)");
  // clang-format on
  spec.positional.add("image", -1);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_model_options(framing, top_k, backend, threads);
  require_range("views", views, 1, serve::kMaxViews);
  if (images.empty()) throw UsageError("no IMAGE given: name one or more PNG files");
  const serve::Framing framing_kind = serve::parse_framing(framing);
  const Logger log(common.log_level());

  const Members members = load_members(checkpoint, ensemble);
  const train::Checkpoint& ckpt = members.checkpoints.front();
  if (expression) {
    if (!save_dir.empty()) throw UsageError("--save-input does not apply to --expression");
    serve::Predictor predictor(members.pointers(), {kernels::parse_backend(backend), threads, 64});
    const std::vector<std::string> names = class_names_for(ckpt, predictor.num_classes(), data_dir, log);
    nlohmann::json doc{{"format", "hpcnn-transcriptions"}, {"version", 1}, {"model", ckpt.model_name}};
    doc["transcriptions"] = nlohmann::json::array();
    for (const std::string& file : images) {
      nlohmann::json t;
      try {
        const serve::GreyImage picture = serve::decode_png(read_text_file(file, kMaxPngFileBytes), kMaxFilePixels);
        t = serve::transcribe(predictor, picture, names, std::min(top_k, predictor.num_classes()), views);
      } catch (const serve::BadInput& e) {
        HPCNN_THROW(file, ": ", e.message());
      }
      if (!json) std::cout << file << "  " << t["latex"].get<std::string>() << "\n";
      doc["transcriptions"].push_back(nlohmann::json{{"file", file}});
      doc["transcriptions"].back().update(t);
    }
    if (json) std::cout << doc.dump(2) << "\n";
    return 0;
  }
  std::vector<serve::Preprocessed> seen;
  std::vector<std::vector<float>> inputs;
  for (const std::string& file : images) {
    try {
      const serve::GreyImage picture = serve::decode_png(read_text_file(file, kMaxPngFileBytes), kMaxFilePixels);
      seen.push_back(serve::preprocess(picture, framing_kind, ckpt.input.h, ckpt.input.w));
    } catch (const serve::BadInput& e) {
      HPCNN_THROW(file, ": ", e.message());
    }
    inputs.push_back(seen.back().input);
  }
  serve::Predictor predictor(members.pointers(), {kernels::parse_backend(backend), threads, 64});
  const std::vector<std::string> names = class_names_for(ckpt, predictor.num_classes(), data_dir, log);
  const std::vector<serve::Prediction> predictions = predictor.predict(inputs);

  if (!save_dir.empty()) {
    fs::create_directories(save_dir);
    // DIR/STEM.input.png; inputs that share a stem (a/x.png b/x.png) get
    // DIR/STEM.I.input.png, I their position on the command line from 0, so
    // no picture overwrites another.
    std::map<std::string, int> stems;
    for (const std::string& image : images) ++stems[fs::path(image).stem().string()];
    for (size_t i = 0; i < images.size(); ++i) {
      const std::string stem = fs::path(images[i]).stem().string();
      const std::string name = stems[stem] > 1 ? cat(stem, ".", i, ".input.png") : stem + ".input.png";
      write_file_atomic(fs::path(save_dir) / name, serve::encode_png(seen[i].image));
    }
  }
  if (json) {
    nlohmann::json doc{{"format", "hpcnn-predictions"}, {"version", 1}};
    doc["model"] = ckpt.model_name;
    doc["dataset"] = ckpt.dataset_name;
    doc["framing"] = framing;
    doc["class_names"] = names;
    doc["predictions"] = nlohmann::json::array();
    for (size_t i = 0; i < images.size(); ++i) {
      nlohmann::json p{{"file", images[i]}};
      p.update(predictions[i].to_json(names, top_k));
      p["inverted"] = seen[i].inverted;
      doc["predictions"].push_back(std::move(p));
    }
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  size_t file_width = 5, name_width = 4;
  for (const std::string& f : images) file_width = std::max(file_width, f.size());
  for (const std::string& n : names) name_width = std::max(name_width, n.size());
  std::cout << std::left << std::setw(static_cast<int>(file_width)) << "image"
            << "  " << std::right << std::setw(5) << "class"
            << "  " << std::left << std::setw(static_cast<int>(name_width)) << "name"
            << "  "
            << "probability\n";
  for (size_t i = 0; i < images.size(); ++i) {
    const int k = predictions[i].top_class();
    std::cout << std::left << std::setw(static_cast<int>(file_width)) << images[i] << "  " << std::right << std::setw(5)
              << k << "  " << std::left << std::setw(static_cast<int>(name_width)) << names[static_cast<size_t>(k)]
              << "  " << std::fixed << std::setprecision(4) << predictions[i].probabilities[static_cast<size_t>(k)]
              << "\n";
  }
  return 0;
}

int run_serve(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn serve";
  spec.summary =
      "Serve a trained classifier over HTTP: a page to draw on (GET /), a prediction endpoint\n"
      "(POST /predict: a PNG or JSON pixels -> top-k classes and the preprocessed input, as JSON) and\n"
      "a transcription endpoint (POST /transcribe: a handwritten expression -> LaTeX, each glyph's box\n"
      "and alternatives; for a math-symbols model, results/math). The page opens on the expression\n"
      "tool for a math-symbols model, else on one drawing, one class (--page says which).\n"
      "Listens on localhost unless --host says otherwise; prints \"listening on URL\" on stdout once\n"
      "ready. Runs until interrupted (Ctrl-C, SIGTERM: open connections are closed at once).\n"
      "\n"
      "Limits against hostile clients (src/serve/http_server.hpp): a whole request (headers and body)\n"
      "must arrive within --timeout seconds (408); a connection with no request under way is closed\n"
      "after --idle-timeout; at most --max-connections connections, --max-connections-per-client from\n"
      "one address (the oldest waiting one is closed to make room); at most 100 header lines and\n"
      "16 KiB of headers (431); bodies over --max-request-bytes get 413, chunked ones as they arrive;\n"
      "Content-Length must be one plain number (400). The Host header must name this server (421)\n"
      "and a cross-origin request (an Origin other than the server's own) is refused (403).\n"
      "Waiting connections hold no thread: --http-threads bounds the requests answered at once.";
  spec.details =
      "Examples:\n"
      "  hpcnn serve --checkpoint results/runs/math/model/model.h5   # then open http://127.0.0.1:8080/\n"
      "  hpcnn serve --checkpoint results/canvas/model.h5 --page glyph   # the Fashion-MNIST demo\n"
      "  hpcnn serve -c model.h5 --port 0                            # any free port (printed)\n"
      "  curl --data-binary @drawing.png -H 'Content-Type: image/png' http://127.0.0.1:8080/predict";
  std::string checkpoint, data_dir, framing = "fill", backend = "onednn";
  int top_k = 3, threads = 1, port = 8080, http_threads = 16, timeout = 10, idle_timeout = 5;
  int max_connections = 512, max_per_client = 64;
  long long max_request_bytes = 4 << 20, max_batch = 32;
  int views = serve::kDefaultViews;
  std::string host = "127.0.0.1", page_mode = "auto", katex_dir = "/usr/share/javascript/katex", engine = "model";
  std::vector<std::string> ensemble;
  add_model_options(spec, checkpoint, data_dir, framing, top_k, backend, threads, ensemble);
  // clang-format off
  spec.options.add_options()
      ("host", po::value<std::string>(&host)->default_value(host),
       "address to listen on (0.0.0.0: every interface; think before exposing it)")
      ("port,p", po::value<int>(&port)->default_value(port), "TCP port (0: any free port)")
      ("http-threads", po::value<int>(&http_threads)->default_value(http_threads), "requests answered at once")
      ("max-connections", po::value<int>(&max_connections)->default_value(max_connections),
       "open connections at most, all clients together")
      ("max-connections-per-client", po::value<int>(&max_per_client)->default_value(max_per_client),
       "open connections at most from one client address")
      ("max-request-bytes", po::value<long long>(&max_request_bytes)->default_value(max_request_bytes),
       "largest request body accepted (larger: 413)")
      ("timeout", po::value<int>(&timeout)->default_value(timeout),
       "seconds for a whole request (headers and body) to arrive, and for an answer to be taken")
      ("idle-timeout", po::value<int>(&idle_timeout)->default_value(idle_timeout),
       "seconds a connection may wait with no request under way (new, or kept alive)")
      ("max-batch", po::value<long long>(&max_batch)->default_value(max_batch),
       "most queued requests answered by one forward pass")
      ("views", po::value<int>(&views)->default_value(views)->value_name("N"),
       "/transcribe: classify each glyph in N framings (1 to 5) and average (serve/transcribe.hpp)")
      ("engine", po::value<std::string>(&engine)->default_value(engine),
       "onednn backend: model (the training Model) | folded (the model folded for inference, src/quant;\n"
       "no faster for the math-symbols CNN: results/math)")
      ("page", po::value<std::string>(&page_mode)->default_value(page_mode),
       "the page opens on: expression (write an expression, get LaTeX: a math-symbols model, results/math) |\n"
       "glyph (one drawing, one class: e.g. the Fashion-MNIST demo of results/canvas) | auto (expression\n"
       "when the model's classes include + and =, else glyph)")
      ("katex-dir", po::value<std::string>(&katex_dir)->default_value(katex_dir),
       "KaTeX (Debian's libjs-katex) served at /katex/ to render LaTeX without internet; missing: the\n"
       "page shows the LaTeX source only");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_model_options(framing, top_k, backend, threads);
  require_range("port", port, 0, 65535);
  require_range("http-threads", http_threads, 1, 1024);
  require_range<long long>("max-request-bytes", max_request_bytes, 1024, 1LL << 30);
  require_range("timeout", timeout, 1, 3600);
  require_range("idle-timeout", idle_timeout, 1, 3600);
  require_range("max-connections", max_connections, 1, 100000);
  require_range("max-connections-per-client", max_per_client, 1, 100000);
  require_range<long long>("max-batch", max_batch, 1, 4096);
  if (host.empty()) throw UsageError("--host must not be empty");
  require_range("views", views, 1, serve::kMaxViews);
  if (engine != "folded" && engine != "model") {
    throw UsageError("--engine must be folded or model (got '" + engine + "')");
  }
  if (page_mode != "expression" && page_mode != "glyph" && page_mode != "auto") {
    throw UsageError("--page must be expression, glyph or auto (got '" + page_mode + "')");
  }
  const Logger log(common.log_level());

  // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server;
  // blocked here, before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const Members members = load_members(checkpoint, ensemble);
  const train::Checkpoint& ckpt = members.checkpoints.front();
  serve::Predictor predictor(members.pointers(),
                             {kernels::parse_backend(backend), threads, max_batch, engine == "folded"});
  serve::ServiceConfig sc;
  sc.model_name = ckpt.model_name;
  sc.dataset = ckpt.dataset_name;
  sc.class_names = class_names_for(ckpt, predictor.num_classes(), data_dir, log);
  sc.framing = serve::parse_framing(framing);
  sc.top_k = std::min(top_k, predictor.num_classes());
  sc.max_body_bytes = max_request_bytes;
  sc.views = views;
  const auto has_class = [&](const char* name) {
    return std::find(sc.class_names.begin(), sc.class_names.end(), name) != sc.class_names.end();
  };
  sc.page_mode = page_mode != "auto" ? page_mode : (has_class("+") && has_class("=") ? "expression" : "glyph");
  if (fs::is_regular_file(fs::path(katex_dir) / "katex.min.js")) {
    sc.katex_dir = katex_dir;
  } else {
    log.warn("no KaTeX at " + katex_dir + " (apt-get install libjs-katex): the page shows LaTeX source only");
  }
  const serve::PredictService service(predictor, sc);
  serve::HttpConfig http;
  http.host = host;
  http.port = port;
  http.threads = http_threads;
  http.max_body_bytes = max_request_bytes;
  http.timeout_seconds = timeout;
  http.idle_seconds = idle_timeout;
  http.max_connections = max_connections;
  http.max_connections_per_client = max_per_client;
  serve::HttpServer server(service, http, log);
  if (!serve::is_loopback_host(host)) {
    // Printed even with -q: exposing the model to the network should never go unnoticed.
    std::cerr << "warning: listening on " << host << ", beyond loopback: every machine that can reach this one "
              << "can use the server (--host 127.0.0.1 keeps it local)" << std::endl;
  }
  log.info(cat("model ", ckpt.model_name, " (", ckpt.input.str(), " -> ", predictor.num_classes(),
               " classes), framing ", framing, ", ", http_threads, " HTTP threads"));
  std::cout << "listening on " << server.url() << std::endl;  // tests wait for this line

  std::thread waiter([&] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) == 0) log.info(cat("signal ", sig, ": stopping"));
    server.stop();
  });
  try {
    server.run();
  } catch (...) {
    pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the sigwait
    waiter.join();
    throw;
  }
  waiter.join();
  return 0;
}

}  // namespace hpcnn::cli
