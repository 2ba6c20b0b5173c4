#pragma once

// A scripted HTTP/1.1 server for tests, header-only. It listens on 127.0.0.1 port 0, runs on its
// own thread, and answers each request with the reply set for its target, else the next queued
// reply, else the default reply.
// A reply can be delayed, never sent (hang), replaced by closing the connection, trickled, or be
// a huge body. The server records every request and counts the TCP connections it accepted, which
// is how tests observe connection reuse.
//
//   omnigate::fakes::HttpTestServer server;
//   server.enqueue({.status = 503, .headers = {{"Retry-After", "120"}}});
//   ... request server.url("/send") ...
//   EXPECT_EQ(server.requestCount(), 1u);

#include <algorithm>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace omnigate::fakes {

struct ScriptedReply {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait this long before answering
  bool hang = false;                   // read the request, then never answer
  bool close_without_reply = false;    // read the request, then close the connection
  bool chunked = false;                // no Content-Length: chunked transfer coding
  std::size_t huge_body_bytes = 0;     // send this many filler bytes instead of `body`
  // Send the body `trickle_bytes` at a time with `trickle_interval` between the pieces.
  std::size_t trickle_bytes = 0;
  std::chrono::milliseconds trickle_interval{0};
  bool keep_alive = true;  // false: "Connection: close" and close after the reply
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::string version;  // "1.1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t connection = 0;  // 1-based index of the TCP connection it arrived on

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key.size() == name.size() &&
          std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return value;
      }
    }
    return std::nullopt;
  }
};

class HttpTestServer {
 public:
  HttpTestServer()
      : work_(boost::asio::make_work_guard(io_)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(io_, acceptLoop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  ~HttpTestServer() { stop(); }

  // Closes the listener and every connection (hanging ones included) and joins the thread.
  void stop() {
    if (!thread_.joinable()) return;
    boost::asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      stopping_ = true;
      for (auto* socket : open_sockets_) socket->close(ignored);
      for (auto* timer : timers_) timer->cancel();
      work_.reset();
    });
    thread_.join();
  }

  unsigned short port() const { return port_; }
  std::string url(std::string_view target = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(target);
  }

