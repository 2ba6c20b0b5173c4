#include "daemon/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/unit/scratch_dir.h"

namespace omnigate::store {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kNow = 1795428000000;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = (dir_ / "omnigate.db").string(); }
  void TearDown() override { store_.reset(); }

  Result<std::unique_ptr<SqliteStore>> open(RecoveryReport* report = nullptr) {
    // Completions run on the store thread here; the tests wait on futures.
    return SqliteStore::open(
        {path_, 64, fromUnixMillis(kNow)}, [](std::function<void()> f) { f(); }, report);
  }

  void openOrDie(RecoveryReport* report = nullptr) {
    auto opened = open(report);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened.value());
  }

  template <class T, class Call>
  Result<T> wait(Call call) {
    std::promise<Result<T>> promise;
    auto future = promise.get_future();
    call([&promise](Result<T> r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  NewMessage newMessage(std::string id, std::string key = "", std::string hash = "h1") {
    NewMessage m;
    m.id = std::move(id);
    m.idempotency_key = std::move(key);
    m.request_hash = std::move(hash);
    m.category = "transactional";
    m.priority = "normal";
    m.plan = {"email", "sms"};
    m.payload_json = R"({"to":{"email":"a@example.com"}})";
    m.decision_json = "[]";
    m.created_at = fromUnixMillis(kNow);
    return m;
  }

  SubmitResult submit(NewMessage m) {
    auto r = wait<SubmitResult>([&](auto cb) { store_->submit(std::move(m), cb); });
    EXPECT_TRUE(r.ok());
    return r.value();
  }

  MessageRecord get(const std::string& id) {
    auto r = wait<std::optional<MessageRecord>>([&](auto cb) { store_->get(id, cb); });
    EXPECT_TRUE(r.ok() && r->has_value()) << id;
    return **r;
  }

  ClaimResult claim(const std::string& id, std::int64_t now = kNow) {
    auto r = wait<ClaimResult>([&](auto cb) {
      store_->claim({id, "hook", fromUnixMillis(now), Millis(0), std::nullopt}, cb);
    });
    EXPECT_TRUE(r.ok());
    return r.value();
  }

  // Claims and finishes the message as sent by "hook" with the provider's id `provider_id`.
  void sendVia(const std::string& id, const std::string& provider_id, int segments = 0) {
    auto claimed = claim(id);
    ASSERT_EQ(claimed.outcome, ClaimOutcome::Claimed);
    ASSERT_TRUE(
        finishSent(id, claimed.attempt_number, provider_id, segments, claimed.message.channel_index)
            .ok());
  }

  Result<Ok> finishSent(const std::string& id, int attempt, const std::string& provider_id,
                        int segments = 0, int channel_index = 0) {
    AttemptFinish finish;
    finish.id = id;
    finish.channel_index = channel_index;
    finish.attempt_number = attempt;
    finish.finished_at = fromUnixMillis(kNow + 10);
    finish.outcome = "accepted";
    finish.provider_message_id = provider_id;
    finish.segments = segments;
    finish.new_status = MessageStatus::Sent;
    return wait<Ok>([&](auto cb) { store_->finishAttempt(finish, cb); });
  }

  ReceiptResult receipt(const std::string& provider_id, MessageStatus status,
                        const std::string& message_id = "", const std::string& provider = "hook") {
    Receipt r;
    r.provider = provider;
    r.provider_message_id = provider_id;
    r.message_id = message_id;
    r.status = status;
    r.code = status == MessageStatus::Failed ? "30003" : "";
    r.detail = status == MessageStatus::Failed ? "Unreachable handset" : "";
    r.received_at = fromUnixMillis(kNow + 1000);
    auto result = wait<ReceiptResult>([&](auto cb) { store_->applyReceipt(r, cb); });
    EXPECT_TRUE(result.ok());
    return result.value();
  }

  omnigate::testing::ScratchDir scratch_{"omnigate-store-test"};
  const fs::path& dir_ = scratch_.path();
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, ReceiptsOnlyMoveForward) {
  openOrDie();
  const std::string id = "01KAAAAAAAAAAAAAAAAAAAAAA1";
  submit(newMessage(id));
  sendVia(id, "SM1", 2);
  struct Step {
    MessageStatus receipt;
    ReceiptOutcome outcome;
    MessageStatus after;
  } steps[] = {
      {MessageStatus::Delivered, ReceiptOutcome::Applied, MessageStatus::Delivered},
      {MessageStatus::Delivered, ReceiptOutcome::Stale, MessageStatus::Delivered},
      {MessageStatus::Failed, ReceiptOutcome::Stale, MessageStatus::Delivered},
      {MessageStatus::Read, ReceiptOutcome::Applied, MessageStatus::Read},
      {MessageStatus::Delivered, ReceiptOutcome::Stale, MessageStatus::Read},
  };
  for (const auto& step : steps) {
    auto result = receipt("SM1", step.receipt);
    EXPECT_EQ(result.outcome, step.outcome) << toString(step.receipt);
    EXPECT_EQ(result.message_id, id);
    EXPECT_EQ(get(id).status, step.after) << toString(step.receipt);
  }
  auto m = get(id);
  ASSERT_EQ(m.receipt_log.size(), 5u);
  EXPECT_EQ(m.receipt_log[0].effect, "applied");
  EXPECT_EQ(m.receipt_log[1].effect, "stale");
  ASSERT_EQ(m.attempt_log.size(), 1u);
  EXPECT_EQ(m.attempt_log[0].segments, 2);
  // Another provider's id, or no match at all, moves nothing.
  EXPECT_EQ(receipt("SM1", MessageStatus::Failed, "", "other").outcome, ReceiptOutcome::Waiting);
  EXPECT_EQ(receipt("", MessageStatus::Delivered).outcome, ReceiptOutcome::Unknown);
  EXPECT_EQ(get(id).status, MessageStatus::Read);
}

TEST_F(SqliteStoreTest, FailureReceiptFallsBackToTheNextChannel) {
  openOrDie();
  const std::string id = "01KAAAAAAAAAAAAAAAAAAAAAA1";
  submit(newMessage(id));  // plan: email, sms
  sendVia(id, "E1");
  auto result = receipt("E1", MessageStatus::Failed);
  EXPECT_EQ(result.outcome, ReceiptOutcome::Applied);
  EXPECT_EQ(result.status, MessageStatus::Queued);
  ASSERT_TRUE(result.requeued);
  EXPECT_EQ(result.requeued->channel, "sms");
  auto m = get(id);
  EXPECT_EQ(m.status, MessageStatus::Queued);
  EXPECT_EQ(m.channel(), "sms");
  EXPECT_NE(m.reason.find("30003"), std::string::npos) << m.reason;
  // On the last channel a failure receipt is final.
  sendVia(id, "S1");
  result = receipt("S1", MessageStatus::Failed);
  EXPECT_EQ(result.status, MessageStatus::Failed);
  EXPECT_FALSE(result.requeued);
  EXPECT_EQ(get(id).status, MessageStatus::Failed);
}

TEST_F(SqliteStoreTest, ReceiptThatBeatsTheReplyWaitsForTheAttempt) {
  openOrDie();
  const std::string id = "01KAAAAAAAAAAAAAAAAAAAAAA1";
  submit(newMessage(id));
  auto claimed = claim(id);
  ASSERT_EQ(claimed.outcome, ClaimOutcome::Claimed);
  // The provider's webhook arrives before its own HTTP reply was recorded.
  EXPECT_EQ(receipt("SM9", MessageStatus::Delivered).outcome, ReceiptOutcome::Waiting);
  EXPECT_EQ(receipt("", MessageStatus::Read, id).outcome, ReceiptOutcome::Waiting);
  EXPECT_EQ(get(id).status, MessageStatus::Sending);
  ASSERT_TRUE(finishSent(id, claimed.attempt_number, "SM9").ok());
  auto m = get(id);
  EXPECT_EQ(m.status, MessageStatus::Read);
  ASSERT_EQ(m.receipt_log.size(), 2u);
  EXPECT_EQ(m.receipt_log[0].effect, "applied");
  EXPECT_EQ(m.receipt_log[1].effect, "applied");
}

TEST_F(SqliteStoreTest, SubmitThenGetRoundTrips) {
  openOrDie();
  auto created = submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  EXPECT_EQ(created.outcome, SubmitOutcome::Created);
  auto m = get("01KAAAAAAAAAAAAAAAAAAAAAA1");
  EXPECT_EQ(m.status, MessageStatus::Queued);
  EXPECT_EQ(m.plan, (std::vector<std::string>{"email", "sms"}));
  EXPECT_EQ(m.channel(), "email");
  EXPECT_EQ(m.next_attempt_at, fromUnixMillis(kNow));
  auto missing = wait<std::optional<MessageRecord>>(
      [&](auto cb) { store_->get("01KAAAAAAAAAAAAAAAAAAAAAZZ", cb); });
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(SqliteStoreTest, IdempotencyKeyReplaysOrConflicts) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1", "shop:k1", "hash-a"));
  auto replay = submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA2", "shop:k1", "hash-a"));
  EXPECT_EQ(replay.outcome, SubmitOutcome::Replayed);
  EXPECT_EQ(replay.message.id, "01KAAAAAAAAAAAAAAAAAAAAAA1");
  auto conflict = submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA3", "shop:k1", "hash-b"));
  EXPECT_EQ(conflict.outcome, SubmitOutcome::Conflict);
  EXPECT_EQ(conflict.message.id, "01KAAAAAAAAAAAAAAAAAAAAAA1");
}

TEST_F(SqliteStoreTest, ClaimFinishAndAttemptLog) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  auto claimed = claim("01KAAAAAAAAAAAAAAAAAAAAAA1");
  ASSERT_EQ(claimed.outcome, ClaimOutcome::Claimed);
  EXPECT_EQ(claimed.attempt_number, 1);
  EXPECT_EQ(claimed.message.status, MessageStatus::Sending);
  // A second claim while sending gets nothing: one attempt at a time.
  EXPECT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA1").outcome, ClaimOutcome::NotPending);

  AttemptFinish finish;
  finish.id = "01KAAAAAAAAAAAAAAAAAAAAAA1";
  finish.attempt_number = 1;
  finish.finished_at = fromUnixMillis(kNow + 50);
  finish.outcome = "retry";
  finish.code = "503";
  finish.new_status = MessageStatus::Queued;
  finish.channel_attempts = 1;
  finish.next_attempt_at = fromUnixMillis(kNow + 5000);
  finish.reason = "will retry";
  ASSERT_TRUE(wait<Ok>([&](auto cb) { store_->finishAttempt(finish, cb); }).ok());

  auto m = get("01KAAAAAAAAAAAAAAAAAAAAAA1");
  EXPECT_EQ(m.status, MessageStatus::Queued);
  EXPECT_EQ(m.next_attempt_at, fromUnixMillis(kNow + 5000));
  ASSERT_EQ(m.attempt_log.size(), 1u);
  EXPECT_EQ(m.attempt_log[0].outcome, "retry");
  EXPECT_EQ(m.attempt_log[0].code, "503");
  EXPECT_EQ(m.attempt_log[0].provider, "hook");
}

TEST_F(SqliteStoreTest, ClaimChecksExpectedDueSoStaleEntriesCannotSendEarly) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  auto r = wait<ClaimResult>([&](auto cb) {
    store_->claim({"01KAAAAAAAAAAAAAAAAAAAAAA1", "hook", fromUnixMillis(kNow), Millis(0),
                   fromUnixMillis(kNow - 1)},
                  cb);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, ClaimOutcome::NotPending);
}

TEST_F(SqliteStoreTest, ClaimExpiresPastTtl) {
  openOrDie();
  auto m = newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1");
  m.expires_at = fromUnixMillis(kNow + 10);
  submit(m);
  EXPECT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA1", kNow + 10).outcome, ClaimOutcome::Expired);
  EXPECT_EQ(get("01KAAAAAAAAAAAAAAAAAAAAAA1").status, MessageStatus::Expired);
}

TEST_F(SqliteStoreTest, CancelOnlyWhilePending) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  auto cancel = [&](const std::string& id) {
    return wait<CancelResult>([&](auto cb) { store_->cancel(id, fromUnixMillis(kNow), cb); })
        .value();
  };
  EXPECT_EQ(cancel("01KAAAAAAAAAAAAAAAAAAAAAA1").outcome, CancelOutcome::Cancelled);
  EXPECT_EQ(cancel("01KAAAAAAAAAAAAAAAAAAAAAA1").outcome, CancelOutcome::AlreadyFinal);
  EXPECT_EQ(cancel("01KAAAAAAAAAAAAAAAAAAAAAZZ").outcome, CancelOutcome::NotFound);
  EXPECT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA1").outcome, ClaimOutcome::NotPending);
}

