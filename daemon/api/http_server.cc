#include "daemon/api/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <unordered_set>

namespace omnigate::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

Response errorResponse(unsigned status, std::string_view code, std::string_view message,
                       unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  boost::json::object error{{"code", code}, {"message", message}};
  res.body() = boost::json::serialize(boost::json::object{{"error", std::move(error)}});
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

namespace {

std::string lowerCase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The host part of a Host header or URL authority, lower case, without port or trailing dot;
// IPv6 literals keep their brackets. Empty when it is malformed.
std::string hostOnly(std::string_view authority) {
  std::string host;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return "";
    auto rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return "";
    host = lowerCase(authority.substr(0, close + 1));
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return "";  // an IPv6 address must be bracketed
    }
    host = lowerCase(authority.substr(0, colon));
    if (!host.empty() && host.back() == '.') host.pop_back();
  }
  return host;
}

bool isLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return false;
}

// The request path without query, for deciding which checks apply.
std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

bool isHealthPath(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

}  // namespace

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void closeIfIdle() = 0;
};

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(asio::io_context& io, const config::ServerConfig& config, Handler handler)
      : io_(io),
        config_(config),
        handler_(std::move(handler)),
        tcp_acceptor_(io),
        unix_acceptor_(io) {}

  Status listen();
  void stopAccepting();

  template <class Acceptor>
  void accept(Acceptor& acceptor);
  bool adoptSystemdSockets(Status& status);
  void rememberListenHost();

  // Why a request must be refused before its body is read, as a response; nullopt to serve it.
  std::optional<Response> screen(const Request& request, bool unix_socket) const;
  // An error response sent by this layer, counted in refusals_.
  Response refuse(unsigned status, std::string_view code, std::string_view message) const {
    ++refusals_[{status, std::string(code)}];
    return errorResponse(status, code, message, 11, false);
  }
  bool hostAllowed(std::string_view host_header, bool callback) const;

  asio::io_context& io_;
  config::ServerConfig config_;
  Handler handler_;
  tcp::acceptor tcp_acceptor_;
  local::acceptor unix_acceptor_;
  std::uint16_t tcp_port_ = 0;
  bool accepting_ = false;
  std::unordered_set<SessionBase*> sessions_;
  std::size_t pending_ = 0;   // requests whose headers were admitted and not yet answered
  std::size_t refusing_ = 0;  // connections being told 503 and closed
  mutable HttpServer::Refusals refusals_;
  bool unix_from_systemd_ = false;
  std::vector<std::string> listen_hosts_;  // the address(es) the TCP listener is bound to
  std::string public_host_;                // host of server.public_url
};

namespace {

// A canned 503 for a connection over max_connections: written, then the connection is closed
// after the peer had a moment to read it (closing with unread input would reset it first).
template <class Protocol>
void refuseConnection(typename Protocol::socket socket, std::shared_ptr<HttpServer::Impl> server) {
  static const std::string kResponse = [] {
    std::string body =
        R"({"error":{"code":"overloaded","message":"too many connections; retry shortly"}})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  struct Refusal {
    beast::basic_stream<Protocol> stream;
    std::shared_ptr<HttpServer::Impl> server;
    char sink[1024];
    Refusal(typename Protocol::socket s, std::shared_ptr<HttpServer::Impl> srv)
        : stream(std::move(s)), server(std::move(srv)) {
      ++server->refusing_;
    }
    ~Refusal() { --server->refusing_; }
    static void drain(std::shared_ptr<Refusal> self) {
      self->stream.async_read_some(asio::buffer(self->sink),
                                   [self](beast::error_code ec, std::size_t) {
                                     if (!ec) return drain(self);
                                     beast::error_code ignored;
                                     self->stream.socket().close(ignored);
                                   });
    }
  };
  // Each refusal holds a socket and a 1 KiB buffer for at most a second; bounded separately from
  // max_connections so that a small connection limit still answers a burst with 503s.
  constexpr std::size_t kMaxRefusals = 1024;
  if (server->refusing_ >= kMaxRefusals) {
    beast::error_code ignored;
    socket.close(ignored);  // even refusals are bounded
    return;
  }
  ++server->refusals_[{503, "overloaded"}];
  auto refusal = std::make_shared<Refusal>(std::move(socket), std::move(server));
  refusal->stream.expires_after(std::chrono::seconds(1));
  asio::async_write(refusal->stream, asio::buffer(kResponse),
                    [refusal](beast::error_code ec, std::size_t) {
                      beast::error_code ignored;
                      if (ec) return refusal->stream.socket().close(ignored);
                      refusal->stream.socket().shutdown(Protocol::socket::shutdown_send, ignored);
                      Refusal::drain(refusal);
                    });
}

}  // namespace

