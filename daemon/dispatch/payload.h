#pragma once

// What a stored message carries for delivery: the recipient's contacts and the content per
// channel. The API writes it at intake; the dispatcher reads it to build each attempt.

#include <map>
#include <string>
#include <vector>

#include "channels/provider.h"
#include "daemon/common/result.h"
#include "daemon/store/store.h"

namespace omnigate::dispatch {

struct PushTarget {
  std::string platform;  // fcm | apns
  std::string token;
};

struct Contacts {
  std::string email;
  std::string phone;
  std::string telegram;
  std::vector<PushTarget> push;
};

struct ChannelContent {
  std::string subject;  // email
  std::string text;     // email text part, sms, messenger
  std::string html;     // email
  std::string title;    // push
  std::string body;     // push
  std::string data_json;  // push data object
};

struct MessagePayload {
  Contacts to;
  std::map<std::string, ChannelContent> content;  // by channel
  std::string metadata_json;
};

inline constexpr const char* kChannels[] = {"email", "sms", "push", "messenger"};
bool isChannel(std::string_view name);
bool hasContact(const Contacts& contacts, const std::string& channel);

std::string toJson(const MessagePayload& payload);
Result<MessagePayload> payloadFromJson(std::string_view json);

// One attempt's message for `channel`; an Error when the payload lacks what the channel needs.
Result<channels::OutboundMessage> buildOutbound(const MessagePayload& payload,
                                                const store::MessageRecord& message,
                                                const std::string& channel, int attempt,
                                                SysTime now);

}  // namespace omnigate::dispatch
