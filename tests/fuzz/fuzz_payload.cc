// The stored payload (messages.payload_json) as the dispatcher reads it back: payloadFromJson,
// then the template rendering and per-channel message building every attempt performs. The
// store normally holds what toJson wrote, but a payload from an older version or a damaged
// database must be an Error, never a crash.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/dispatch/payload.h"
#include "templates/template_set.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/payload_equal.h"

namespace {

using omnigate::dispatch::ChannelContent;
using omnigate::dispatch::MessagePayload;
using omnigate::templates::TemplateFile;
using omnigate::templates::TemplateSet;

// A template set shaped like a real one (every part, a locale variant, a partial, a layout), so
// that stored payloads naming "order_shipped" exercise rendering with the stored data.
const TemplateSet& templates() {
  static const TemplateSet set = [] {
    std::vector<TemplateFile> files = {
        {"_partials/footer.mustache",
         "Shop team{{#customer.name}}, for {{customer.name}}{{/customer.name}}"},
        {"_layouts/mail.mustache", "<html><body>{{{content}}}</body></html>\n"},
        {"order_shipped/default/email.subject", "Order {{order}} shipped\n"},
        {"order_shipped/default/email.txt",
         "Hello {{name}},\n{{#items}}- {{title}} x{{qty}}\n{{/items}}{{> footer}}\n"},
        {"order_shipped/default/email.html",
         "{{! layout: mail }}\n<p>Hello "
         "{{name}}</p><ul>{{#items}}<li>{{title}}</li>{{/items}}</ul>\n"},
        {"order_shipped/default/sms.txt", "Order {{order}} shipped{{^items}} (empty){{/items}}\n"},
        {"order_shipped/default/push.title", "Order {{order}}\n"},
        {"order_shipped/default/push.body", "{{name}}, it is on its way\n"},
        {"order_shipped/default/push.data.json", "{\"order\": \"{{order}}\"}\n"},
        {"order_shipped/default/messenger.txt", "*{{order}}* shipped\n"},
        {"order_shipped/ru/sms.txt", "Заказ {{order}} отправлен\n"},
        {"sms_only/default/sms.txt", "Code {{code}}\n"},
    };
    auto built = TemplateSet::build(files);
    if (!built) {
      std::fprintf(stderr, "fixture templates do not build: %s\n", built.error().message.c_str());
      __builtin_trap();
    }
    return built.value();
  }();
  return set;
}

const std::string* contactFor(const MessagePayload& payload, const std::string& channel) {
  if (channel == "email") return &payload.to.email;
  if (channel == "sms") return &payload.to.phone;
  if (channel == "messenger") return &payload.to.telegram;
  if (channel == "push" && !payload.to.push.empty()) return &payload.to.push.front().token;
  return nullptr;
}

void checkRendered(const MessagePayload& payload) {
  std::string resolved;
  auto rendered = omnigate::dispatch::renderContent(templates(), payload, {}, &resolved);
  if (!rendered) {
    const auto& code = rendered.error().code;
    FUZZ_LOG("render failed: %s: %s", code.c_str(), rendered.error().message.c_str());
    FUZZ_CHECK(code == "unknown_template" || code == "template_render" ||
               code == "corrupt_payload");
    // The fixture renders with any data, so only a missing template or bad data can fail.
    FUZZ_CHECK(code != "template_render");
    return;
  }
  FUZZ_LOG("rendered %zu channels (%s)", rendered->size(), resolved.c_str());
  FUZZ_CHECK(templates().has(payload.template_id));
  FUZZ_CHECK(resolved == "default" || resolved == "ru");
  for (const auto& [channel, content] : rendered.value()) {
    FUZZ_CHECK(omnigate::dispatch::isChannel(channel));
    if (channel == "email") FUZZ_CHECK(!content.subject.empty());
  }
  // Rendering one channel gives that channel's part of the full rendering.
  for (const char* channel : omnigate::dispatch::kChannels) {
    auto one = omnigate::dispatch::renderContent(templates(), payload, channel);
    FUZZ_CHECK(one.ok());
    FUZZ_CHECK(one->size() <= 1);
    auto full = rendered->find(channel);
    FUZZ_CHECK((full == rendered->end()) == one->empty());
    if (full != rendered->end()) {
      FUZZ_CHECK(omnigate::fuzz::sameContent(full->second, one->begin()->second));
    }
  }
}

void checkOutbound(const MessagePayload& payload) {
  omnigate::store::MessageRecord record;
  record.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
  record.customer_id = "c-42";
  record.category = "transactional";
  record.priority = "normal";
  const auto now = omnigate::fromUnixMillis(1'700'000'000'123);
  std::vector<std::string> channels(std::begin(omnigate::dispatch::kChannels),
                                    std::end(omnigate::dispatch::kChannels));
  for (const auto& [channel, content] : payload.content) channels.push_back(channel);
  for (const auto& channel : channels) {
    auto out = omnigate::dispatch::buildOutbound(payload, templates(), record, channel, 2, now);
    if (!out) {
      FUZZ_LOG("%s: %s: %s", channel.c_str(), out.error().code.c_str(),
               out.error().message.c_str());
      continue;
    }
    FUZZ_LOG("%s: to '%s', text '%s'", channel.c_str(), out->recipient.c_str(), out->text.c_str());
    FUZZ_CHECK(omnigate::dispatch::isChannel(channel));
    FUZZ_CHECK(out->channel == channel);
    FUZZ_CHECK(out->id == record.id && out->category == record.category);
    FUZZ_CHECK(out->attempt == 2 && out->now_unix_ms == 1'700'000'000'123);
    const std::string* contact = contactFor(payload, channel);
    FUZZ_CHECK(contact != nullptr && !contact->empty() && out->recipient == *contact);
    FUZZ_CHECK(out->metadata_json == payload.metadata_json);
    if (payload.template_id.empty()) {
      auto content = payload.content.find(channel);
      FUZZ_CHECK(content != payload.content.end());
      FUZZ_CHECK(out->subject == content->second.subject);
      FUZZ_CHECK(out->text == (channel == "push" ? content->second.body : content->second.text));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  templates();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto payload = omnigate::dispatch::payloadFromJson(omnigate::fuzz::asView(data, size));
  if (!payload) {
    FUZZ_LOG("rejected: %s", payload.error().message.c_str());
    FUZZ_CHECK(payload.error().code == "corrupt_payload");
    return 0;
  }
  // What the store writes back must read as the same payload, and writing is deterministic.
  std::string json = omnigate::dispatch::toJson(payload.value());
  auto again = omnigate::dispatch::payloadFromJson(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(omnigate::fuzz::samePayload(payload.value(), again.value()));
  FUZZ_CHECK(omnigate::dispatch::toJson(again.value()) == json);

  for (const char* channel : omnigate::dispatch::kChannels) {
    FUZZ_CHECK(omnigate::dispatch::isChannel(channel));
    (void)omnigate::dispatch::hasContact(payload->to, channel);
  }
  if (!payload->template_id.empty()) checkRendered(payload.value());
  checkOutbound(payload.value());
  return 0;
}
