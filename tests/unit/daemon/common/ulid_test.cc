#include "daemon/common/ulid.h"

#include <gtest/gtest.h>

#include <set>

namespace omnigate {
namespace {

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::uint64_t value) : value_(value) {}
  double uniform() override { return 0.5; }
  std::uint64_t next64() override { return value_; }

 private:
  std::uint64_t value_;
};

TEST(Ulid, EncodesTimeInTheFirstTenCharacters) {
  ManualClock clock(fromUnixMillis(0));
  FixedRandom random(0);
  UlidGenerator ids(clock, random);
  EXPECT_EQ(ids.next(), "00000000000000000000000000");
  clock.set(fromUnixMillis(1469918176385));  // the ULID spec's example time
  EXPECT_EQ(ids.next().substr(0, 10), "01ARYZ6S41");
}

TEST(Ulid, StrictlyIncreasingWithinOneMillisecond) {
  ManualClock clock(fromUnixMillis(1795428000000));
  SystemRandom random;
  UlidGenerator ids(clock, random);
  std::string previous = ids.next();
  std::set<std::string> seen{previous};
  for (int i = 0; i < 10'000; ++i) {
    std::string next = ids.next();
    ASSERT_LT(previous, next);
    ASSERT_TRUE(isUlid(next)) << next;
    seen.insert(next);
    previous = next;
  }
  EXPECT_EQ(seen.size(), 10'001u);
}

TEST(Ulid, StaysMonotonicWhenTheClockStepsBack) {
  ManualClock clock(fromUnixMillis(1795428000000));
  SystemRandom random;
  UlidGenerator ids(clock, random);
  std::string first = ids.next();
  clock.set(fromUnixMillis(1795427000000));
  EXPECT_LT(first, ids.next());
}

TEST(Ulid, Validation) {
  EXPECT_TRUE(isUlid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  EXPECT_FALSE(isUlid("01ARZ3NDEKTSV4RRFFQ69G5FA"));    // short
  EXPECT_FALSE(isUlid("01ARZ3NDEKTSV4RRFFQ69G5FAU"));   // U is not Crockford
  EXPECT_FALSE(isUlid("81ARZ3NDEKTSV4RRFFQ69G5FAV"));   // overflows 128 bits
  EXPECT_FALSE(isUlid("01arz3ndektsv4rrffq69g5fav"));   // we only issue upper case
}

}  // namespace
}  // namespace omnigate