bool HttpServer::Impl::hostAllowed(std::string_view host_header, bool callback) const {
  std::string host = hostOnly(trim(host_header));
  if (host.empty()) return false;
  if (isLoopbackHost(host)) return true;
  if (std::find(listen_hosts_.begin(), listen_hosts_.end(), host) != listen_hosts_.end()) {
    return true;
  }
  const auto& allowed = config_.allowed_hosts;
  if (std::find(allowed.begin(), allowed.end(), host) != allowed.end()) return true;
  return callback && !public_host_.empty() && host == public_host_;
}

std::optional<Response> HttpServer::Impl::screen(const Request& request, bool unix_socket) const {
  // Request smuggling: a body length two parties could read differently is refused outright.
  std::size_t transfer_encodings = 0;
  std::optional<std::string> content_length;
  bool bad_framing = false;
  for (const auto& field : request) {
    if (field.name() == http::field::transfer_encoding) {
      ++transfer_encodings;
      if (lowerCase(trim(field.value())) != "chunked") bad_framing = true;
    } else if (field.name() == http::field::content_length) {
      std::string value(trim(field.value()));
      if (content_length && *content_length != value) bad_framing = true;
      content_length = value;
    }
  }
  if (transfer_encodings > 1 || (transfer_encodings && content_length)) bad_framing = true;
  if (bad_framing) {
    return refuse(400, "bad_request",
                  "ambiguous message framing: Transfer-Encoding must be exactly 'chunked' and "
                  "cannot be combined with Content-Length");
  }
  const std::string_view path = pathOf(request.target());
  // DNS rebinding: a browser tricked into calling us sends the attacker's name as Host, and
  // any cross-site page sends its Origin. Neither reaches the Unix socket.
  if (!unix_socket) {
    auto host = request.find(http::field::host);
    if (host != request.end() &&
        !hostAllowed(host->value(), path.rfind("/v1/callbacks/", 0) == 0)) {
      return refuse(403, "forbidden_host",
                    "Host '" + std::string(host->value()) +
                        "' is not a name of this server (see server.allowed_hosts)");
    }
    auto origin = request.find(http::field::origin);
    if (origin != request.end()) {
      std::string value = lowerCase(trim(origin->value()));
      while (!value.empty() && value.back() == '/') value.pop_back();
      const auto& allowed = config_.allowed_origins;
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return refuse(403, "forbidden_origin",
                      "Origin '" + std::string(origin->value()) +
                          "' is not allowed (see server.allowed_origins)");
      }
    }
  }
  if (!isHealthPath(path) && pending_ >= config_.max_pending) {
    auto res = refuse(503, "overloaded", "too many requests in progress; retry shortly");
    res.set(http::field::retry_after, "1");
    return res;
  }
  return std::nullopt;
}

