#include "daemon/ctl/batch.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <exception>
#include <memory>

namespace omnigate::ctl {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxUnavailableRetries = 5;
constexpr int kMaxTransportRetries = 3;

// Retry-After in seconds, clamped so a batch never sleeps for long on one answer.
std::chrono::milliseconds retryDelay(const std::string& retry_after) {
  long seconds = 1;
  try {
    if (!retry_after.empty()) seconds = std::stol(retry_after);
  } catch (const std::exception&) {
    seconds = 1;
  }
  return std::chrono::seconds(std::clamp(seconds, 1L, 10L));
}

class Batch {
 public:
  Batch(const std::vector<BatchLine>& lines, const BatchOptions& options)
      : lines_(lines), options_(options) {
    result_.total = lines.size();
  }

  BatchResult run() {
    asio::io_context io;
    started_ = Clock::now();
    const int workers =
        std::max(1, std::min<int>(options_.connections, static_cast<int>(lines_.size())));
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i < workers; ++i) {
      connections.push_back(std::make_unique<Connection>(io.get_executor(), options_.endpoint,
                                                         options_.token, options_.timeout));
    }
    for (auto& connection : connections) {
      asio::co_spawn(io, worker(*connection), [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
    }
    io.run();
    result_.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    result_.not_sent = lines_.size() - next_;
    if (options_.progress) std::fputs("\r\033[K", stderr);
    std::sort(result_.failures.begin(), result_.failures.end(),
              [](const auto& a, const auto& b) { return a.line < b.line; });
    return std::move(result_);
  }

 private:
  asio::awaitable<void> worker(Connection& connection) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor);
    while (next_ < lines_.size() && !abort_) {
      const BatchLine& line = lines_[next_++];
      Headers headers;
      const bool keyed = !options_.idempotency_prefix.empty();
      if (keyed) {
        headers.emplace_back("Idempotency-Key",
                             options_.idempotency_prefix + std::to_string(line.number));
      }
      int unavailable = 0;
      int transport = 0;
      while (true) {
        Outcome outcome =
            co_await connection.request(http::verb::post, "/v1/messages", line.text, headers);
        if (!outcome.ok()) {
          // Without a key a request that may have been read cannot be repeated safely; a
          // refused connection means nothing was sent, so that is always worth another try.
          const bool unsent = outcome.where == "connect to" || outcome.where == "resolve";
          if ((keyed || unsent) && ++transport <= kMaxTransportRetries) {
            pause.expires_after(std::chrono::milliseconds(200 << transport));
            co_await pause.async_wait(asio::use_awaitable);
            continue;
          }
          if (unsent && !result_.reached) {
            // The daemon never answered at all: the other lines would only fail the same way.
            abort_ = true;
          }
          if (result_.first_transport_error.empty()) {
            result_.first_transport_error = outcome.describeError(options_.endpoint);
          }
          fail(line.number, 0, "transport",
               outcome.describeError(options_.endpoint) +
                   (unsent ? "" : " (it may or may not have been accepted)"));
          ++result_.errors;
          break;
        }
        result_.reached = true;
        const HttpResponse& response = outcome.response;
        if (response.status == 503 && ++unavailable <= kMaxUnavailableRetries) {
          // 503 guarantees that nothing was accepted, so sending the line again is safe.
          pause.expires_after(retryDelay(response.retry_after));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        if (response.status >= 200 && response.status < 300) {
          ++result_.accepted;
          if (response.replayed) ++result_.replayed;
        } else {
          std::string code;
          std::string message;
          if (!parseApiError(response.body, code, message)) {
            code = "http_" + std::to_string(response.status);
            message = response.body.substr(0, 200);
          }
          fail(line.number, response.status, code, message);
          if (response.status >= 500) {
            ++result_.errors;
          } else {
            ++result_.refused;
          }
        }
        break;
      }
      ++done_;
      drawProgress(false);
    }
    connection.close();
  }

  void fail(std::size_t line, int status, std::string code, std::string message) {
    result_.failures.push_back({line, status, std::move(code), std::move(message)});
  }

  void drawProgress(bool force) {
    if (!options_.progress) return;
    auto now = Clock::now();
    if (!force && done_ != lines_.size() && now - last_draw_ < std::chrono::milliseconds(100)) {
      return;
    }
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
    std::fprintf(stderr, "\r\033[K%zu/%zu  %.0f msg/s  %zu refused  %zu errors", done_,
                 lines_.size(), rate, result_.refused, result_.errors);
    std::fflush(stderr);
  }

  const std::vector<BatchLine>& lines_;
  const BatchOptions& options_;
  BatchResult result_;
  std::size_t next_ = 0;
  bool abort_ = false;
  std::size_t done_ = 0;
  Clock::time_point started_;
  Clock::time_point last_draw_;
};

}  // namespace

BatchResult sendBatch(const std::vector<BatchLine>& lines, const BatchOptions& options) {
  return Batch(lines, options).run();
}

}  // namespace omnigate::ctl
