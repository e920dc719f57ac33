// The HTTP transport of `hpcnn serve`: cpp-httplib (Debian's libcpp-httplib)
// wired to the PredictService endpoints.
//
// The library parses HTTP; this file only sets its limits and routes: a
// bounded thread pool, a maximum body size (larger: 413 before the body is
// read), read/write timeouts (a client that stops sending mid-body is dropped,
// never waited on forever), no compressed request bodies (415: a small gzip
// body must not inflate past the size limit), and a port already in use is an
// error, not a shared socket. httplib.h stays in the .cpp, so nothing else
// compiles it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/log.hpp"
#include "serve/service.hpp"

namespace httplib {
class Server;
}

namespace hpcnn::serve {

struct HttpConfig {
  std::string host = "127.0.0.1";  ///< localhost only unless asked
  int port = 8080;                 ///< 0: any free port (see port())
  int threads = 16;                ///< connections served at once (each keep-alive connection holds one)
  int64_t max_body_bytes = 4 << 20;
  int timeout_seconds = 10;  ///< per read / write on a connection
};

class HttpServer {
 public:
  /// Binds the socket; throws naming host:port when that fails (address in use, not local).
  HttpServer(const PredictService& service, HttpConfig config, const Logger& log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  /// "http://HOST:PORT/" (IPv6 hosts in brackets).
  std::string url() const;
  /// Serves until stop(); throws when the listening socket fails.
  void run();
  /// Thread-safe; run() returns soon after.
  void stop();

 private:
  HttpConfig config_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};

}  // namespace hpcnn::serve
