#include "daemon/api/admission.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/api/customer_json.h"
#include "daemon/common/log.h"

namespace omnigate::api {

policy::PolicyConfig makePolicyConfig(const config::Config& config) {
  policy::PolicyConfig policy;
  policy.default_channels = config.default_channels;
  policy.categories = config.categories;
  policy.caps = config.caps;
  for (const auto& [channel, settings] : config.channels)
    policy.configured_channels.insert(channel);
  policy.default_quiet_hours = config.default_quiet_hours;
  policy.min_history_attempts = config.min_history_attempts;
  return policy;
}

Admission::Admission(const config::Config& config, store::Store& store)
    : store_(store),
      // Beyond this an idle entry is dropped when its work finishes and reloaded on next use. A
      // reload is one indexed read answered ahead of the store's pending writes, so a bigger
      // cache bought no intake speed but cost ~1.3 KB per customer (bench/run: 100 000 cached
      // held 130 MB more).
      max_cached_(config.store.customer_cache),
      policy_config_(makePolicyConfig(config)) {}

void Admission::withCustomer(const std::string& id, Work work) {
  auto& entry = entries_[id];
  if (!entry) entry = std::make_unique<Entry>();
  entry->queue.push_back(std::move(work));
  if (!entry->busy) runNext(id);
}

void Admission::forget(const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  it->second->forget = true;
  evictIfIdle(id);
}

void Admission::merged(const std::string& merged_id, const std::string& survivor_id) {
  merged_into_[merged_id] = survivor_id;
  forget(merged_id);
}

const std::string& Admission::survivorOf(const std::string& id) const {
  const std::string* current = &id;
  // Bounded: a cycle cannot come from the store (a survivor is never merged into its own
  // merged id), but a wrong map must not hang the loop thread.
  for (int hops = 0; hops < 16; ++hops) {
    auto next = merged_into_.find(*current);
    if (next == merged_into_.end()) break;
    current = &next->second;
  }
  return *current;
}

void Admission::evictIfIdle(const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->busy || !it->second->queue.empty()) return;
  Entry& entry = *it->second;
  if (!entry.forget && entries_.size() <= max_cached_) return;
  if (!entry.forget && entry.loaded && entry.slot.has_profile && entry.slot.stats_dirty) {
    return saveStatsThenEvict(id);
  }
  entries_.erase(it);
}

void Admission::saveStatsThenEvict(const std::string& id) {
  withCustomer(id, [this](Result<CustomerSlot*> loaded, std::function<void()> done) {
    if (!loaded || !(*loaded)->stats_dirty) return done();
    CustomerSlot& customer = **loaded;
    // The cached profile is the current one (every write to it went through this queue).
    store_.changeCustomerProfile(
        customer.id,
        [cached = profileToStorage(customer.profile)](const std::string&) {
          return std::optional<std::string>(cached);
        },
        [&customer, done](Result<Ok> written) {
          if (!written) {
            spdlog::warn("customer {}: engagement counts not saved: {}", customer.id,
                         written.error().message);
          }
          // Saved, or given up on: either way the entry may go now (a failing store must not
          // keep it cycling through writes).
          customer.stats_dirty = false;
          done();
        });
  });
}

void Admission::markContactDead(const std::string& customer_id, const std::string& channel,
                                const std::string& recipient, SysTime now) {
  std::string mark = channel == "push"    ? "push:" + recipient
                     : channel == "sms"   ? "phone"
                     : channel == "email" ? "email"
                                          : "telegram";
  withCustomer(customer_id, [this, mark, recipient, now](Result<CustomerSlot*> loaded,
                                                         std::function<void()> done) {
    if (!loaded || !(*loaded)->has_profile) return done();
    CustomerSlot& customer = **loaded;
    const auto& contacts = customer.profile.contacts;
    // Only the contact the message went to, and only while the profile still has it.
    bool current = (mark == "email" && contacts.email == recipient) ||
                   (mark == "phone" && contacts.phone == recipient) ||
                   (mark == "telegram" && contacts.telegram == recipient) ||
                   (mark.rfind("push:", 0) == 0 &&
                    std::any_of(contacts.push.begin(), contacts.push.end(),
                                [&](const policy::PushToken& t) { return t.token == recipient; }));
    if (!current || contacts.invalid.count(mark)) return done();
    policy::CustomerProfile profile = customer.profile;
    profile.contacts.invalid.insert(mark);
    store::CustomerWrite write{customer.id, profileToStorage(profile),
                               contactKeys(profile.contacts), now};
    store_.putCustomer(std::move(write), [&customer, profile, mark,
                                          done](Result<store::CustomerWriteResult> written) {
      if (written && written->outcome == store::CustomerWriteOutcome::Written) {
        customer.profile = profile;
        // A push mark carries the device token, a credential of sorts: only its start is logged.
        spdlog::info("customer {}: {} marked invalid", customer.id,
                     mark.rfind("push:", 0) == 0 ? "push:" + maskToken(mark.substr(5)) : mark);
      }
      done();
    });
  });
}