namespace {

template <class Protocol>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;

  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->sessions_.insert(this);
  }
  ~Session() override {
    releaseSlot();
    server_->sessions_.erase(this);
  }

  void start() { waitForRequest(); }

  void closeIfIdle() override {
    if (idle_) {
      beast::error_code ignored;
      stream_.socket().shutdown(Protocol::socket::shutdown_both, ignored);
      stream_.cancel();
    }
  }

 private:
  // Between requests a connection may stay idle for idle_timeout; once a request starts, the
  // whole of it must arrive within read_timeout.
  void waitForRequest() {
    if (buffer_.size() > 0) return readRequest();
    if (!server_->accepting_) return close();
    idle_ = true;
    stream_.expires_after(server_->config_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->readRequest();
                            });
  }

  void readRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->config_.max_header_bytes));
    parser_->body_limit(server_->config_.max_body_bytes);
    stream_.expires_after(server_->config_.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->onHeader(ec);
                            });
  }

  // The header block is in: refuse what must not be served before reading (and buffering) the
  // body, and take an admission slot for the rest.
  void onHeader(beast::error_code ec) {
    if (ec) return onRead(ec);
    if (auto refusal = server_->screen(parser_->get(), kUnix)) {
      return replyAndClose(std::move(*refusal));
    }
    if (!isHealthPath(pathOf(parser_->get().target()))) {
      holding_slot_ = true;
      ++server_->pending_;
    }
    if (parser_->is_done()) return onRead({});
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void releaseSlot() {
    if (holding_slot_) {
      holding_slot_ = false;
      --server_->pending_;
    }
  }

  void onRead(beast::error_code ec) {
    if (ec) releaseSlot();
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return replyAndClose(server_->refuse(413, "payload_too_large",
                                           "the request body exceeds " +
                                               std::to_string(server_->config_.max_body_bytes) +
                                               " bytes"));
    }
    if (ec == http::error::header_limit) {
      return replyAndClose(server_->refuse(431, "headers_too_large",
                                           "the request headers exceed " +
                                               std::to_string(server_->config_.max_header_bytes) +
                                               " bytes"));
    }
    if (ec) {
      return replyAndClose(
          server_->refuse(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    stream_.expires_never();
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    auto version = request.version();
    server_->handler_(std::move(request), [self = this->shared_from_this(), version](Response res) {
      self->releaseSlot();
      res.version(version);
      res.keep_alive(self->keep_alive_ && res.keep_alive() && self->server_->accepting_);
      self->write(std::move(res));
    });
  }

  void write(Response res) {
    auto response = std::make_shared<Response>(std::move(res));
    stream_.expires_after(server_->config_.read_timeout);  // slow readers are cut off too
    http::async_write(
        stream_, *response,
        [self = this->shared_from_this(), response](beast::error_code ec, std::size_t) {
          if (ec) return self->close();
          if (!response->keep_alive()) return self->lingerThenClose();
          self->waitForRequest();
        });
  }

  // A refusal may be written before the client finished sending its body (403, 413, 503
  // overloaded). Closing with unread input would make the kernel reset the connection, and the
  // client would see a broken pipe instead of the answer: stop sending, read and discard what
  // still comes for a bounded time and amount, then close.
  void lingerThenClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ignored);
    stream_.expires_after(kLinger);
    discardInput(0);
  }

  void discardInput(std::size_t so_far) {
    stream_.async_read_some(asio::buffer(discard_), [self = this->shared_from_this(), so_far](
                                                        beast::error_code ec, std::size_t n) {
      if (!ec && so_far + n < self->server_->config_.max_body_bytes + kLingerSlack) {
        return self->discardInput(so_far + n);
      }
      self->stream_.close();
    });
  }

  void replyAndClose(Response res) {
    res.keep_alive(false);
    write(std::move(res));
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ignored);
    stream_.close();
  }

  Stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool idle_ = false;
  bool holding_slot_ = false;
  std::array<char, 4096> discard_;
  static constexpr bool kUnix = std::is_same_v<Protocol, local>;
  static constexpr auto kLinger = std::chrono::seconds(2);
  static constexpr std::size_t kLingerSlack = 64 * 1024;
};

}  // namespace

template <class Acceptor>
void HttpServer::Impl::accept(Acceptor& acceptor) {
  using Protocol = typename Acceptor::protocol_type;
  acceptor.async_accept([self = shared_from_this(), &acceptor](beast::error_code ec,
                                                               typename Protocol::socket socket) {
    if (!self->accepting_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        spdlog::warn("api: accept failed: {}", ec.message());
      }
    } else if (self->sessions_.size() >= self->config_.max_connections) {
      // Over the limit: refuse early rather than degrade everyone.
      refuseConnection<Protocol>(std::move(socket), self);
    } else {
      std::make_shared<Session<Protocol>>(std::move(socket), self)->start();
    }
    if (ec == asio::error::operation_aborted) return;
    self->accept(acceptor);
  });
}

// systemd socket activation (sd_listen_fds). Returns false when not activated; then the
// configured addresses are bound instead.
bool HttpServer::Impl::adoptSystemdSockets(Status& status) {
  // Unsets LISTEN_* (children must not take the sockets too) and marks them close-on-exec.
  const int count = sd_listen_fds(1);
  if (count <= 0) return false;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      spdlog::warn("api: socket activation fd {} is not a stream socket; ignored", fd);
      continue;
    }
    beast::error_code ec;
    if (address.ss_family == AF_INET || address.ss_family == AF_INET6) {
      if (tcp_acceptor_.is_open()) {
        spdlog::warn("api: socket activation passed more than one TCP socket; fd {} ignored", fd);
        continue;
      }
      tcp_acceptor_.assign(address.ss_family == AF_INET ? tcp::v4() : tcp::v6(), fd, ec);
      if (ec) {
        status = makeError(
            "listen", "cannot use socket-activated fd " + std::to_string(fd) + ": " + ec.message());
        return true;
      }
      auto endpoint = tcp_acceptor_.local_endpoint(ec);
      tcp_port_ = endpoint.port();
      accept(tcp_acceptor_);
      spdlog::info("api listening on {}:{} (socket activation, fd {})",
                   endpoint.address().to_string(), tcp_port_, fd);
    } else if (address.ss_family == AF_UNIX) {
      if (unix_acceptor_.is_open()) {
        spdlog::warn("api: socket activation passed more than one Unix socket; fd {} ignored", fd);
        continue;
      }
      unix_acceptor_.assign(local(), fd, ec);
      if (ec) {
        status = makeError(
            "listen", "cannot use socket-activated fd " + std::to_string(fd) + ": " + ec.message());
        return true;
      }
      unix_from_systemd_ = true;
      accept(unix_acceptor_);
      spdlog::info("api listening on unix:{} (socket activation, fd {})",
                   unix_acceptor_.local_endpoint(ec).path(), fd);
    } else {
      spdlog::warn("api: socket activation fd {} has address family {}; ignored", fd,
                   static_cast<int>(address.ss_family));
    }
  }
  if (!tcp_acceptor_.is_open() && !unix_acceptor_.is_open()) {
    status = makeError("listen", "socket activation passed no usable listening socket");
  }
  return true;
}

