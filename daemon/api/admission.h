#pragma once

// Per-customer serialization of everything that reads and writes a customer's profile and policy
// state (admission decisions, profile writes, merges, dead-contact marks). Work for one customer
// runs one piece at a time, in arrival order, against an in-memory copy loaded from the store on
// first use; the store writes the result in the same group commit as the message. That is what
// makes caps and dedupe exact under any concurrency: no two decisions for one person overlap.
// Everything runs on the io_context thread; only the store's completions hop threads.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "daemon/common/result.h"
#include "daemon/config/config.h"
#include "daemon/store/store.h"
#include "policy/policy.h"

namespace omnigate::api {

// policy::PolicyConfig from the daemon's config.
policy::PolicyConfig makePolicyConfig(const config::Config& config);

struct CustomerSlot {
  std::string id;            // the surviving id (merged ids resolve to it)
  bool has_profile = false;  // a profile was PUT (or built from inline contacts)
  // profile.stats changed since the profile was last written; the next write carries it, or
  // the eviction of the cached copy writes it (a crash may lose a few counts, which only
  // nudges channel ranking).
  bool stats_dirty = false;
  policy::CustomerProfile profile;
  policy::CustomerState state;
};

class Admission {
 public:
  // `done` must be called exactly once when the work (and its store writes) has finished.
  using Work = std::function<void(Result<CustomerSlot*> slot, std::function<void()> done)>;

  Admission(const config::Config& config, store::Store& store);

  // Runs `work` for customer `id` after every earlier piece of work for that person finished.
  void withCustomer(const std::string& id, Work work);
  // Drops the cached copy of `id` (after erasure or a merge) once its queue is empty.
  void forget(const std::string& id);
  // `merged_id` was folded into `survivor_id`: forgets it, and counts for it go to the survivor.
  void merged(const std::string& merged_id, const std::string& survivor_id);

  // Marks the customer's contact on `channel` (push: the one token) as invalid and persists it.
  void markContactDead(const std::string& customer_id, const std::string& channel,
                       const std::string& recipient, SysTime now);

  // Counts an attempt on `channel` in the customer's engagement history (and a delivery when the
  // provider accepted it), which ranks channels for customers without a stated preference.
  void recordAttempt(const std::string& customer_id, const std::string& channel, bool accepted);

  const policy::PolicyConfig& policyConfig() const { return policy_config_; }
  // Categories, caps and defaults from a reloaded configuration, for every later decision.
  void reconfigure(const config::Config& config) { policy_config_ = makePolicyConfig(config); }
  std::size_t cached() const { return entries_.size(); }

 private:
  struct Entry {
    bool loaded = false;
    bool busy = false;
    bool forget = false;
    // The load waits for counts written to the store for this customer (loads are answered
    // ahead of queued writes, so it would miss them and a later profile write would undo them).
    bool waiting_for_counts = false;
    CustomerSlot slot;
    std::deque<Work> queue;
  };

  void runNext(const std::string& id);
  void evictIfIdle(const std::string& id);

  // Writes a customer's unsaved engagement counts before the entry is dropped.
  void saveStatsThenEvict(const std::string& id);
  // A store-side count for a customer who is not in memory has finished.
  void storeCountDone(const std::string& id);
  // The id that `id` was merged into (through any chain of merges seen since start), or `id`.
  const std::string& survivorOf(const std::string& id) const;

  store::Store& store_;
  std::size_t max_cached_;
  policy::PolicyConfig policy_config_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  // Customers not in memory with engagement counts queued in the store: id → how many.
  std::unordered_map<std::string, int> counts_in_store_;
  // Merged id → the id it was folded into, as learned from merges and loads since start. The
  // store resolves merged ids too, but a count written there for a merged id would miss a cached
  // survivor, whose next profile write would undo it.
  std::unordered_map<std::string, std::string> merged_into_;
};

}  // namespace omnigate::api
