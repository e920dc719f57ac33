// The HTTP/1.1 server of `hpcnn serve`: poll loop, parser, limits, workers
// (see http_server.hpp for what it bounds and why it is not cpp-httplib).
#include "serve/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace hpcnn::serve {

namespace {
using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string serialize(const Reply& reply, bool keep_alive, bool head, const std::string& allow = "") {
  std::string out = cat("HTTP/1.1 ", reply.status, " ", reason(reply.status), "\r\n");
  out += "Content-Type: " + reply.content_type + "\r\n";
  out += cat("Content-Length: ", reply.body.size(), "\r\n");
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  if (!allow.empty()) out += "Allow: " + allow + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!head) out += reply.body;
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

QueryParams parse_query(std::string_view q) {
  QueryParams params;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    params.emplace(percent_decode(item.substr(0, eq)),
                   eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1)));
  }
  return params;
}

/// The textual numeric address of a socket's peer or local end (IPv4-mapped IPv6 as IPv4).
std::string address_text(const sockaddr_storage& sa, socklen_t len) {
  char host[NI_MAXHOST] = {0};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&sa), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
    return "?";
  std::string text = host;
  if (text.rfind("::ffff:", 0) == 0 && text.find('.') != std::string::npos) text = text.substr(7);
  return text;
}

struct Request {
  std::string method, path, query, version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  bool keep_alive = true;

  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

/// A refusal found while reading a request: answered by the poll loop, then the connection closes.
struct Refusal {
  int status;
  std::string message;
  std::string allow;
  bool keep = false;  ///< a request without a body: the connection can go on after the answer
};

enum class Phase { kIdle, kHeaders, kBody, kChunked, kBusy, kDraining };

struct Conn {
  int fd = -1;
  std::string peer;   ///< numeric address of the client
  std::string local;  ///< numeric address it came in on
  uint64_t serial = 0;
  Phase phase = Phase::kIdle;
  Clock::time_point deadline;
  std::string buf;  ///< received, not yet consumed
  Request req;
  int64_t body_left = 0;  ///< kBody: bytes still to come; kChunked: bytes of the current chunk still to come
  int chunk_state = 0;    ///< kChunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers
  int64_t trailer_bytes = 0;
};

struct Job {
  uint64_t serial;
  int fd;
  std::string peer;
  Request req;
};
}  // namespace

bool is_loopback_host(const std::string& host) {
  const std::string h = lower(host);
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return false;
}

struct HttpServer::Impl {
  const PredictService& service;
  HttpConfig config;
  Logger log;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  int port = 0;
  std::atomic<bool> stopping{false};
  std::string hostname;

  // Worker hand-off: jobs out, finished connections (serial, keep open?) back.
  std::mutex mutex;
  std::condition_variable jobs_ready;
  std::deque<Job> jobs;
  std::vector<std::pair<uint64_t, bool>> done;

  std::map<uint64_t, Conn> conns;
  uint64_t next_serial = 1;
  Clock::time_point accept_paused_until;

  Impl(const PredictService& s, HttpConfig c, const Logger& l) : service(s), config(std::move(c)), log(l) {}

  ~Impl() {
    for (auto& [serial, c] : conns) close(c.fd);
    if (listen_fd >= 0) close(listen_fd);
    if (wake[0] >= 0) close(wake[0]);
    if (wake[1] >= 0) close(wake[1]);
  }

  // ---- Host and Origin ----
  bool host_allowed(const std::string& value, const Conn& c) const {
    std::string name, port_text;
    if (!value.empty() && value[0] == '[') {
      const size_t close_bracket = value.find(']');
      if (close_bracket == std::string::npos) return false;
      name = value.substr(1, close_bracket - 1);
      const std::string rest = value.substr(close_bracket + 1);
      if (!rest.empty()) {
        if (rest[0] != ':') return false;
        port_text = rest.substr(1);
      }
    } else {
      const size_t colon = value.find(':');
      name = value.substr(0, colon);
      if (colon != std::string::npos) {
        port_text = value.substr(colon + 1);
        if (port_text.find(':') != std::string::npos) return false;
      }
    }
    if (port_text.empty() ? port != 80 : port_text != std::to_string(port)) return false;
    name = lower(name);
    const std::string bound = lower(config.host);
    if (name == bound) return true;
    const bool wildcard = bound == "0.0.0.0" || bound == "::" || bound == "[::]";
    if (is_loopback_host(bound) || wildcard) {
      if (name == "localhost" || name == "127.0.0.1" || name == "::1") return true;
    }
    if (wildcard) return name == lower(c.local) || (!hostname.empty() && name == lower(hostname));
    return false;
  }

