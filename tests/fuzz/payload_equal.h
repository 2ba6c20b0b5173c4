#pragma once

// Field-by-field equality of stored payloads, for the round-trip invariants of the payload and
// send-request targets (the daemon's types have no operator== of their own).

#include "daemon/dispatch/payload.h"

namespace omnigate::fuzz {

inline bool sameContent(const dispatch::ChannelContent& a, const dispatch::ChannelContent& b) {
  return a.subject == b.subject && a.text == b.text && a.html == b.html && a.title == b.title &&
         a.body == b.body && a.data_json == b.data_json;
}

inline bool samePayload(const dispatch::MessagePayload& a, const dispatch::MessagePayload& b) {
  if (a.to.email != b.to.email || a.to.phone != b.to.phone || a.to.telegram != b.to.telegram ||
      a.to.push.size() != b.to.push.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.to.push.size(); ++i) {
    if (a.to.push[i].platform != b.to.push[i].platform ||
        a.to.push[i].token != b.to.push[i].token) {
      return false;
    }
  }
  if (a.content.size() != b.content.size()) return false;
  for (auto ia = a.content.begin(), ib = b.content.begin(); ia != a.content.end(); ++ia, ++ib) {
    if (ia->first != ib->first || !sameContent(ia->second, ib->second)) return false;
  }
  return a.template_id == b.template_id && a.locale == b.locale && a.data_json == b.data_json &&
         a.metadata_json == b.metadata_json;
}

}  // namespace omnigate::fuzz
