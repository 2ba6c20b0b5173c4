#pragma once

// How a libcurl result code maps onto the provider contract's failure kinds. Kept apart from the
// engine so the table can be tested on its own.

#include <curl/curl.h>

#include "channels/provider.h"

namespace omnigate::transport {

channels::TransportErrorKind kindForCurlCode(CURLcode code);

// Whether a failure of this kind can only happen before the request left this host. The others
// leave the question to what the transfer got to (see curl_transport.cc).
bool failsBeforeSending(channels::TransportErrorKind kind);

}  // namespace omnigate::transport