  // ---- answering from the poll loop ----
  /// Answers a refusal; returns true when the connection goes on (the next request may follow).
  bool refuse(Conn& c, const Refusal& r) {
    log.debug(cat(c.peer, " refused: ", r.status, " ", r.message));
    if (r.keep) {
      const std::string out = serialize(error_reply(r.status, r.message), true, c.req.method == "HEAD", r.allow);
      const ssize_t n = send(c.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(out.size())) {
        start_idle(c);
        return true;
      }
      if (n > 0) {  // only part of it fit the socket buffer: close after what was sent
        shutdown(c.fd, SHUT_WR);
        c.phase = Phase::kDraining;
        c.buf.clear();
        c.deadline = Clock::now() + std::chrono::seconds(1);
        return false;
      }
    }
    const std::string out = serialize(error_reply(r.status, r.message), false, false, r.allow);
    // Best effort, never blocking: an answer this small fits the socket buffer.
    (void)send(c.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c.fd, SHUT_WR);
    // Read and drop what the client still sends for a moment, so that closing
    // with unread data (a TCP reset) does not destroy the answer before it is read.
    c.phase = Phase::kDraining;
    c.buf.clear();
    c.deadline = Clock::now() + std::chrono::seconds(1);
    return false;
  }

  void start_idle(Conn& c) {
    c.phase = Phase::kIdle;
    c.req = Request{};
    c.deadline = Clock::now() + std::chrono::seconds(config.idle_seconds);
  }

  void dispatch(Conn& c) {
    c.phase = Phase::kBusy;
    {
      std::lock_guard<std::mutex> lock(mutex);
      jobs.push_back(Job{c.serial, c.fd, c.peer, std::move(c.req)});
    }
    jobs_ready.notify_one();
    c.req = Request{};
  }

