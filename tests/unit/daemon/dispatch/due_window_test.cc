#include "daemon/dispatch/due_window.h"

#include <gtest/gtest.h>

namespace omnigate::dispatch {
namespace {

store::DueJob job(std::int64_t due_ms, std::string id, std::string channel = "email") {
  return {fromUnixMillis(due_ms), std::move(id), std::move(channel)};
}

TEST(DueWindow, HoldsNothingBeforeTheFirstRefill) {
  DueWindow window(4);
  EXPECT_TRUE(window.needsRefill());
  EXPECT_FALSE(window.offer(job(1, "a")));  // on disk only until loaded
  EXPECT_EQ(window.size(), 0u);
}

TEST(DueWindow, ShortRefillMeansEverythingIsInMemory) {
  DueWindow window(4);
  window.beginRefill();
  window.finishRefill({job(1, "a"), job(2, "b")}, window.refillLimit());
  EXPECT_TRUE(window.complete());
  EXPECT_FALSE(window.needsRefill());
  EXPECT_TRUE(window.offer(job(100, "z")));
  EXPECT_EQ(window.size(), 3u);
}

TEST(DueWindow, PopsOnlyDueJobsInOrderPerChannel) {
  DueWindow window(10);
  window.beginRefill();
  window.finishRefill({job(5, "a"), job(7, "b", "sms"), job(9, "c")}, 10);
  EXPECT_FALSE(window.popDue("email", fromUnixMillis(4)).has_value());
  auto first = window.popDue("email", fromUnixMillis(9));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "a");
  EXPECT_EQ(window.earliestDue("email"), fromUnixMillis(9));
  EXPECT_EQ(window.earliestDue("sms"), fromUnixMillis(7));
  EXPECT_EQ(window.popDue("sms", fromUnixMillis(9))->id, "b");
  EXPECT_EQ(window.popDue("email", fromUnixMillis(9))->id, "c");
  EXPECT_EQ(window.size(), 0u);
}

TEST(DueWindow, FullRefillSetsBoundaryAndLaterJobsStayOnDisk) {
  DueWindow window(4);
  window.beginRefill();
  const std::size_t limit = window.refillLimit();
  ASSERT_EQ(limit, 4u);
  window.finishRefill({job(1, "a"), job(2, "b"), job(3, "c"), job(4, "d")}, limit);
  EXPECT_FALSE(window.complete());
  EXPECT_FALSE(window.offer(job(5, "e")));  // beyond the boundary
  EXPECT_TRUE(window.offer(job(2, "b2")));  // before it: held, and the latest is evicted
  EXPECT_EQ(window.size(), 4u);
  ASSERT_TRUE(window.refillAfter());
  EXPECT_EQ(window.refillAfter()->id, "c");  // "d" went back to disk
}

TEST(DueWindow, RescheduledJobReplacesItsStaleEntry) {
  DueWindow window(10);
  window.beginRefill();
  window.finishRefill({job(1, "a")}, 10);
  window.offer(job(50, "a"));
  EXPECT_EQ(window.size(), 1u);
  EXPECT_FALSE(window.popDue("email", fromUnixMillis(10)).has_value());
  EXPECT_EQ(window.popDue("email", fromUnixMillis(50))->id, "a");
}

TEST(DueWindow, JobOfferedDuringRefillIsNotLost) {
  DueWindow window(4);
  window.beginRefill();
  window.offer(job(3, "late"));  // committed after the refill query read the table
  window.finishRefill({job(1, "a")}, window.refillLimit());
  EXPECT_EQ(window.size(), 2u);
  EXPECT_EQ(window.popDue("email", fromUnixMillis(10))->id, "a");
  EXPECT_EQ(window.popDue("email", fromUnixMillis(10))->id, "late");
}

TEST(DueWindow, RefillsWhenHalfEmptyAndNotComplete) {
  DueWindow window(4);
  window.beginRefill();
  window.finishRefill({job(1, "a"), job(2, "b"), job(3, "c"), job(4, "d")}, 4);
  EXPECT_FALSE(window.needsRefill());
  window.popDue("email", fromUnixMillis(10));
  window.popDue("email", fromUnixMillis(10));
  EXPECT_TRUE(window.needsRefill());
  EXPECT_EQ(window.refillAfter()->id, "d");
}

TEST(DueWindow, InvalidateForgetsEverything) {
  DueWindow window(4);
  window.beginRefill();
  window.finishRefill({job(1, "a")}, 4);
  window.invalidate();
  EXPECT_EQ(window.size(), 0u);
  EXPECT_TRUE(window.needsRefill());
  EXPECT_FALSE(window.refillAfter().has_value());
}

}  // namespace
}  // namespace omnigate::dispatch