TEST_F(SqliteStoreTest, LoadDueInKeyOrderWithCursor) {
  openOrDie();
  for (int i = 0; i < 5; ++i) {
    auto m = newMessage("01KAAAAAAAAAAAAAAAAAAAAAA" + std::to_string(i));
    m.send_at = fromUnixMillis(kNow + 1000 * (5 - i));
    m.status = MessageStatus::Scheduled;
    submit(m);
  }
  auto first = wait<std::vector<DueJob>>([&](auto cb) { store_->loadDue(std::nullopt, 2, cb); });
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "01KAAAAAAAAAAAAAAAAAAAAAA4");
  EXPECT_EQ((*first)[0].channel, "email");
  auto rest = wait<std::vector<DueJob>>([&](auto cb) { store_->loadDue(first->back(), 10, cb); });
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[2].id, "01KAAAAAAAAAAAAAAAAAAAAAA0");
}

TEST_F(SqliteStoreTest, RecoveryRetriesInterruptedAttemptsNeverMarksThemSent) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  ASSERT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA1").outcome, ClaimOutcome::Claimed);
  store_.reset();  // as if the process died mid-attempt

  RecoveryReport report;
  openOrDie(&report);
  EXPECT_EQ(report.interrupted, 1);
  EXPECT_EQ(report.pending, 1);
  auto m = get("01KAAAAAAAAAAAAAAAAAAAAAA1");
  EXPECT_EQ(m.status, MessageStatus::Queued);
  ASSERT_EQ(m.attempt_log.size(), 1u);
  EXPECT_EQ(m.attempt_log[0].outcome, "interrupted");
  EXPECT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA1").attempt_number, 2);
}

