// cpp-httplib set-up and routes for `hpcnn serve` (see http_server.hpp).
#include "serve/http_server.hpp"

#include <httplib.h>

#include <utility>

namespace hpcnn::serve {

namespace {
void send(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(reply.body, reply.content_type.c_str());
}
}  // namespace

HttpServer::HttpServer(const PredictService& service, HttpConfig config, const Logger& log)
    : config_(std::move(config)), server_(std::make_unique<httplib::Server>()) {
  HPCNN_CHECK(config_.threads >= 1, "http: threads must be positive");
  httplib::Server& s = *server_;
  const auto threads = static_cast<size_t>(config_.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  s.set_read_timeout(config_.timeout_seconds, 0);
  s.set_write_timeout(config_.timeout_seconds, 0);
  s.set_keep_alive_max_count(1000);
  s.set_keep_alive_timeout(5);
  // The library writes headers and body separately: without TCP_NODELAY, Nagle
  // holds the body until the client's delayed ACK, ~40 ms per request
  // (tests/integration/serve_load.sh on the 2-core machine: p50 44 ms without,
  // 3.3 ms with).
  s.set_tcp_nodelay(true);
  // SO_REUSEADDR only: the library's default adds SO_REUSEPORT, which lets a
  // second server bind the same port and silently take half the connections.
  s.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  // Before the body is read: refuse compressed bodies (they would inflate past the size limit).
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (encoding.empty() || encoding == "identity") return httplib::Server::HandlerResponse::Unhandled;
    send(res, error_reply(415, "compressed request bodies (Content-Encoding: " + encoding + ") are not accepted"));
    return httplib::Server::HandlerResponse::Handled;
  });
  s.Get("/", [&service](const httplib::Request&, httplib::Response& res) { send(res, service.page()); });
  s.Get("/info", [&service](const httplib::Request&, httplib::Response& res) { send(res, service.info()); });
  s.Post("/predict", [&service](const httplib::Request& req, httplib::Response& res) {
    send(res, service.predict(req.body, req.get_header_value("Content-Type"), req.params));
  });
  // The library's own errors (404, 413 too large, 400 unparsable) get a JSON body too;
  // answers that already have one (from the routes above) are left alone.
  const int64_t max_body = config_.max_body_bytes;
  s.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = cat("HTTP status ", res.status);
    if (res.status == 400) message = "malformed HTTP request";
    if (res.status == 404) message = "no such page: " + req.method + " " + req.path;
    if (res.status == 413) message = cat("request body larger than the limit of ", max_body, " bytes");
    if (res.status == 414) message = "request URI too long";
    send(res, error_reply(res.status, message));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(std::move(ep));
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send(res, error_reply(500, "internal error: " + what));
  });
  s.set_logger([log](const httplib::Request& req, const httplib::Response& res) {
    log.debug(cat(req.remote_addr, " ", req.method, " ", req.path, " -> ", res.status));
  });

  port_ = config_.port == 0 ? s.bind_to_any_port(config_.host)
                            : (s.bind_to_port(config_.host, config_.port) ? config_.port : -1);
  HPCNN_CHECK(port_ > 0, "cannot listen on ", config_.host, ":", config_.port,
              " (address in use, or not an address of this machine?)");
}

HttpServer::~HttpServer() = default;

std::string HttpServer::url() const {
  const bool ipv6 = config_.host.find(':') != std::string::npos;
  return cat("http://", ipv6 ? "[" : "", config_.host, ipv6 ? "]" : "", ":", port_, "/");
}

void HttpServer::run() {
  HPCNN_CHECK(server_->listen_after_bind(), "http server on ", url(), " stopped with an error");
}

void HttpServer::stop() { server_->stop(); }

}  // namespace hpcnn::serve