void Admission::recordAttempt(const std::string& message_customer_id, const std::string& channel,
                              bool accepted) {
  const std::string& customer_id = survivorOf(message_customer_id);
  if (!entries_.count(customer_id)) {
    // Not in memory: counted in the stored profile, without loading the customer for it.
    ++counts_in_store_[customer_id];
    store_.changeCustomerProfile(
        customer_id,
        [channel, accepted](const std::string& stored) -> std::optional<std::string> {
          auto profile = profileFromStorage(stored);
          if (!profile) return std::nullopt;
          auto& stats = profile->stats[channel];
          ++stats.attempts;
          if (accepted) ++stats.delivered;
          return profileToStorage(*profile);
        },
        [this, customer_id](Result<Ok> written) {
          if (!written) {
            spdlog::warn("customer {}: engagement count not saved: {}", customer_id,
                         written.error().message);
          }
          storeCountDone(customer_id);
        });
    return;
  }
  withCustomer(customer_id,
               [channel, accepted](Result<CustomerSlot*> loaded, std::function<void()> done) {
                 if (loaded && (*loaded)->has_profile) {
                   auto& stats = (*loaded)->profile.stats[channel];
                   ++stats.attempts;
                   if (accepted) ++stats.delivered;
                   (*loaded)->stats_dirty = true;
                 }
                 done();
               });
}

void Admission::storeCountDone(const std::string& id) {
  auto count = counts_in_store_.find(id);
  if (count == counts_in_store_.end() || --count->second > 0) return;
  counts_in_store_.erase(count);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second->waiting_for_counts) return;
  it->second->waiting_for_counts = false;
  it->second->busy = false;
  runNext(id);
}

void Admission::runNext(const std::string& id) {
  Entry& entry = *entries_.at(id);
  if (entry.queue.empty()) {
    evictIfIdle(id);
    return;
  }
  entry.busy = true;
  auto finished = [this, id] {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    it->second->busy = false;
    runNext(id);
  };
  if (entry.loaded) {
    Work work = std::move(entry.queue.front());
    entry.queue.pop_front();
    return work(&entry.slot, finished);
  }
  if (counts_in_store_.count(id)) {
    entry.waiting_for_counts = true;  // storeCountDone runs this again
    return;
  }
  store_.loadCustomer(id, [this, id,
                           finished](Result<std::optional<store::CustomerRecord>> loaded) {
    Entry& entry = *entries_.at(id);
    if (!loaded) {
      // Everyone waiting hears about it; the next request tries the store again.
      auto waiting = std::move(entry.queue);
      entry.queue.clear();
      entry.busy = false;
      for (auto& work : waiting) work(loaded.error(), [] {});
      evictIfIdle(id);
      return;
    }
    if (loaded.value() && loaded.value()->id != id) {
      // A merged id: the survivor's queue serializes this person's work.
      const std::string survivor = loaded.value()->id;
      merged_into_[id] = survivor;
      auto waiting = std::move(entry.queue);
      entries_.erase(id);
      for (auto& work : waiting) withCustomer(survivor, std::move(work));
      return;
    }
    entry.slot = CustomerSlot{};
    entry.slot.id = id;
    entry.slot.profile.id = id;
    if (loaded.value()) {
      const auto& record = *loaded.value();
      if (!record.profile_json.empty()) {
        auto profile = profileFromStorage(record.profile_json);
        if (profile) {
          entry.slot.profile = std::move(profile.value());
          entry.slot.profile.id = id;
          entry.slot.has_profile = true;
        } else {
          spdlog::error("customer {}: stored profile unreadable: {}", id, profile.error().message);
        }
      }
      auto state = stateFromStorage(record.state_json);
      if (state) {
        entry.slot.state = std::move(state.value());
      } else {
        spdlog::error("customer {}: stored policy state unreadable: {}", id, state.error().message);
      }
    }
    entry.loaded = true;
    Work work = std::move(entry.queue.front());
    entry.queue.pop_front();
    work(&entry.slot, finished);
  });
}

}  // namespace omnigate::api
