// The HTTP transport of `hpcnn serve`: a small HTTP/1.1 server of its own on
// POSIX sockets and poll(), wired to the PredictService endpoints.
//
// Why not cpp-httplib (Debian's libcpp-httplib, used until issue 26/32): it
// gives each connection a thread for its whole life and applies its timeout
// per read, so 16 sockets sending one header byte a second (or 200 idle ones)
// held every thread and starved the server; it buffered chunked bodies whole
// before the size check (2,000 MB chunked raised the server to 2.3 GB); it
// read unbounded header lines (300 MB of headers: ~600 MB RSS); its stop()
// waited for connected clients (25-36 s after SIGTERM); it accepted two
// Content-Length headers and answered Content-Length: -5 after the timeout;
// and it has no hook before the body is read to check Host and Origin.
//
// Here one thread runs poll() over the listening socket and every connection
// that is reading a request, so a slow or idle client costs a file descriptor
// and a buffer, never a thread. Its limits:
//  - the whole request (headers and body) must arrive within timeout_seconds
//    of its first byte (408 otherwise); a connection with no request under
//    way (new, or keep-alive after an answer) is closed after idle_seconds;
//  - at most max_connections connections, and max_connections_per_client from
//    one address: beyond that the oldest connection of that address (or of
//    all, for the total) that is not being answered is closed to make room;
//  - at most max_headers header lines and max_header_bytes of request line and
//    headers (431; 414 for a request line alone longer than that);
//  - Content-Length must be one plain decimal number (400 otherwise, and for
//    two Content-Length headers or Content-Length with Transfer-Encoding);
//    larger than max_body_bytes: 413 before the body is read; chunked bodies
//    are decoded as they arrive and cut at max_body_bytes (413);
//  - compressed request bodies (Content-Encoding) are refused (415);
//  - Host must name this server (421 otherwise): bound to loopback,
//    localhost / 127.0.0.1 / [::1] with the port; bound to another name, that
//    name; bound to every interface (0.0.0.0, ::), any address of this machine
//    the connection came in on, or its host name. An Origin header other than
//    the server's own ("http://" + Host) is refused with 403, whatever the
//    method and content type (CSRF, DNS rebinding).
// A complete request goes to one of `threads` workers, which calls the service
// (that batches predictions, service.cpp) and writes the answer; the
// connection then returns to the poll loop, so pipelined requests are answered
// in order. Other methods on existing paths answer 405 with Allow. stop()
// shuts every connection down, so run() returns within a second even with
// clients that never read.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/log.hpp"
#include "serve/service.hpp"

namespace hpcnn::serve {

struct HttpConfig {
  std::string host = "127.0.0.1";  ///< localhost only unless asked
  int port = 8080;                 ///< 0: any free port (see port())
  int threads = 16;                ///< requests answered at once (a waiting connection holds none)
  int64_t max_body_bytes = 4 << 20;
  int timeout_seconds = 10;  ///< for a whole request (headers and body), and for writing an answer
  int idle_seconds = 5;      ///< a connection with no request under way is closed after this
  int max_connections = 512;
  int max_connections_per_client = 64;
  int max_headers = 100;
  int64_t max_header_bytes = 16 << 10;
};

/// True for addresses that only this machine can reach (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

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
  /// Thread-safe and async-signal-safe; run() returns soon after.
  void stop();

  struct Impl;

 private:
  HttpConfig config_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace hpcnn::serve