  /// Parses the request line and headers (text without the final CRLF CRLF); checks them.
  std::optional<Refusal> parse_head(Conn& c, std::string_view head) {
    Request& r = c.req;
    size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
      return Refusal{400, "malformed HTTP request line", ""};
    r.method = std::string(line.substr(0, sp1));
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    r.version = std::string(line.substr(sp2 + 1));
    if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), is_token_char))
      return Refusal{400, "malformed HTTP method", ""};
    if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") {
      if (r.version.rfind("HTTP/", 0) == 0) return Refusal{505, "only HTTP/1.0 and HTTP/1.1 are served", ""};
      return Refusal{400, "malformed HTTP request line", ""};
    }
    if (target.empty() || target[0] != '/') return Refusal{400, "request target must be a path", ""};
    const size_t qmark = target.find('?');
    r.path = std::string(target.substr(0, qmark));
    r.query = qmark == std::string_view::npos ? "" : std::string(target.substr(qmark + 1));

    int count = 0;
    int content_lengths = 0;
    while (!head.empty()) {
      eol = head.find("\r\n");
      const std::string_view h = head.substr(0, eol);
      head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
      if (++count > config.max_headers) return Refusal{431, cat("more than ", config.max_headers, " header lines"), ""};
      if (h.empty() || h[0] == ' ' || h[0] == '\t') return Refusal{400, "malformed header line (folded)", ""};
      const size_t colon = h.find(':');
      if (colon == std::string_view::npos || colon == 0) return Refusal{400, "malformed header line", ""};
      const std::string name = lower(std::string(h.substr(0, colon)));
      if (!std::all_of(name.begin(), name.end(), is_token_char)) return Refusal{400, "malformed header name", ""};
      if (name == "content-length") ++content_lengths;
      r.headers.emplace_back(name, trim(h.substr(colon + 1)));
    }

    const std::string connection = lower(r.header("connection"));
    r.keep_alive = r.version == "HTTP/1.1" ? connection.find("close") == std::string::npos
                                           : connection.find("keep-alive") != std::string::npos;
    // Host and Origin first: a request meant for another site gets nothing else.
    bool has_host = false;
    for (const auto& [k, v] : r.headers) {
      if (k != "host") continue;
      if (has_host) return Refusal{400, "two Host headers", ""};
      has_host = true;
    }
    if (!has_host && r.version == "HTTP/1.1") return Refusal{400, "no Host header (HTTP/1.1 requires one)", ""};
    const std::string host = r.header("host");
    if (has_host && !host_allowed(host, c))
      return Refusal{
          421, "Host '" + host + "' does not name this server (" + config.host + ":" + std::to_string(port) + ")", ""};
    for (const auto& [k, v] : r.headers) {
      if (k == "origin" && (!has_host || lower(v) != "http://" + lower(host)))
        return Refusal{403, "cross-origin requests are refused (Origin: " + v + ")", ""};
    }

    // Refusals of a request without a body keep the connection (pipelined requests go on).
    const bool bodyless =
        r.header("transfer-encoding").empty() && (content_lengths == 0 || r.header("content-length") == "0");
    const bool keep = bodyless && r.keep_alive;
    std::string allow;
    if (r.path == "/" || r.path == "/info" || r.path.starts_with("/katex/")) allow = "GET, HEAD";
    if (r.path == "/predict" || r.path == "/transcribe") allow = "POST";
    if (allow.empty()) return Refusal{404, "no such page: " + r.method + " " + r.path, "", keep};
    if (r.method == "HEAD" ? allow == "POST" : allow.find(r.method) == std::string::npos)
      return Refusal{405, "method " + r.method + " is not allowed on " + r.path + " (allowed: " + allow + ")", allow,
                     keep};

    const std::string encoding = lower(r.header("content-encoding"));
    if (!encoding.empty() && encoding != "identity")
      return Refusal{415, "compressed request bodies (Content-Encoding: " + encoding + ") are not accepted", ""};

    const std::string te = lower(r.header("transfer-encoding"));
    if (content_lengths > 1) return Refusal{400, "more than one Content-Length header", ""};
    if (!te.empty() && content_lengths > 0) return Refusal{400, "both Content-Length and Transfer-Encoding given", ""};
    if (!te.empty() && te != "chunked") return Refusal{501, "Transfer-Encoding '" + te + "' is not supported", ""};
    const bool expect_continue = lower(r.header("expect")) == "100-continue";
    if (te == "chunked") {
      c.phase = Phase::kChunked;
      c.chunk_state = 0;
      c.trailer_bytes = 0;
    } else {
      int64_t length = 0;
      if (content_lengths == 1) {
        const std::string text = r.header("content-length");
        if (text.empty() || text.size() > 18 ||
            !std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
          return Refusal{400, "Content-Length '" + text + "' is not a number of bytes", ""};
        length = std::stoll(text);
      }
      if (length > config.max_body_bytes)
        return Refusal{413, cat("request body larger than the limit of ", config.max_body_bytes, " bytes"), ""};
      c.phase = Phase::kBody;
      c.body_left = length;
    }
    if (expect_continue && (c.phase == Phase::kChunked || c.body_left > 0)) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    return std::nullopt;
  }

  /// Decodes what has arrived of a chunked body; true when the body is complete.
  std::optional<Refusal> decode_chunks(Conn& c, bool& complete) {
    complete = false;
    size_t pos = 0;
    std::string& b = c.buf;
    while (true) {
      if (c.chunk_state == 0 || c.chunk_state == 3) {
        const size_t eol = b.find("\r\n", pos);
        if (eol == std::string::npos) {
          if (b.size() - pos > 1024) return Refusal{400, "malformed chunked body (line too long)", ""};
          break;
        }
        const std::string_view line(b.data() + pos, eol - pos);
        pos = eol + 2;
        if (c.chunk_state == 3) {
          c.trailer_bytes += static_cast<int64_t>(line.size()) + 2;
          if (c.trailer_bytes > config.max_header_bytes) return Refusal{431, "chunked trailers too long", ""};
          if (line.empty()) {
            complete = true;
            break;
          }
          continue;
        }
        const std::string_view digits = line.substr(0, line.find(';'));
        int64_t size = 0;
        if (digits.empty() || digits.size() > 15) return Refusal{400, "malformed chunk size", ""};
        for (char ch : digits) {
          const int v = hex_value(ch);
          if (v < 0) return Refusal{400, "malformed chunk size", ""};
          size = size * 16 + v;
        }
        if (static_cast<int64_t>(c.req.body.size()) + size > config.max_body_bytes)
          return Refusal{413, cat("request body larger than the limit of ", config.max_body_bytes, " bytes"), ""};
        c.body_left = size;
        c.chunk_state = size == 0 ? 3 : 1;
      } else if (c.chunk_state == 1) {
        const size_t take = std::min(static_cast<size_t>(c.body_left), b.size() - pos);
        c.req.body.append(b, pos, take);
        pos += take;
        c.body_left -= static_cast<int64_t>(take);
        if (c.body_left > 0) break;
        c.chunk_state = 2;
      } else {
        if (b.size() - pos < 2) break;
        if (b.compare(pos, 2, "\r\n") != 0) return Refusal{400, "malformed chunked body (no CRLF after data)", ""};
        pos += 2;
        c.chunk_state = 0;
      }
    }
    b.erase(0, pos);
    return std::nullopt;
  }

  /// Advances a connection over what it has received; dispatches a complete request.
  void process(Conn& c) {
    while (c.phase == Phase::kIdle || c.phase == Phase::kHeaders || c.phase == Phase::kBody ||
           c.phase == Phase::kChunked) {
      if (c.phase == Phase::kIdle) {
        // Empty lines before a request are allowed (RFC 9112 2.2).
        size_t skip = 0;
        while (skip + 1 < c.buf.size() && c.buf.compare(skip, 2, "\r\n") == 0) skip += 2;
        c.buf.erase(0, skip);
        if (c.buf.empty()) return;
        c.phase = Phase::kHeaders;
        c.deadline = Clock::now() + std::chrono::seconds(config.timeout_seconds);
      }
      if (c.phase == Phase::kHeaders) {
        const size_t end = c.buf.find("\r\n\r\n");
        const auto max = static_cast<size_t>(config.max_header_bytes);
        if (end == std::string::npos ? c.buf.size() > max : end + 4 > max) {
          const bool line_alone = c.buf.find("\r\n") == std::string::npos || c.buf.find("\r\n") > max;
          refuse(c, line_alone ? Refusal{414, "request line too long", ""}
                               : Refusal{431, cat("request headers larger than ", max, " bytes"), ""});
          return;
        }
        if (end == std::string::npos) return;
        const std::string head = c.buf.substr(0, end);
        c.buf.erase(0, end + 4);
        if (auto refusal = parse_head(c, head)) {
          if (!refuse(c, *refusal)) return;
        }
        continue;
      }
      if (c.phase == Phase::kBody) {
        const size_t take = std::min(static_cast<size_t>(c.body_left), c.buf.size());
        c.req.body.append(c.buf, 0, take);
        c.buf.erase(0, take);
        c.body_left -= static_cast<int64_t>(take);
        if (c.body_left > 0) return;
        return dispatch(c);
      }
      bool complete = false;
      if (auto refusal = decode_chunks(c, complete)) {
        refuse(c, *refusal);
        return;
      }
      if (!complete) return;
      return dispatch(c);
    }
  }

  void close_conn(uint64_t serial) {
    const auto it = conns.find(serial);
    if (it == conns.end()) return;
    close(it->second.fd);
    conns.erase(it);
  }

  /// Makes room for a new connection from `peer`: closes the oldest waiting one
  /// (of that client, or of all), or returns false when every one is being answered.
  bool make_room(const std::string& peer) {
    int from_peer = 0;
    for (const auto& [s, c] : conns) from_peer += c.peer == peer ? 1 : 0;
    const auto evict = [&](bool same_peer) {
      for (const auto& [s, c] : conns) {  // ascending serial: oldest first
        if (c.phase == Phase::kBusy || (same_peer && c.peer != peer)) continue;
        log.debug(cat(c.peer, ": connection closed to make room (connection limit)"));
        close_conn(s);
        return true;
      }
      return false;
    };
    if (from_peer >= config.max_connections_per_client && !evict(true)) return false;
    if (static_cast<int>(conns.size()) >= config.max_connections && !evict(false)) return false;
    return true;
  }

  void accept_all() {
    while (true) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors: the pending connection stays queued and the listening
        // socket stays readable, so stop polling it for a moment instead of spinning.
        if (errno == EMFILE || errno == ENFILE) accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
        return;  // EAGAIN, or a connection that went away (ECONNABORTED)
      }
      const std::string peer = address_text(sa, len);
      if (!make_room(peer)) {
        close(fd);
        continue;
      }
      const int yes = 1;
      // The answer goes out in one send(); without TCP_NODELAY a pipelined second
      // answer can wait for the client's delayed ACK (~40 ms).
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      sockaddr_storage local{};
      socklen_t local_len = sizeof local;
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
      Conn c;
      c.fd = fd;
      c.peer = peer;
      c.local = address_text(local, local_len);
      c.serial = next_serial++;
      start_idle(c);
      conns.emplace(c.serial, std::move(c));
    }
  }

  // ---- workers ----
  Reply answer(const Request& r) {
    try {
      if (r.path == "/") return service.page();
      if (r.path == "/info") return service.info();
      if (r.path.starts_with("/katex/")) return service.asset(r.path);
      if (r.path == "/transcribe") return service.transcribe(r.body, r.header("content-type"), parse_query(r.query));
      return service.predict(r.body, r.header("content-type"), parse_query(r.query));
    } catch (const std::exception& e) {
      return error_reply(500, std::string("internal error: ") + e.what());
    }
  }

  /// Writes all of `data` within the timeout; false when the client stopped reading or went away.
  bool write_all(int fd, const std::string& data) {
    const auto deadline = Clock::now() + std::chrono::seconds(config.timeout_seconds);
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || stopping) return false;
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 200)));
    }
    return true;
  }

  void worker() {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        jobs_ready.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (stopping) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      const Reply reply = answer(job.req);
      log.debug(cat(job.peer, " ", job.req.method, " ", job.req.path, " -> ", reply.status));
      const bool ok = write_all(job.fd, serialize(reply, job.req.keep_alive, job.req.method == "HEAD"));
      {
        std::lock_guard<std::mutex> lock(mutex);
        done.emplace_back(job.serial, ok && job.req.keep_alive);
      }
      const char x = 'w';
      (void)!write(wake[1], &x, 1);
    }
  }

  // ---- the poll loop ----
  void run() {
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(config.threads));
    for (int i = 0; i < config.threads; ++i) workers.emplace_back([this] { worker(); });
    std::string error;
    std::vector<pollfd> fds;
    std::vector<uint64_t> serials;
    std::vector<char> scratch(64 << 10);
    while (!stopping) {
      const bool accepting = Clock::now() >= accept_paused_until;
      fds.assign({pollfd{wake[0], POLLIN, 0}, pollfd{listen_fd, static_cast<short>(accepting ? POLLIN : 0), 0}});
      serials.clear();
      auto next = Clock::now() + std::chrono::seconds(1);
      for (const auto& [s, c] : conns) {
        if (c.phase == Phase::kBusy) continue;
        fds.push_back(pollfd{c.fd, POLLIN, 0});
        serials.push_back(s);
        next = std::min(next, c.deadline);
      }
      const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
      if (poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait_ms + 1, 0, 1000))) < 0) {
        if (errno == EINTR) continue;
        error = std::strerror(errno);
        break;
      }
      if (fds[0].revents != 0) {
        char drain[256];
        while (read(wake[0], drain, sizeof drain) > 0) {
        }
        std::vector<std::pair<uint64_t, bool>> finished;
        {
          std::lock_guard<std::mutex> lock(mutex);
          finished.swap(done);
        }
        for (const auto& [serial, keep] : finished) {
          const auto it = conns.find(serial);
          if (it == conns.end()) continue;
          if (!keep) {
            close_conn(serial);
            continue;
          }
          start_idle(it->second);
          process(it->second);  // a pipelined request may already be here
        }
      }
      if (stopping) break;
      if ((fds[1].revents & (POLLERR | POLLNVAL)) != 0) {
        error = "listening socket failed";
        break;
      }
      if ((fds[1].revents & POLLIN) != 0) accept_all();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const auto it = conns.find(serials[i - 2]);
        if (it == conns.end()) continue;
        Conn& c = it->second;
        const ssize_t n = recv(c.fd, scratch.data(), scratch.size(), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          close_conn(c.serial);
          continue;
        }
        if (n < 0 || c.phase == Phase::kDraining) continue;
        c.buf.append(scratch.data(), static_cast<size_t>(n));
        process(c);
      }
      const auto now = Clock::now();
      std::vector<uint64_t> expired;
      for (auto& [s, c] : conns) {
        if (c.phase == Phase::kBusy || c.deadline > now) continue;
        if (c.phase == Phase::kHeaders || c.phase == Phase::kBody || c.phase == Phase::kChunked) {
          refuse(c, Refusal{408, cat("request not received within ", config.timeout_seconds, " s"), ""});
        } else {
          expired.push_back(s);
        }
      }
      for (const uint64_t s : expired) close_conn(s);
    }
    // Stop: wake the workers, cut every connection (a worker writing to a client
    // that does not read gets an error at once), then close them all.
    {
      std::lock_guard<std::mutex> lock(mutex);  // a worker between its check and its wait must not miss this
      stopping = true;
    }
    jobs_ready.notify_all();
    for (auto& [s, c] : conns) shutdown(c.fd, SHUT_RDWR);
    for (std::thread& t : workers) t.join();
    for (auto& [s, c] : conns) close(c.fd);
    conns.clear();
    HPCNN_CHECK(error.empty(), "http server stopped with an error: ", error);
  }
};

