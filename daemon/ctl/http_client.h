// The CLI's HTTP/1.1 client: one keep-alive connection to the daemon's API over its Unix socket
// or TCP, driven by Asio coroutines so a batch can keep several connections busy on one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace omnigate::ctl {

// Where the daemon's API is: a Unix socket path, or host and port from an http:// URL.
struct Endpoint {
  bool is_unix = true;
  std::string socket_path;
  std::string host;
  std::string port;
  std::string host_header;  // what goes into Host:

  std::string describe() const;
};

// Parses "http://host[:port][/]" (IPv6 hosts in brackets); nullopt and `error` set otherwise.
std::optional<Endpoint> parseUrl(std::string_view url, std::string& error);
Endpoint unixEndpoint(std::string path);

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, empty when absent
  bool replayed = false;    // Idempotent-Replayed: true
};

// Either a response or a transport error (`error` set, `where` says which step failed).
struct Outcome {
  boost::system::error_code error;
  std::string where;
  bool timed_out = false;
  HttpResponse response;

  bool ok() const { return !error; }
  std::string describeError(const Endpoint& endpoint) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class Connection {
 public:
  Connection(boost::asio::any_io_executor executor, Endpoint endpoint, std::string token,
             std::chrono::milliseconds timeout);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one request and reads the answer. A connection the server closed while it sat idle
  // is reopened once, transparently: only then is the request known not to have been read.
  boost::asio::awaitable<Outcome> request(boost::beast::http::verb method, std::string target,
                                          std::string body, Headers headers = {});

  void close();

 private:
  boost::asio::awaitable<Outcome> attempt(boost::beast::http::verb method,
                                          const std::string& target, const std::string& body,
                                          const Headers& headers);
  boost::asio::awaitable<boost::system::error_code> connect(std::string& where);
  void armTimer();

  boost::asio::any_io_executor executor_;
  Endpoint endpoint_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  boost::asio::generic::stream_protocol::socket socket_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  bool used_ = false;       // an earlier request completed on the open socket
  bool timed_out_ = false;  // the timer fired and closed the socket
};

// Runs one request to completion on a private io_context (the single-request subcommands).
Outcome requestOnce(const Endpoint& endpoint, const std::string& token,
                    std::chrono::milliseconds timeout, boost::beast::http::verb method,
                    std::string target, std::string body, Headers headers = {});

// Reads the API's {"error": {"code", "message"}}; false (and both empty) for any other body.
bool parseApiError(const std::string& body, std::string& code, std::string& message);

// Percent-encodes one path segment (ids are normally safe; this keeps odd input harmless).
std::string encodeSegment(std::string_view segment);

}  // namespace omnigate::ctl
