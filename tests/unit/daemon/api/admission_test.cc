// Admission against the real SQLite store: an engagement count for a customer who is not in
// memory is written in the store, and a load of that customer waits for it. Loads are answered
// ahead of queued writes, so without the wait the load would miss the count and the next write
// of the cached profile would undo it.

#include "daemon/api/admission.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <future>
#include <optional>

#include "daemon/api/customer_json.h"
#include "daemon/common/clock.h"
#include "daemon/store/sqlite_store.h"
#include "tests/unit/scratch_dir.h"

namespace omnigate::api {
namespace {

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open(
        {(scratch_.path() / "omnigate.db").string(), 64, SystemClock().now()},
        [this](std::function<void()> completion) {
          boost::asio::post(io_, std::move(completion));
        });
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened.value());
  }
  void TearDown() override {
    if (store_) store_->close();
    io_.run_for(std::chrono::milliseconds(50));
  }

  static policy::CustomerProfile profileWithEmail(const std::string& id) {
    policy::CustomerProfile profile;
    profile.id = id;
    profile.contacts.email = id + "@example.com";
    return profile;
  }

  void putProfile(const std::string& id) {
    const policy::CustomerProfile profile = profileWithEmail(id);
    std::optional<bool> written;
    store_->putCustomer(
        {id, profileToStorage(profile), contactKeys(profile.contacts), SystemClock().now()},
        [&](Result<store::CustomerWriteResult> r) { written = r.ok(); });
    ASSERT_TRUE(runUntil([&] { return written.has_value(); }));
    ASSERT_TRUE(*written);
  }

  // Folds `merged` into `survivor` in the store, as a merge through the API does.
  void mergeInStore(const std::string& survivor, const std::string& merged) {
    const policy::CustomerProfile profile = profileWithEmail(survivor);
    std::optional<bool> written;
    store_->mergeCustomers(
        {survivor, merged, profileToStorage(profile), stateToStorage(policy::CustomerState{}),
         contactKeys(profile.contacts), SystemClock().now()},
        [&](Result<Ok> r) { written = r.ok(); });
    ASSERT_TRUE(runUntil([&] { return written.has_value(); }));
    ASSERT_TRUE(*written);
  }

  // The email attempts in the profile Admission holds for `id` (-1: the load failed).
  int cachedEmailAttempts(Admission& admission, const std::string& id) {
    std::optional<int> attempts;
    admission.withCustomer(id, [&](Result<CustomerSlot*> slot, std::function<void()> done) {
      attempts = slot.ok() ? (*slot)->profile.stats["email"].attempts : -1;
      done();
    });
    EXPECT_TRUE(runUntil([&] { return attempts.has_value(); }));
    return attempts.value_or(-1);
  }

  template <class Condition>
  bool runUntil(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
    }
    return condition();
  }

  omnigate::testing::ScratchDir scratch_{"omnigate-admission-test"};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_{
      io_.get_executor()};
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(AdmissionTest, LoadWaitsForACountQueuedInTheStore) {
  putProfile("c-1");
  putProfile("blocker");
  Admission admission(config::Config{}, *store_);

  // Hold the store thread so that the count and the load land in one batch.
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> entered;
  store_->changeCustomerProfile(
      "blocker",
      [&entered, released](const std::string&) -> std::optional<std::string> {
        entered.set_value();
        released.wait();
        return std::nullopt;
      },
      [](Result<Ok>) {});
  entered.get_future().wait();

  admission.recordAttempt("c-1", "email", true);  // c-1 is not in memory: counted in the store
  std::optional<int> attempts_seen;
  admission.withCustomer("c-1", [&](Result<CustomerSlot*> slot, std::function<void()> done) {
    attempts_seen = slot.ok() ? (*slot)->profile.stats["email"].attempts : -1;
    done();
  });
  release.set_value();
  ASSERT_TRUE(runUntil([&] { return attempts_seen.has_value(); }));
  EXPECT_EQ(*attempts_seen, 1);
}

// A message accepted for a customer who was merged away since is delivered later: its count
// belongs to the survivor, and a cached survivor must see it (a count written to the store
// behind its back would be undone by its next profile write).
TEST_F(AdmissionTest, CountForAMergedIdLearnedFromALoadGoesToTheCachedSurvivor) {
  putProfile("a");
  putProfile("b");
  mergeInStore("b", "a");
  Admission admission(config::Config{}, *store_);
  ASSERT_EQ(cachedEmailAttempts(admission, "b"), 0);
  ASSERT_EQ(cachedEmailAttempts(admission, "a"), 0);  // resolves to b

  admission.recordAttempt("a", "email", true);
  EXPECT_EQ(cachedEmailAttempts(admission, "b"), 1);
}

TEST_F(AdmissionTest, CountForAMergedIdLearnedFromTheMergeGoesToTheCachedSurvivor) {
  putProfile("a");
  putProfile("b");
  Admission admission(config::Config{}, *store_);
  ASSERT_EQ(cachedEmailAttempts(admission, "b"), 0);
  mergeInStore("b", "a");
  admission.merged("a", "b");

  admission.recordAttempt("a", "email", true);
  admission.recordAttempt("a", "email", false);
  EXPECT_EQ(cachedEmailAttempts(admission, "b"), 2);
}

}  // namespace
}  // namespace omnigate::api