HttpServer::HttpServer(const PredictService& service, HttpConfig config, const Logger& log)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(service, config_, log)) {
  HPCNN_CHECK(config_.threads >= 1, "http: threads must be positive");
  Impl& s = *impl_;
  HPCNN_CHECK(pipe2(s.wake, O_NONBLOCK | O_CLOEXEC) == 0, "http: pipe: ", std::strerror(errno));
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) == 0) s.hostname = name;

  std::string host = config_.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(config_.port);
  const int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
  HPCNN_CHECK(rc == 0, "cannot listen on ", config_.host, ":", config_.port, ": ", gai_strerror(rc));
  std::string why;
  for (addrinfo* a = found; a != nullptr && s.listen_fd < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only, never SO_REUSEPORT: that would let a second server bind
    // the same port and silently take half the connections.
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
      s.listen_fd = fd;
    } else {
      why = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  HPCNN_CHECK(s.listen_fd >= 0, "cannot listen on ", config_.host, ":", config_.port, ": ", why,
              " (address in use, or not an address of this machine?)");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s.port = port_;
}

HttpServer::~HttpServer() = default;

std::string HttpServer::url() const {
  const bool ipv6 = config_.host.find(':') != std::string::npos && config_.host.front() != '[';
  return cat("http://", ipv6 ? "[" : "", config_.host, ipv6 ? "]" : "", ":", port_, "/");
}

void HttpServer::run() { impl_->run(); }

void HttpServer::stop() {
  impl_->stopping = true;
  const char x = 's';
  (void)!write(impl_->wake[1], &x, 1);
}

}  // namespace hpcnn::serve
