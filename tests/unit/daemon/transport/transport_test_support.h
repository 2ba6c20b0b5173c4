#pragma once

// Shared helpers for the transport tests: run an io_context until completions arrive, build
// requests, look inside outcomes, count open descriptors, and run a helper child process.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/transport/transport.h"

extern char** environ;

namespace omnigate::transport::testing {

using namespace std::chrono_literals;
using channels::HttpMethod;
using channels::HttpRequest;
using channels::TransportErrorKind;
using channels::TransportFailure;
using channels::TransportReply;
using channels::TransportRequest;

inline TransportRequest httpRequest(std::string url, HttpMethod method = HttpMethod::Get,
                                    std::string body = {},
                                    std::chrono::milliseconds timeout = 10s) {
  HttpRequest http;
  http.method = method;
  http.url = std::move(url);
  http.body = std::move(body);
  TransportRequest request;
  request.what = std::move(http);
  request.timeout = timeout;
  return request;
}

inline HttpRequest& http(TransportRequest& request) { return std::get<HttpRequest>(request.what); }

inline const TransportReply* replyOf(const Outcome& outcome) {
  return std::get_if<TransportReply>(&outcome);
}
inline const TransportFailure* failureOf(const Outcome& outcome) {
  return std::get_if<TransportFailure>(&outcome);
}

inline std::string describe(const Outcome& outcome) {
  if (const auto* reply = replyOf(outcome)) {
    return "reply " + std::to_string(reply->status) + " body=" + reply->body.substr(0, 200);
  }
  const auto& failure = std::get<TransportFailure>(outcome);
  return std::string("failure ") + channels::toString(failure.kind) +
         " sent=" + (failure.request_may_have_been_sent ? "yes" : "no") + " " + failure.detail;
}

// Drives an io_context on the calling thread, the way the daemon does.
class Loop {
 public:
  boost::asio::io_context io;

  // Runs handlers until `done()` holds or `limit` passes; true if it held.
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (io.run_one_for(std::min<std::chrono::steady_clock::duration>(deadline - now, 50ms)) ==
              0 &&
          io.stopped()) {
        io.restart();
      }
    }
    return true;
  }

  // Runs whatever is ready now, without waiting.
  void drain() {
    io.restart();
    io.poll();
  }
};

// Submits every request at once and runs the loop until all completed (in submission order).
inline std::vector<Outcome> runAll(Loop& loop, Transport& transport,
                                   std::vector<TransportRequest> requests,
                                   std::chrono::milliseconds limit = 20s) {
  std::vector<std::optional<Outcome>> results(requests.size());
  std::size_t finished = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    transport.submit(std::move(requests[i]), [&results, &finished, i](Outcome outcome) {
      results[i] = std::move(outcome);
      ++finished;
    });
  }
  bool all = loop.runUntil([&] { return finished == results.size(); }, limit);
  EXPECT_TRUE(all) << finished << " of " << results.size() << " requests completed";
  std::vector<Outcome> outcomes;
  for (auto& result : results) {
    outcomes.push_back(result ? std::move(*result)
                              : Outcome(TransportFailure{TransportErrorKind::Local, false,
                                                         "test: never completed"}));
  }
  return outcomes;
}

inline Outcome runOne(Loop& loop, Transport& transport, TransportRequest request,
                      std::chrono::milliseconds limit = 20s) {
  std::vector<TransportRequest> requests;
  requests.push_back(std::move(request));
  return std::move(runAll(loop, transport, std::move(requests), limit).front());
}

inline std::size_t openDescriptorCount() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound and released right away).
inline unsigned short unusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  unsigned short port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// A child process with its stdout readable line by line. Its stdin is a pipe the test keeps open,
// so helper scripts can exit when the test process goes away. Killed and reaped on destruction.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int out[2];
    int in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    // Peers' own diagnostics (TLS alerts and the like) would only clutter the test log.
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(in[0]);
    stdout_ = out[0];
    stdin_ = in[1];
  }

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
    if (stdin_ >= 0) ::close(stdin_);
  }

  bool started() const { return pid_ > 0; }

  // The next line of output without its newline, or nullopt on timeout or end of output.
  std::optional<std::string> readLine(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto newline = buffered_.find('\n'); newline != std::string::npos) {
        std::string line = buffered_.substr(0, newline);
        buffered_.erase(0, newline + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd watch{stdout_, POLLIN, 0};
      if (::poll(&watch, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t got = ::read(stdout_, chunk, sizeof(chunk));
      if (got <= 0) return std::nullopt;
      buffered_.append(chunk, static_cast<std::size_t>(got));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  int stdin_ = -1;
  std::string buffered_;
};

}  // namespace omnigate::transport::testing
