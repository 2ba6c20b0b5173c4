#include "daemon/api/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <optional>
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

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void closeIfIdle() = 0;
};

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(asio::io_context& io, const config::ServerConfig& config, Handler handler)
      : io_(io), config_(config), handler_(std::move(handler)), tcp_acceptor_(io),
        unix_acceptor_(io) {}

  Status listen();
  void stopAccepting();

  template <class Acceptor>
  void accept(Acceptor& acceptor);

  asio::io_context& io_;
  config::ServerConfig config_;
  Handler handler_;
  tcp::acceptor tcp_acceptor_;
  local::acceptor unix_acceptor_;
  std::uint16_t tcp_port_ = 0;
  bool accepting_ = false;
  std::unordered_set<SessionBase*> sessions_;
};

namespace {

template <class Protocol>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;

  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->sessions_.insert(this);
  }
  ~Session() override { server_->sessions_.erase(this); }

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
    stream_.async_read_some(
        buffer_.prepare(4096),
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
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->onRead(ec);
                     });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return replyAndClose(errorResponse(
          413, "payload_too_large",
          "the request body exceeds " + std::to_string(server_->config_.max_body_bytes) +
              " bytes",
          11, false));
    }
    if (ec == http::error::header_limit) {
      return replyAndClose(errorResponse(
          431, "headers_too_large",
          "the request headers exceed " + std::to_string(server_->config_.max_header_bytes) +
              " bytes",
          11, false));
    }
    if (ec) {
      return replyAndClose(
          errorResponse(400, "bad_request", "malformed HTTP request: " + ec.message(), 11, false));
    }
    stream_.expires_never();
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    auto version = request.version();
    server_->handler_(std::move(request), [self = this->shared_from_this(), version](Response res) {
      res.version(version);
      res.keep_alive(self->keep_alive_ && res.keep_alive() && self->server_->accepting_);
      self->write(std::move(res));
    });
  }

  void write(Response res) {
    auto response = std::make_shared<Response>(std::move(res));
    stream_.expires_after(server_->config_.read_timeout);  // slow readers are cut off too
    http::async_write(stream_, *response,
                      [self = this->shared_from_this(), response](beast::error_code ec, std::size_t) {
                        if (ec || !response->keep_alive()) return self->close();
                        self->waitForRequest();
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
      beast::error_code ignored;
      socket.close(ignored);  // over the limit: refuse early rather than degrade everyone
    } else {
      std::make_shared<Session<Protocol>>(std::move(socket), self)->start();
    }
    if (ec == asio::error::operation_aborted) return;
    self->accept(acceptor);
  });
}

Status HttpServer::Impl::listen() {
  beast::error_code ec;
  accepting_ = true;
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
  return Ok{};
}

void HttpServer::Impl::stopAccepting() {
  accepting_ = false;
  beast::error_code ignored;
  tcp_acceptor_.close(ignored);
  if (unix_acceptor_.is_open()) {
    unix_acceptor_.close(ignored);
    ::unlink(config_.unix_socket.c_str());
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

}  // namespace omnigate::api
