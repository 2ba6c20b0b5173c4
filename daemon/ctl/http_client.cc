#include "daemon/ctl/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <exception>

namespace omnigate::ctl {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kBodyLimit = 256ull << 20;

bool serverClosedIdle(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

}  // namespace

std::string Endpoint::describe() const {
  return is_unix ? "unix:" + socket_path : "http://" + host_header;
}

Endpoint unixEndpoint(std::string path) {
  Endpoint endpoint;
  endpoint.is_unix = true;
  endpoint.socket_path = std::move(path);
  endpoint.host_header = "localhost";
  return endpoint;
}

std::optional<Endpoint> parseUrl(std::string_view url, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    error = url.substr(0, 8) == "https://"
                ? "https is not supported; use the Unix socket or a plain http:// URL on loopback"
                : "the URL must start with http://";
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find_first_of("/?#"));
  Endpoint endpoint;
  endpoint.is_unix = false;
  endpoint.host_header = std::string(rest);
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [ in the URL's host";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected text after the URL's host";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (host.empty()) {
    error = "the URL has no host";
    return std::nullopt;
  }
  if (port.empty()) port = "80";
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      error = "the URL's port is not a number";
      return std::nullopt;
    }
  }
  endpoint.host = std::string(host);
  endpoint.port = std::string(port);
  return endpoint;
}

std::string Outcome::describeError(const Endpoint& endpoint) const {
  if (timed_out) return "no answer from " + endpoint.describe() + " in time (" + where + ")";
  return "cannot " + where + " " + endpoint.describe() + ": " + error.message();
}

bool parseApiError(const std::string& body, std::string& code, std::string& message) {
  code.clear();
  message.clear();
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return false;
  const auto* error = value.get_object().if_contains("error");
  if (!error || !error->is_object()) return false;
  if (const auto* c = error->get_object().if_contains("code"); c && c->is_string()) {
    code = std::string(c->get_string());
  }
  if (const auto* m = error->get_object().if_contains("message"); m && m->is_string()) {
    message = std::string(m->get_string());
  }
  return !code.empty();
}

std::string encodeSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Connection::Connection(asio::any_io_executor executor, Endpoint endpoint, std::string token,
                       std::chrono::milliseconds timeout)
    : executor_(executor),
      endpoint_(std::move(endpoint)),
      token_(std::move(token)),
      timeout_(timeout),
      socket_(executor),
      timer_(executor) {}

void Connection::close() {
  error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
  buffer_.clear();
  used_ = false;
}

void Connection::armTimer() {
  timed_out_ = false;
  timer_.expires_after(timeout_);
  timer_.async_wait([this](const error_code& ec) {
    if (ec) return;  // cancelled: the exchange finished first
    timed_out_ = true;
    error_code ignored;
    socket_.close(ignored);
  });
}

asio::awaitable<error_code> Connection::connect(std::string& where) {
  where = "connect to";
  if (endpoint_.is_unix) {
    asio::generic::stream_protocol::endpoint target(
        asio::local::stream_protocol::endpoint(endpoint_.socket_path));
    auto [ec] = co_await socket_.async_connect(target, kUseTuple);
    co_return ec;
  }
  asio::ip::tcp::resolver resolver(executor_);
  auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, endpoint_.port, kUseTuple);
  if (rec) {
    where = "resolve";
    co_return rec;
  }
  error_code last = asio::error::host_not_found;
  for (const auto& entry : results) {
    error_code ignored;
    socket_.close(ignored);
    auto [ec] = co_await socket_.async_connect(
        asio::generic::stream_protocol::endpoint(entry.endpoint()), kUseTuple);
    if (!ec) {
      socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
      co_return ec;
    }
    last = ec;
  }
  co_return last;
}

asio::awaitable<Outcome> Connection::attempt(http::verb method, const std::string& target,
                                             const std::string& body, const Headers& headers) {
  Outcome outcome;
  armTimer();
  if (!socket_.is_open()) {
    buffer_.clear();
    used_ = false;
    outcome.error = co_await connect(outcome.where);
    if (outcome.error) {
      timer_.cancel();
      outcome.timed_out = timed_out_;
      close();
      co_return outcome;
    }
  }
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, endpoint_.host_header);
  request.set(http::field::user_agent, "omnigatectl");
  request.set(http::field::accept, "application/json");
  if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.keep_alive(true);
  request.prepare_payload();

  auto [wec, written] = co_await http::async_write(socket_, request, kUseTuple);
  (void)written;
  if (wec) {
    timer_.cancel();
    outcome.error = wec;
    outcome.where = "send to";
    outcome.timed_out = timed_out_;
    close();
    co_return outcome;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  auto [rec, read] = co_await http::async_read(socket_, buffer_, parser, kUseTuple);
  (void)read;
  timer_.cancel();
  if (rec) {
    outcome.error = rec;
    outcome.where = "read the answer from";
    outcome.timed_out = timed_out_;
    close();
    co_return outcome;
  }
  auto response = parser.release();
  outcome.response.status = static_cast<int>(response.result_int());
  outcome.response.body = std::move(response.body());
  if (auto it = response.find(http::field::retry_after); it != response.end()) {
    outcome.response.retry_after = std::string(it->value());
  }
  if (auto it = response.find("Idempotent-Replayed"); it != response.end()) {
    outcome.response.replayed = it->value() == "true";
  }
  if (response.keep_alive()) {
    used_ = true;
  } else {
    close();
  }
  co_return outcome;
}

asio::awaitable<Outcome> Connection::request(http::verb method, std::string target,
                                             std::string body, Headers headers) {
  const bool reused = used_ && socket_.is_open();
  Outcome outcome = co_await attempt(method, target, body, headers);
  if (reused && outcome.error && !outcome.timed_out && serverClosedIdle(outcome.error)) {
    outcome = co_await attempt(method, target, body, headers);
  }
  co_return outcome;
}

Outcome requestOnce(const Endpoint& endpoint, const std::string& token,
                    std::chrono::milliseconds timeout, http::verb method, std::string target,
                    std::string body, Headers headers) {
  asio::io_context io;
  Connection connection(io.get_executor(), endpoint, token, timeout);
  Outcome outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        outcome = co_await connection.request(method, std::move(target), std::move(body),
                                              std::move(headers));
      },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  io.run();
  return outcome;
}

}  // namespace omnigate::ctl
