// `send --file`: one message per line of a JSONL file, several requests in flight over a few
// keep-alive connections, with per-line results so a partial failure can be found and resent.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "daemon/ctl/http_client.h"

namespace omnigate::ctl {

struct BatchLine {
  std::size_t number = 0;  // 1-based line number in the file
  std::string text;
};

struct BatchOptions {
  Endpoint endpoint;
  std::string token;
  std::chrono::milliseconds timeout{30000};
  int connections = 4;
  std::string idempotency_prefix;  // non-empty: Idempotency-Key = prefix + line number
  bool progress = false;           // redraw a progress line on stderr
};

struct LineFailure {
  std::size_t line = 0;
  int status = 0;  // 0: transport error
  std::string code;
  std::string message;
};

struct BatchResult {
  std::size_t total = 0;
  std::size_t accepted = 0;  // 2xx, including replays
  std::size_t replayed = 0;  // Idempotent-Replayed: true
  std::size_t refused = 0;   // 4xx: the API said no to this line
  std::size_t errors = 0;    // 5xx after retries, or transport errors
  std::size_t not_sent = 0;  // left out after the daemon could not be reached at all
  bool reached = false;      // at least one answer came back
  std::string first_transport_error;
  double seconds = 0;
  std::vector<LineFailure> failures;  // sorted by line
};

BatchResult sendBatch(const std::vector<BatchLine>& lines, const BatchOptions& options);

}  // namespace omnigate::ctl
