#include "daemon/dispatch/due_window.h"

namespace omnigate::dispatch {

bool DueWindow::withinBoundary(const Key& key) const {
  if (complete_) return true;
  if (!boundary_) return false;
  return key <= keyOf(*boundary_);
}

bool DueWindow::offer(const store::DueJob& job) {
  erase(job.id);  // a rescheduled job replaces its stale entry
  if (refilling_) offered_while_refilling_.push_back(job);
  if (!withinBoundary(keyOf(job))) return false;
  insert(job);
  evictOverflow();
  return by_id_.count(job.id) != 0;
}

void DueWindow::insert(const store::DueJob& job) {
  auto key = keyOf(job);
  by_channel_[job.channel].insert(key);
  by_id_[job.id] = {key, job.channel};
}

void DueWindow::erase(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto channel = by_channel_.find(it->second.second);
  channel->second.erase(it->second.first);
  if (channel->second.empty()) by_channel_.erase(channel);
  by_id_.erase(it);
}

void DueWindow::evictOverflow() {
  while (by_id_.size() > capacity_) {
    // Drop the globally latest job; the boundary moves to the latest job still held.
    const std::string* latest_channel = nullptr;
    const Key* latest = nullptr;
    for (const auto& [channel, keys] : by_channel_) {
      if (!latest || *keys.rbegin() > *latest) {
        latest = &*keys.rbegin();
        latest_channel = &channel;
      }
    }
    std::string id = std::get<1>(*latest);
    std::string channel = *latest_channel;
    erase(id);
    complete_ = false;
    const Key* held = nullptr;
    for (const auto& [c, keys] : by_channel_) {
      if (!held || *keys.rbegin() > *held) held = &*keys.rbegin();
    }
    if (held) {
      boundary_ = store::DueJob{fromUnixMillis(std::get<0>(*held)), std::get<1>(*held), ""};
    } else {
      boundary_.reset();
    }
  }
}

std::optional<store::DueJob> DueWindow::popDue(const std::string& channel, SysTime now) {
  auto it = by_channel_.find(channel);
  if (it == by_channel_.end()) return std::nullopt;
  const Key& first = *it->second.begin();
  if (std::get<0>(first) > toUnixMillis(now)) return std::nullopt;
  store::DueJob job{fromUnixMillis(std::get<0>(first)), std::get<1>(first), channel};
  erase(job.id);
  return job;
}

std::optional<SysTime> DueWindow::earliestDue(const std::string& channel) const {
  auto it = by_channel_.find(channel);
  if (it == by_channel_.end()) return std::nullopt;
  return fromUnixMillis(std::get<0>(*it->second.begin()));
}

std::vector<std::string> DueWindow::channels() const {
  std::vector<std::string> out;
  for (const auto& [channel, keys] : by_channel_) out.push_back(channel);
  return out;
}

bool DueWindow::needsRefill() const {
  return !complete_ && !refilling_ && by_id_.size() <= capacity_ / 2;
}

std::size_t DueWindow::refillLimit() const {
  return capacity_ > by_id_.size() ? capacity_ - by_id_.size() : 1;
}

void DueWindow::finishRefill(const std::vector<store::DueJob>& loaded, std::size_t limit) {
  refilling_ = false;
  for (const auto& job : loaded) {
    if (!by_id_.count(job.id)) insert(job);
  }
  if (loaded.size() < limit) {
    complete_ = true;
    boundary_.reset();
  } else if (!loaded.empty()) {
    boundary_ = loaded.back();
  }
  // Jobs that became pending while the query ran may have committed after it read: offer them
  // again against the new boundary.
  auto offered = std::move(offered_while_refilling_);
  offered_while_refilling_.clear();
  for (const auto& job : offered) {
    if (withinBoundary(keyOf(job)) && !by_id_.count(job.id)) insert(job);
  }
  evictOverflow();
}

void DueWindow::abortRefill() {
  refilling_ = false;
  offered_while_refilling_.clear();
}

void DueWindow::invalidate() {
  complete_ = false;
  boundary_.reset();
  by_channel_.clear();
  by_id_.clear();
}

}  // namespace omnigate::dispatch