TEST_F(SqliteStoreTest, SecondOpenOfTheSameDatabaseFailsFast) {
  openOrDie();
  auto second = open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "store_locked");
  EXPECT_NE(second.error().message.find("another omnigated"), std::string::npos);
}

TEST_F(SqliteStoreTest, ForeignDatabaseIsRefusedAndLeftUntouched) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto before = fs::file_size(path_);
  auto opened = open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "store_foreign");
  EXPECT_EQ(fs::file_size(path_), before);
  EXPECT_FALSE(fs::exists(path_ + "-wal"));
}

TEST_F(SqliteStoreTest, GarbageFileIsRefusedAndLeftUntouched) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto opened = open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "store_corrupt");
  EXPECT_EQ(fs::file_size(path_), 8192u);
}

TEST_F(SqliteStoreTest, ChangeCustomerProfileRewritesOnlyAStoredProfile) {
  openOrDie();
  CustomerWrite write{"c-1", R"({"n":1})", {{"email", "a@example.com"}}, fromUnixMillis(kNow)};
  ASSERT_TRUE(wait<CustomerWriteResult>([&](auto cb) { store_->putCustomer(write, cb); }).ok());
  auto change = [](std::string to) {
    return [to](const std::string& stored) -> std::optional<std::string> {
      if (to.empty()) return std::nullopt;
      return stored + "+" + to;
    };
  };
  auto load = [&](const std::string& id) {
    auto r = wait<std::optional<CustomerRecord>>([&](auto cb) { store_->loadCustomer(id, cb); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::nullopt;
  };
  ASSERT_TRUE(
      wait<Ok>([&](auto cb) { store_->changeCustomerProfile("c-1", change("a"), cb); }).ok());
  ASSERT_TRUE(
      wait<Ok>([&](auto cb) { store_->changeCustomerProfile("c-1", change(""), cb); }).ok());
  ASSERT_TRUE(
      wait<Ok>([&](auto cb) { store_->changeCustomerProfile("c-2", change("b"), cb); }).ok());
  auto stored = load("c-1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->profile_json, R"({"n":1}+a)");
  EXPECT_FALSE(load("c-2").has_value());  // no customer is created for a count
}

// A store stuck inside one batch (here: a profile change that does not return) still answers
// a queue snapshot, with the last one it took, instead of holding the scrape behind the batch.
TEST_F(SqliteStoreTest, QueueSnapshotWhileTheStoreIsStuckAnswersWithTheLastOne) {
  openOrDie();
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1"));
  auto first = wait<QueueSnapshot>([&](auto cb) { store_->queueSnapshot(cb); });
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->by_status[static_cast<int>(MessageStatus::Queued)], 1);
  CustomerWrite write{"c-1", "{}", {}, fromUnixMillis(kNow)};
  ASSERT_TRUE(wait<CustomerWriteResult>([&](auto cb) { store_->putCustomer(write, cb); }).ok());

  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> entered;
  store_->changeCustomerProfile(
      "c-1",
      [&entered, released](const std::string&) -> std::optional<std::string> {
        entered.set_value();
        released.wait();
        return std::nullopt;
      },
      [](Result<Ok>) {});
  entered.get_future().wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // past the snapshot's freshness

  std::promise<Result<QueueSnapshot>> answered;
  auto answer = answered.get_future();
  store_->queueSnapshot([&answered](Result<QueueSnapshot> r) { answered.set_value(std::move(r)); });
  const bool in_time = answer.wait_for(std::chrono::milliseconds(500)) == std::future_status::ready;
  release.set_value();
  ASSERT_TRUE(in_time) << "the scrape waited for the stuck batch";
  auto stale = answer.get();
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->taken_at, first->taken_at);
  EXPECT_EQ(stale->by_status, first->by_status);
}

// Schema version 4 kept messages WITHOUT ROWID; version 5 rebuilds it as a rowid table. A store
// as version 4 left it (rebuilt here from a current one) opens with every message intact.
TEST_F(SqliteStoreTest, VersionFourStoreIsMigratedWithItsMessages) {
  openOrDie();
  auto first = newMessage("01KAAAAAAAAAAAAAAAAAAAAAA1", "shop:k1", "hash-a");
  first.customer_id = "c-1";
  first.cancel_keys = {"order-1"};
  first.expires_at = fromUnixMillis(kNow + 60'000);
  submit(first);
  submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA2"));
  ASSERT_EQ(claim("01KAAAAAAAAAAAAAAAAAAAAAA2").outcome, ClaimOutcome::Claimed);
  store_->close();
  store_.reset();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const char* to_version_four = R"sql(
BEGIN;
CREATE TABLE v4 (
  id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, request_hash TEXT NOT NULL,
  customer_id TEXT NOT NULL DEFAULT '', category TEXT NOT NULL, priority TEXT NOT NULL,
  status TEXT NOT NULL, plan TEXT NOT NULL, channel_index INTEGER NOT NULL DEFAULT 0,
  channel_attempts INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, decision TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, send_at INTEGER, expires_at INTEGER,
  next_attempt_at INTEGER, cancel_keys TEXT NOT NULL DEFAULT '', retried_at INTEGER
) WITHOUT ROWID;
INSERT INTO v4 SELECT * FROM messages;
DROP TABLE messages;
ALTER TABLE v4 RENAME TO messages;
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX messages_sending ON messages (status) WHERE status = 'sending';
CREATE INDEX messages_customer ON messages (customer_id, created_at) WHERE customer_id <> '';
CREATE INDEX messages_status ON messages (status);
PRAGMA user_version = 4;
COMMIT;)sql";
  ASSERT_EQ(sqlite3_exec(db, to_version_four, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  // The migration reports that it is still working (the daemon extends systemd's start
  // timeout with it); reported at every progress step here.
  int reports = 0;
  SqliteStoreOptions options{path_, 64, fromUnixMillis(kNow)};
  options.still_working = [&reports] { ++reports; };
  options.still_working_every = std::chrono::milliseconds(0);
  RecoveryReport report;
  auto reopened = SqliteStore::open(
      options, [](std::function<void()> f) { f(); }, &report);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  store_ = std::move(reopened.value());
  EXPECT_GT(reports, 0);
  EXPECT_EQ(report.interrupted, 1);  // the claimed one, as after any crash
  auto migrated = get("01KAAAAAAAAAAAAAAAAAAAAAA1");
  EXPECT_EQ(migrated.customer_id, "c-1");
  EXPECT_EQ(migrated.status, MessageStatus::Queued);
  EXPECT_EQ(migrated.plan, (std::vector<std::string>{"email", "sms"}));
  EXPECT_EQ(migrated.payload_json, first.payload_json);
  EXPECT_EQ(migrated.expires_at, first.expires_at);
  EXPECT_EQ(get("01KAAAAAAAAAAAAAAAAAAAAAA2").status, MessageStatus::Queued);
  auto replay = submit(newMessage("01KAAAAAAAAAAAAAAAAAAAAAA3", "shop:k1", "hash-a"));
  EXPECT_EQ(replay.outcome, SubmitOutcome::Replayed);
  EXPECT_EQ(replay.message.id, "01KAAAAAAAAAAAAAAAAAAAAAA1");
  store_->close();
  store_.reset();

  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT sql FROM sqlite_schema WHERE name = 'messages'), "
                               "(SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'messages' "
                               "AND type = 'index'), (SELECT cancel_keys FROM messages WHERE id = "
                               "'01KAAAAAAAAAAAAAAAAAAAAAA1'), (SELECT user_version FROM "
                               "pragma_user_version)",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  EXPECT_EQ(sql.find("WITHOUT ROWID"), std::string::npos) << sql;
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 6);  // two unique keys and the four named indexes
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)), R"(["order-1"])");
  EXPECT_EQ(sqlite3_column_int(stmt, 3), 5);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, ManyConcurrentSubmitsAreGroupCommitted) {
  openOrDie();
  constexpr int kCount = 2000;
  std::vector<std::promise<bool>> done(kCount);
  for (int i = 0; i < kCount; ++i) {
    char id[27];
    std::snprintf(id, sizeof id, "01KAAAAAAAAAAAAAAAAA%06d", i);
    store_->submit(newMessage(id), [&done, i](Result<SubmitResult> r) {
      done[i].set_value(r.ok() && r->outcome == SubmitOutcome::Created);
    });
  }
  for (auto& d : done) ASSERT_TRUE(d.get_future().get());
  auto stats = store_->stats();
  EXPECT_EQ(stats.operations, static_cast<std::uint64_t>(kCount));
  EXPECT_LT(stats.commits, static_cast<std::uint64_t>(kCount));  // batches, not one per write
  EXPECT_GT(stats.max_batch_seen, 1u);
}

}  // namespace
}  // namespace omnigate::store
