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

  void putProfile(const std::string& id) {
    policy::CustomerProfile profile;
    profile.id = id;
    profile.contacts.email = id + "@example.com";
    std::optional<bool> written;
    store_->putCustomer(
        {id, profileToStorage(profile), contactKeys(profile.contacts), SystemClock().now()},
        [&](Result<store::CustomerWriteResult> r) { written = r.ok(); });
    ASSERT_TRUE(runUntil([&] { return written.has_value(); }));
    ASSERT_TRUE(*written);
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

}  // namespace
}  // namespace omnigate::api
