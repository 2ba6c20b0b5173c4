#pragma once

// The HTTP/1.1 front door: TCP and Unix-socket listeners and keep-alive sessions (the Beast
// advanced-server shape). It enforces the connection limit, header and body limits (431/413),
// an idle deadline between requests and a deadline for each whole request (slowloris
// defence), and hands every complete request to one handler.

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "daemon/common/result.h"
#include "daemon/config/config.h"

namespace omnigate::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Respond)>;

// Builds {"error":{"code","message"}} responses; used by the server for protocol errors too.
Response errorResponse(unsigned status, std::string_view code, std::string_view message,
                       unsigned version = 11, bool keep_alive = true);

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const config::ServerConfig& config, Handler handler);
  ~HttpServer();

  // Binds and starts accepting; the TCP port actually bound is returned by tcpPort().
  Status listen();
  std::uint16_t tcpPort() const;
  // Stops accepting and closes idle connections; requests being handled still get answers.
  void stopAccepting();
  std::size_t activeConnections() const;
  // Requests answered by the HTTP layer itself, before any route saw them (bad framing, foreign
  // Host or Origin, oversized head or body, malformed HTTP, overload): (status, error code) →
  // count. Everything routed is counted by the handlers.
  using Refusals = std::map<std::pair<unsigned, std::string>, std::uint64_t>;
  const Refusals& refusals() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace omnigate::api
