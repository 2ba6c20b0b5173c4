#pragma once

// Executes providers' TransportRequests. One implementation (curl_transport.cc) is the only code
// that touches libcurl: one multi handle driven by the Asio event loop. Completions run on the
// io_context thread that owns the transport; submit() must be called from that thread too.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include <boost/asio/io_context.hpp>

#include "channels/provider.h"

namespace omnigate::transport {

using Outcome = std::variant<channels::TransportReply, channels::TransportFailure>;
using Completion = std::function<void(Outcome)>;

struct TransportOptions {
  std::size_t max_reply_bytes = 1 << 20;  // larger replies fail as TooLarge
  long connect_timeout_ms = 10'000;
  long low_speed_time_s = 30;             // abort a reply trickling below 1 byte/s for this long
  std::size_t max_host_connections = 64;  // per host:port, across all requests
  std::string ca_file;                    // extra trust anchor (tests); verification is always on
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void submit(channels::TransportRequest request, Completion done) = 0;
  virtual std::size_t inFlight() const = 0;
  // Fails every request in flight with a Local failure and releases all sockets.
  virtual void shutdown() = 0;
};

std::unique_ptr<Transport> makeCurlTransport(boost::asio::io_context& io, TransportOptions options);

}  // namespace omnigate::transport