  void enqueue(ScriptedReply reply) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(reply));
  }
  void setDefault(ScriptedReply reply) {
    std::lock_guard lock(mutex_);
    default_reply_ = std::move(reply);
  }
  // Every request for exactly this target (path and query) gets this reply.
  void setReplyFor(std::string target, ScriptedReply reply) {
    std::lock_guard lock(mutex_);
    by_target_[std::move(target)] = std::move(reply);
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t requestCount() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  std::size_t connectionsAccepted() const { return connections_accepted_.load(); }

  // Blocks until `count` requests have arrived or `timeout` passed; true if they arrived.
  bool waitForRequests(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }

 private:
  using Socket = boost::asio::ip::tcp::socket;

  boost::asio::awaitable<void> acceptLoop() {
    for (;;) {
      boost::system::error_code ec;
      Socket socket(io_);
      co_await acceptor_.async_accept(socket,
                                      boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      std::size_t index = ++connections_accepted_;
      // Head and body go out as separate writes; without this, Nagle's algorithm against the
      // client's delayed ACK adds ~40 ms to replies.
      socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
      boost::asio::co_spawn(io_, serve(std::move(socket), index), boost::asio::detached);
    }
  }

  ScriptedReply nextReply(const std::string& target) {
    std::lock_guard lock(mutex_);
    if (auto found = by_target_.find(target); found != by_target_.end()) return found->second;
    if (script_.empty()) return default_reply_;
    ScriptedReply reply = std::move(script_.front());
    script_.pop_front();
    return reply;
  }

  static std::string head(const ScriptedReply& reply, std::size_t body_size) {
    std::string text = "HTTP/1.1 " + std::to_string(reply.status) + " Scripted\r\n";
    for (const auto& [name, value] : reply.headers) text += name + ": " + value + "\r\n";
    if (reply.chunked) {
      text += "Transfer-Encoding: chunked\r\n";
    } else {
      text += "Content-Length: " + std::to_string(body_size) + "\r\n";
    }
    if (!reply.keep_alive) text += "Connection: close\r\n";
    return text + "\r\n";
  }

  // Throws when the server stops during the pause, which ends the connection's coroutine.
  boost::asio::awaitable<void> pause(std::chrono::milliseconds duration) {
    if (stopping_) throw std::runtime_error("server stopping");
    boost::asio::steady_timer timer(io_, duration);
    timers_.push_back(&timer);
    boost::system::error_code ec;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    timers_.erase(std::find(timers_.begin(), timers_.end(), &timer));
    if (ec || stopping_) throw std::runtime_error("server stopping");
  }

  boost::asio::awaitable<void> sendBody(Socket& socket, const ScriptedReply& reply) {
    auto send = [&](std::string_view piece) -> boost::asio::awaitable<void> {
      if (piece.empty()) co_return;
      if (reply.chunked) {
        char size[32];
        int length = std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
        co_await boost::asio::async_write(socket, boost::asio::buffer(size, length),
                                          boost::asio::use_awaitable);
        co_await boost::asio::async_write(socket, boost::asio::buffer(piece),
                                          boost::asio::use_awaitable);
        co_await boost::asio::async_write(socket, boost::asio::buffer("\r\n", 2),
                                          boost::asio::use_awaitable);
      } else {
        co_await boost::asio::async_write(socket, boost::asio::buffer(piece),
                                          boost::asio::use_awaitable);
      }
    };
    if (reply.huge_body_bytes > 0) {
      const std::string filler(64 * 1024, 'x');
      std::size_t left = reply.huge_body_bytes;
      while (left > 0) {
        std::size_t now = std::min(left, filler.size());
        co_await send(std::string_view(filler).substr(0, now));
        left -= now;
      }
    } else if (reply.trickle_bytes > 0) {
      for (std::size_t offset = 0; offset < reply.body.size(); offset += reply.trickle_bytes) {
        co_await send(std::string_view(reply.body).substr(offset, reply.trickle_bytes));
        co_await pause(reply.trickle_interval);
      }
    } else {
      co_await send(reply.body);
    }
    if (reply.chunked) {
      co_await boost::asio::async_write(socket, boost::asio::buffer("0\r\n\r\n", 5),
                                        boost::asio::use_awaitable);
    }
  }

  boost::asio::awaitable<void> serve(Socket socket, std::size_t connection) {
    if (stopping_) co_return;  // accepted just before stop(); the socket closes on return
    open_sockets_.push_back(&socket);
    try {
      boost::beast::flat_buffer buffer;
      for (;;) {
        boost::beast::http::request_parser<boost::beast::http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        co_await boost::beast::http::async_read(socket, buffer, parser, boost::asio::use_awaitable);
        record(parser.get(), connection);
        ScriptedReply reply = nextReply(std::string(parser.get().target()));
        if (reply.delay.count() > 0) co_await pause(reply.delay);
        if (reply.close_without_reply) break;
        if (reply.hang) co_await pause(std::chrono::hours(24));
        std::size_t body_size =
            reply.huge_body_bytes > 0 ? reply.huge_body_bytes : reply.body.size();
        std::string text = head(reply, body_size);
        co_await boost::asio::async_write(socket, boost::asio::buffer(text),
                                          boost::asio::use_awaitable);
        co_await sendBody(socket, reply);
        if (!reply.keep_alive || !parser.get().keep_alive()) break;
      }
    } catch (const std::exception&) {
      // The client went away or the server is stopping: the connection simply ends.
    }
    open_sockets_.erase(std::find(open_sockets_.begin(), open_sockets_.end(), &socket));
    boost::system::error_code ignored;
    socket.shutdown(Socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  void record(const boost::beast::http::request<boost::beast::http::string_body>& request,
              std::size_t connection) {
    RecordedRequest recorded;
    recorded.method = std::string(request.method_string());
    recorded.target = std::string(request.target());
    recorded.version =
        std::to_string(request.version() / 10) + "." + std::to_string(request.version() % 10);
    for (const auto& field : request) {
      recorded.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    recorded.body = request.body();
    recorded.connection = connection;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(recorded));
    }
    arrived_.notify_all();
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<std::size_t> connections_accepted_{0};

  // Touched only on the server thread.
  std::vector<Socket*> open_sockets_;
  std::vector<boost::asio::steady_timer*> timers_;
  bool stopping_ = false;

  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::deque<ScriptedReply> script_;
  std::map<std::string, ScriptedReply> by_target_;
  ScriptedReply default_reply_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace omnigate::fakes
