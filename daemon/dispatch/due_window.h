#pragma once

// The in-memory window of pending deliveries. Invariant: every pending job whose (due, id) is at
// or before the boundary is in the window (or being delivered); jobs after it stay on disk
// only. The window is refilled from the store in (due, id) order when it runs low, and evicts its
// latest jobs (moving the boundary back) when it is full, so memory stays bounded whatever the
// size of the queue.

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "daemon/store/store.h"

namespace omnigate::dispatch {

class DueWindow {
 public:
  explicit DueWindow(std::size_t capacity) : capacity_(capacity) {}

  // A job that became pending (new, retried, fallen back). Returns whether it is now held.
  bool offer(const store::DueJob& job);
  // The earliest job of `channel` due at or before `now`, removed from the window.
  std::optional<store::DueJob> popDue(const std::string& channel, SysTime now);
  std::optional<SysTime> earliestDue(const std::string& channel) const;
  std::vector<std::string> channels() const;
  std::size_t size() const { return by_id_.size(); }

  // Refill protocol: when needsRefill(), call beginRefill(), load refillAfter()/refillLimit()
  // from the store, then finishRefill() with what came back (or abortRefill() on error).
  bool needsRefill() const;
  void beginRefill() { refilling_ = true; }
  std::optional<store::DueJob> refillAfter() const { return boundary_; }
  std::size_t refillLimit() const;
  void finishRefill(const std::vector<store::DueJob>& loaded, std::size_t limit);
  void abortRefill();
  // Forget the boundary: the next refill reloads from the start (after a store error left the
  // window unsure of what is pending).
  void invalidate();
  bool complete() const { return complete_; }

 private:
  using Key = std::tuple<std::int64_t, std::string>;
  static Key keyOf(const store::DueJob& job) { return {toUnixMillis(job.due), job.id}; }
  bool withinBoundary(const Key& key) const;
  void insert(const store::DueJob& job);
  void erase(const std::string& id);
  void evictOverflow();

  std::size_t capacity_;
  std::map<std::string, std::set<Key>> by_channel_;
  std::unordered_map<std::string, std::pair<Key, std::string>> by_id_;  // id -> (key, channel)
  std::optional<store::DueJob> boundary_;  // inclusive; nullopt with !complete_ = nothing loaded
  bool complete_ = false;                  // every pending job is in the window
  bool refilling_ = false;
  std::vector<store::DueJob> offered_while_refilling_;
};

}  // namespace omnigate::dispatch