// The Host names the TCP listener answers to besides loopback: its own address when it is a
// specific one (a wildcard address is no name; list names in server.allowed_hosts).
void HttpServer::Impl::rememberListenHost() {
  if (!config_.public_url.empty()) {
    auto start = config_.public_url.find("//") + 2;
    auto end = config_.public_url.find('/', start);
    public_host_ = hostOnly(std::string_view(config_.public_url).substr(start, end - start));
  }
  if (!tcp_acceptor_.is_open()) return;
  beast::error_code ec;
  auto address = tcp_acceptor_.local_endpoint(ec).address();
  if (ec || address.is_unspecified()) return;
  listen_hosts_.push_back(address.is_v6() ? "[" + address.to_string() + "]" : address.to_string());
}

Status HttpServer::Impl::listen() {
  beast::error_code ec;
  accepting_ = true;
  Status activated = Ok{};
  if (adoptSystemdSockets(activated)) {
    rememberListenHost();
    return activated;
  }
  if (config_.listen_tcp) {
    auto address = asio::ip::make_address(config_.listen_host, ec);
    if (ec) return makeError("listen", "bad listen address '" + config_.listen_host + "'");
    tcp::endpoint endpoint(address, config_.listen_port);
    tcp_acceptor_.open(endpoint.protocol(), ec);
    if (!ec) tcp_acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_acceptor_.bind(endpoint, ec);
    if (!ec) tcp_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return makeError("listen", "cannot listen on " + config_.listen_host + ":" +
                                     std::to_string(config_.listen_port) + ": " + ec.message());
    }
    tcp_port_ = tcp_acceptor_.local_endpoint().port();
    accept(tcp_acceptor_);
    spdlog::info("api listening on {}:{}", config_.listen_host, tcp_port_);
  }
  if (!config_.unix_socket.empty()) {
    ::unlink(config_.unix_socket.c_str());  // a stale socket from an earlier run
    local::endpoint endpoint(config_.unix_socket);
    unix_acceptor_.open(endpoint.protocol(), ec);
    if (!ec) unix_acceptor_.bind(endpoint, ec);
    if (!ec) unix_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return makeError("listen",
                       "cannot listen on unix socket " + config_.unix_socket + ": " + ec.message());
    }
    ::chmod(config_.unix_socket.c_str(), 0660);
    accept(unix_acceptor_);
    spdlog::info("api listening on unix:{}", config_.unix_socket);
  }
  rememberListenHost();
  return Ok{};
}

void HttpServer::Impl::stopAccepting() {
  accepting_ = false;
  beast::error_code ignored;
  tcp_acceptor_.close(ignored);
  if (unix_acceptor_.is_open()) {
    unix_acceptor_.close(ignored);
    if (!unix_from_systemd_) ::unlink(config_.unix_socket.c_str());  // systemd owns its socket
  }
  for (auto* session : std::vector<SessionBase*>(sessions_.begin(), sessions_.end())) {
    session->closeIfIdle();
  }
}

HttpServer::HttpServer(asio::io_context& io, const config::ServerConfig& config, Handler handler)
    : impl_(std::make_shared<Impl>(io, config, std::move(handler))) {}
HttpServer::~HttpServer() {
  if (impl_->accepting_) impl_->stopAccepting();
}
Status HttpServer::listen() { return impl_->listen(); }
std::uint16_t HttpServer::tcpPort() const { return impl_->tcp_port_; }
void HttpServer::stopAccepting() { impl_->stopAccepting(); }
std::size_t HttpServer::activeConnections() const { return impl_->sessions_.size(); }
const HttpServer::Refusals& HttpServer::refusals() const { return impl_->refusals_; }

}  // namespace omnigate::api
