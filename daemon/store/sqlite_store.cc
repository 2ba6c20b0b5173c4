#include "daemon/store/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>

#include "daemon/common/clock.h"

namespace omnigate::store {
namespace {

// 'OMNG': marks the file as ours, so a foreign database is refused rather than migrated.
constexpr int kApplicationId = 0x4f4d4e47;

struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE messages (
  id               TEXT PRIMARY KEY,
  idempotency_key  TEXT UNIQUE,
  request_hash     TEXT NOT NULL,
  customer_id      TEXT NOT NULL DEFAULT '',
  category         TEXT NOT NULL,
  priority         TEXT NOT NULL,
  status           TEXT NOT NULL,
  plan             TEXT NOT NULL,
  channel_index    INTEGER NOT NULL DEFAULT 0,
  channel_attempts INTEGER NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  reason           TEXT NOT NULL DEFAULT '',
  payload          TEXT NOT NULL,
  decision         TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  send_at          INTEGER,
  expires_at       INTEGER,
  next_attempt_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX messages_sending ON messages (status) WHERE status = 'sending';
CREATE TABLE attempts (
  message_id          TEXT NOT NULL,
  n                   INTEGER NOT NULL,
  channel             TEXT NOT NULL,
  provider            TEXT NOT NULL,
  started_at          INTEGER NOT NULL,
  finished_at         INTEGER,
  outcome             TEXT NOT NULL,
  code                TEXT NOT NULL DEFAULT '',
  detail              TEXT NOT NULL DEFAULT '',
  provider_message_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (message_id, n)
) WITHOUT ROWID;
)sql"},
    {2, R"sql(
ALTER TABLE attempts ADD COLUMN segments INTEGER NOT NULL DEFAULT 0;
CREATE INDEX attempts_provider_message ON attempts (provider, provider_message_id)
  WHERE provider_message_id <> '';
CREATE TABLE receipts (
  message_id          TEXT NOT NULL,
  provider            TEXT NOT NULL,
  provider_message_id TEXT NOT NULL,
  status              TEXT NOT NULL,
  code                TEXT NOT NULL DEFAULT '',
  detail              TEXT NOT NULL DEFAULT '',
  received_at         INTEGER NOT NULL,
  effect              TEXT NOT NULL
);
CREATE INDEX receipts_message ON receipts (message_id);
CREATE INDEX receipts_waiting ON receipts (provider, provider_message_id) WHERE effect = 'waiting';
)sql"},
    {3, R"sql(
ALTER TABLE messages ADD COLUMN cancel_keys TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_customer ON messages (customer_id, created_at) WHERE customer_id <> '';
CREATE TABLE customers (
  id          TEXT PRIMARY KEY,
  profile     TEXT NOT NULL DEFAULT '',
  state       TEXT NOT NULL DEFAULT '',
  merged_into TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE customer_contacts (
  kind        TEXT NOT NULL,
  value       TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX customer_contacts_owner ON customer_contacts (customer_id);
)sql"},
    // retried_at: POST /v1/messages/{id}/retry restarts retry.max_age from there. The status
    // index keeps the per-status counts of GET /metrics a scan of the index, not of the rows.
    {4, R"sql(
ALTER TABLE messages ADD COLUMN retried_at INTEGER;
CREATE INDEX messages_status ON messages (status);
)sql"},
    // messages becomes a rowid table. WITHOUT ROWID keeps a row inside its index page only up to
    // about a quarter page (~1000 bytes); a message with its payload and decision trace is
    // larger, so every message spilled into an overflow page of its own and cost a 4 KiB page
    // write (and an fsync'd WAL frame) for ~200 bytes. A rowid table keeps rows up to a page
    // inline, and ULIDs inserted in order append to the last page.
    {5, R"sql(
CREATE TABLE messages_v5 (
  id               TEXT PRIMARY KEY,
  idempotency_key  TEXT UNIQUE,
  request_hash     TEXT NOT NULL,
  customer_id      TEXT NOT NULL DEFAULT '',
  category         TEXT NOT NULL,
  priority         TEXT NOT NULL,
  status           TEXT NOT NULL,
  plan             TEXT NOT NULL,
  channel_index    INTEGER NOT NULL DEFAULT 0,
  channel_attempts INTEGER NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  reason           TEXT NOT NULL DEFAULT '',
  payload          TEXT NOT NULL,
  decision         TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  send_at          INTEGER,
  expires_at       INTEGER,
  next_attempt_at  INTEGER,
  cancel_keys      TEXT NOT NULL DEFAULT '',
  retried_at       INTEGER
);
INSERT INTO messages_v5 SELECT id, idempotency_key, request_hash, customer_id, category, priority,
  status, plan, channel_index, channel_attempts, attempts, reason, payload, decision, created_at,
  updated_at, send_at, expires_at, next_attempt_at, cancel_keys, retried_at
  FROM messages ORDER BY id;
DROP TABLE messages;
ALTER TABLE messages_v5 RENAME TO messages;
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX messages_sending ON messages (status) WHERE status = 'sending';
CREATE INDEX messages_customer ON messages (customer_id, created_at) WHERE customer_id <> '';
CREATE INDEX messages_status ON messages (status);
)sql"},
};

constexpr const char* kStatusNames[] = {"queued",    "scheduled", "sending", "sent",
                                        "delivered", "read",      "failed",  "expired",
                                        "cancelled", "suppressed"};

std::int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string planToJson(const std::vector<std::string>& plan) {
  boost::json::array array;
  for (const auto& channel : plan) array.emplace_back(channel);
  return boost::json::serialize(array);
}

std::vector<std::string> planFromJson(const std::string& text) {
  std::vector<std::string> plan;
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return plan;
  for (const auto& item : value.as_array()) {
    if (item.is_string()) plan.emplace_back(item.as_string());
  }
  return plan;
}

void bindOptionalTime(SQLite::Statement& stmt, int index, const std::optional<SysTime>& time) {
  if (time) {
    stmt.bind(index, static_cast<int64_t>(toUnixMillis(*time)));
  } else {
    stmt.bind(index);
  }
}

std::optional<SysTime> optionalTime(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return fromUnixMillis(column.getInt64());
}

// Column list shared by every query that returns a MessageRecord.
constexpr const char* kMessageColumns =
    "id, customer_id, category, priority, status, plan, channel_index, channel_attempts, "
    "attempts, reason, payload, decision, created_at, updated_at, send_at, expires_at, "
    "next_attempt_at, retried_at";

MessageRecord readMessage(SQLite::Statement& stmt) {
  MessageRecord m;
  m.id = stmt.getColumn(0).getString();
  m.customer_id = stmt.getColumn(1).getString();
  m.category = stmt.getColumn(2).getString();
  m.priority = stmt.getColumn(3).getString();
  m.status = parseMessageStatus(stmt.getColumn(4).getString()).value_or(MessageStatus::Failed);
  m.plan = planFromJson(stmt.getColumn(5).getString());
  m.channel_index = stmt.getColumn(6).getInt();
  m.channel_attempts = stmt.getColumn(7).getInt();
  m.attempts = stmt.getColumn(8).getInt();
  m.reason = stmt.getColumn(9).getString();
  m.payload_json = stmt.getColumn(10).getString();
  m.decision_json = stmt.getColumn(11).getString();
  m.created_at = fromUnixMillis(stmt.getColumn(12).getInt64());
  m.updated_at = fromUnixMillis(stmt.getColumn(13).getInt64());
  m.send_at = optionalTime(stmt.getColumn(14));
  m.expires_at = optionalTime(stmt.getColumn(15));
  m.next_attempt_at = optionalTime(stmt.getColumn(16));
  m.retried_at = optionalTime(stmt.getColumn(17));
  return m;
}

bool isPending(MessageStatus status) {
  return status == MessageStatus::Queued || status == MessageStatus::Scheduled;
}

Error storeError(const SQLite::Exception& e) {
  int primary = e.getErrorCode() & 0xff;
  if (primary == SQLITE_FULL) {
    return makeError("storage_full", std::string("the state directory is full: ") + e.what());
  }
  if (primary == SQLITE_IOERR) {
    return makeError("storage_io_error", std::string("storage I/O error: ") + e.what());
  }
  return makeError("storage_error", e.what());
}

}  // namespace

const char* toString(MessageStatus status) { return kStatusNames[static_cast<int>(status)]; }

std::optional<MessageStatus> parseMessageStatus(std::string_view text) {
  for (int i = 0; i < static_cast<int>(std::size(kStatusNames)); ++i) {
    if (text == kStatusNames[i]) return static_cast<MessageStatus>(i);
  }
  return std::nullopt;
}

bool isFinal(MessageStatus status) {
  switch (status) {
    case MessageStatus::Queued:
    case MessageStatus::Scheduled:
    case MessageStatus::Sending:
      return false;
    default:
      return true;
  }
}

const std::string& MessageRecord::channel() const {
  static const std::string kNone;
  if (channel_index < 0 || channel_index >= static_cast<int>(plan.size())) return kNone;
  return plan[channel_index];
}

class SqliteStore::Impl {
 public:
  struct Operation {
    // Runs inside the batch's transaction; returns the completion to post after COMMIT.
    std::function<std::function<void()>(Impl&)> run;
    std::function<void(Error)> fail;
    // Reads nothing that an operation queued before it may still be writing (see enqueueRead):
    // runs before the batch's write transaction and answers without waiting for its COMMIT.
    bool read_only = false;
  };

  Impl(std::unique_ptr<SQLite::Database> db, int lock_fd, std::size_t max_batch, Poster post)
      : db_(std::move(db)), lock_fd_(lock_fd), max_batch_(max_batch), post_(std::move(post)) {}

  ~Impl() {
    stop();
    statements_.clear();
    db_.reset();
    if (wal_fd_ >= 0) ::close(wal_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  void start() {
    syncer_ = std::thread([this] { syncLoop(); });
    thread_ = std::thread([this] { loop(); });
    // Named for top -H, perf and gdb.
    ::pthread_setname_np(syncer_.native_handle(), "og-wal-sync");
    ::pthread_setname_np(thread_.native_handle(), "og-store");
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    {
      std::lock_guard lock(sync_mutex_);
      sync_stopping_ = true;
    }
    sync_wake_.notify_all();
    if (syncer_.joinable()) syncer_.join();
  }

  template <class T>
  void enqueue(std::function<Result<T>(Impl&)> body, Callback<T> done, bool read_only = false) {
    Operation op;
    op.read_only = read_only;
    op.run = [body = std::move(body), done](Impl& impl) -> std::function<void()> {
      auto result = std::make_shared<Result<T>>(body(impl));
      return [done, result]() { done(std::move(*result)); };
    };
    op.fail = [done](Error error) { done(std::move(error)); };
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || failed_) {
        auto error = failed_ ? makeError("storage_io_error", "the store has failed")
                             : makeError("shutting_down", "the store is closing");
        post_([fail = std::move(op.fail), error]() { fail(error); });
        return;
      }
      queue_.push_back(std::move(op));
    }
    wake_.notify_one();
  }

  // A read whose caller guarantees that no write to what it reads is queued or uncommitted:
  // the single connection answers it ahead of the pending writes, outside their transaction,
  // so it costs no fsync wait (a second, read-only connection would be faster still, but two
  // connections expose Debian's SQLite to the WAL-reset bug; see the header).
  template <class T>
  void enqueueRead(std::function<Result<T>(Impl&)> body, Callback<T> done) {
    enqueue<T>(std::move(body), std::move(done), true);
  }

  SQLite::Statement& statement(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      it = statements_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
    } else {
      it->second->reset();
      it->second->clearBindings();
    }
    return *it->second;
  }

  SQLite::Database& db() { return *db_; }
  // Intake stores a message only while the delivery reserve is in place (see ensureReserve).
  bool reserveForIntake() { return ensureReserve(); }
  bool failed() const { return failed_.load(); }
  StoreStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }
  // How long the store thread has been inside its current batch, or the syncer inside its
  // current fdatasync (zero while both wait for work): the watchdog stops confirming liveness
  // when a commit or a sync hangs.
  std::chrono::milliseconds busyFor() const {
    const std::int64_t since_first =
        std::min(nonZeroOrMax(busy_since_ns_.load()), nonZeroOrMax(sync_since_ns_.load()));
    if (since_first == std::numeric_limits<std::int64_t>::max()) {
      return std::chrono::milliseconds(0);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(steadyNowNs() - since_first));
  }

  // The last queue snapshot while it is fresh: at least a second, and fifty times what the count
  // took, so a scrape every second cannot keep a large store busy counting.
  std::optional<QueueSnapshot> freshSnapshot() const {
    std::lock_guard lock(mutex_);
    if (!snapshot_ || std::chrono::steady_clock::now() - snapshot_at_ > snapshot_ttl_) {
      return std::nullopt;
    }
    return snapshot_;
  }
  std::optional<QueueSnapshot> lastSnapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  void keepSnapshot(const QueueSnapshot& snapshot, std::chrono::steady_clock::duration took) {
    std::lock_guard lock(mutex_);
    snapshot_ = snapshot;
    snapshot_at_ = std::chrono::steady_clock::now();
    snapshot_ttl_ =
        std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(1), took * 50);
  }
  void post(std::function<void()> completion) { post_(std::move(completion)); }
  std::uint64_t walBytes() const {
    struct stat st {};
    if (::stat((db_->getFilename() + "-wal").c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  static std::int64_t nonZeroOrMax(std::int64_t ns) {
    return ns == 0 ? std::numeric_limits<std::int64_t>::max() : ns;
  }

  // A committed batch waiting for the fdatasync that makes it durable.
  struct Committed {
    std::vector<Operation> ops;  // their `fail` is needed if the sync fails
    std::vector<std::function<void()>> completions;
    std::chrono::steady_clock::time_point began;
  };

  void loop() {
    std::vector<Operation> batch;
    while (true) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued has run
        while (!queue_.empty() && batch.size() < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      busy_since_ns_ = steadyNowNs();
      runReads(batch);
      if (!batch.empty()) runBatch(batch);
      busy_since_ns_ = 0;
      releaseOnLoop(batch);
    }
  }

  // An operation's closures may hold the last reference to something that lives on the io
  // thread (an HTTP session waiting for its answer): they are let go there, after the
  // completions posted before them, never on this thread.
  void releaseOnLoop(std::vector<Operation>& ops) {
    if (ops.empty()) return;
    auto spent = std::make_shared<std::vector<Operation>>(std::move(ops));
    ops.clear();
    post_([spent = std::move(spent)] {});
  }

  // Runs the batch's read-only operations in one read transaction and posts their completions
  // at once; the batch keeps only its writes.
  void runReads(std::vector<Operation>& batch, bool inside_write_transaction = false) {
    auto first_read = std::stable_partition(batch.begin(), batch.end(),
                                            [](const Operation& op) { return !op.read_only; });
    if (first_read == batch.end()) return;
    std::vector<Operation> reads(std::make_move_iterator(first_read),
                                 std::make_move_iterator(batch.end()));
    batch.erase(first_read, batch.end());
    bool in_transaction = false;
    if (!inside_write_transaction) {
      try {
        db_->exec("BEGIN");
        in_transaction = true;
      } catch (const SQLite::Exception&) {
        // Each read then runs on its own (autocommit) and reports its own error.
      }
    }
    for (auto& op : reads) {
      try {
        post_(op.run(*this));
      } catch (const SQLite::Exception& e) {
        post_([fail = std::move(op.fail), error = storeError(e)]() { fail(error); });
      }
    }
    if (in_transaction) rollback();
    releaseOnLoop(reads);
  }

  // `extend`: while the syncer is still busy with the previous batch, operations that arrive
  // join this transaction instead of waiting for their own; the COMMIT comes when the syncer is
  // free (or the batch is full). Batches then grow to what one fdatasync takes, and the pages
  // every commit rewrites (the ends of the indexes) are written once for all of them.
  void runBatch(std::vector<Operation>& batch, bool extend = true) {
    std::vector<std::function<void()>> completions;
    completions.reserve(batch.size());
    const auto began = std::chrono::steady_clock::now();
    try {
      db_->exec("BEGIN IMMEDIATE");
      for (auto& op : batch) completions.push_back(op.run(*this));
      while (extend && batch.size() < max_batch_) {
        std::vector<Operation> more;
        {
          std::unique_lock lock(mutex_);
          wake_.wait(lock, [this] { return stopping_ || !queue_.empty() || !syncing_; });
          if (queue_.empty()) break;  // the syncer is free (or the store is closing)
          while (!queue_.empty() && batch.size() + more.size() < max_batch_) {
            more.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        // Safe inside this transaction: a read-only operation reads nothing queued before it.
        runReads(more, true);
        for (auto& op : more) {
          batch.push_back(std::move(op));
          completions.push_back(batch.back().run(*this));
        }
      }
      db_->exec("COMMIT");
    } catch (const SQLite::Exception& e) {
      rollback();
      Error error = storeError(e);
      if (error.code == "storage_io_error") {
        // An fsync/write error is not retried (dirty pages may already be gone): fail
        // everything, refuse new work, and let the daemon exit for systemd to restart it.
        failAll(batch, error);
        failed_ = true;
        return;
      }
      if (error.code == "storage_full" && reserve_ok_ && !retrying_full_) {
        // Free the reserve and run the batch again: intake now refuses (it needs the reserve
        // back) while deliveries of stored messages keep their state changes going.
        releaseReserve();
        retrying_full_ = true;
        runBatch(batch, false);
        retrying_full_ = false;
        return;
      }
      if (batch.size() > 1) {
        // Isolate the operation at fault: each one again in its own transaction.
        for (auto& op : batch) {
          std::vector<Operation> single;
          single.push_back(std::move(op));
          runBatch(single, false);
          releaseOnLoop(single);
        }
        return;
      }
      failAll(batch, error);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      syncing_ = true;
    }
    Committed committed{std::move(batch), std::move(completions), began};
    batch.clear();
    {
      std::lock_guard lock(sync_mutex_);
      unsynced_.push_back(std::move(committed));
    }
    sync_wake_.notify_one();
  }

  // Group commit in two stages. COMMIT (synchronous=NORMAL) writes the batch's WAL frames; this
  // thread then fdatasyncs the WAL and only then posts the completions, so nothing is answered
  // before it is on disk, while the store thread already runs the next batch instead of
  // waiting for the disk. One fdatasync covers every frame written before it began, so each
  // sync makes all the batches committed meanwhile durable.
  void syncLoop() {
    std::vector<Committed> batches;
    while (true) {
      {
        std::unique_lock lock(sync_mutex_);
        sync_wake_.wait(lock, [this] { return sync_stopping_ || !unsynced_.empty(); });
        if (unsynced_.empty()) return;
        batches.swap(unsynced_);
      }
      sync_since_ns_ = steadyNowNs();
      Status synced = failed_ ? makeError("storage_io_error", "the store has failed") : syncWal();
      sync_since_ns_ = 0;
      for (auto& committed : batches) {
        if (!synced) {
          // Frames the kernel failed to write may be gone already: nothing in these batches
          // is acknowledged, nothing later is accepted, and the daemon exits.
          failed_ = true;
          failAll(committed.ops, synced.error());
        } else {
          recordDurable(committed);
          for (auto& completion : committed.completions) post_(std::move(completion));
        }
        releaseOnLoop(committed.ops);
      }
      batches.clear();
      {
        std::scoped_lock lock(mutex_, sync_mutex_);
        syncing_ = !unsynced_.empty();
      }
      wake_.notify_all();
    }
  }

  Status syncWal() {
    if (wal_fd_ < 0) {
      const std::string path = db_->getFilename() + "-wal";
      wal_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (wal_fd_ < 0) {
        return makeError("storage_io_error",
                         "cannot open " + path + " to sync it: " + std::strerror(errno));
      }
    }
    if (::fdatasync(wal_fd_) != 0) {
      return makeError(
          "storage_io_error",
          std::string("fdatasync of the write-ahead log failed: ") + std::strerror(errno));
    }
    return Ok{};
  }

  // Counted when durable, all under one lock, so every counter and histogram of a stats()
  // read describes the same commits.
  void recordDurable(const Committed& committed) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - committed.began).count();
    const std::size_t size = committed.ops.size();
    std::lock_guard lock(mutex_);
    stats_.commits++;
    stats_.operations += size;
    stats_.max_batch_seen = std::max<std::uint64_t>(stats_.max_batch_seen, size);
    stats_.batch_buckets[bucketOf(static_cast<double>(size), StoreStats::kBatchBounds)]++;
    stats_.latency_sum_seconds += seconds;
    stats_.latency_buckets[bucketOf(seconds, StoreStats::kLatencyBounds)]++;
  }

  // The histogram bucket of `value`: the first upper bound at or above it, past the end for +Inf.
  template <std::size_t N>
  static std::size_t bucketOf(double value, const std::array<double, N>& bounds) {
    return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) -
                                    bounds.begin());
  }

  // Disk space held back for messages already stored: a full state directory must stop intake,
  // not delivery, yet every state change needs WAL space too. Intake runs only while the
  // reserve file exists; the first SQLITE_FULL deletes it, and intake recreates it once space
  // is free again.
  static constexpr off_t kReserveBytes = 256 << 10;

  bool ensureReserve() {
    if (reserve_ok_) return true;
    const std::string path = db_->getFilename() + ".reserve";
    if (reserve_released_) {
      // Only once there is clearly room again, or the space delivery needs goes straight back.
      struct statvfs fs {};
      if (::statvfs(path.c_str(), &fs) != 0 && ::statvfs(db_->getFilename().c_str(), &fs) != 0) {
        return false;
      }
      if (static_cast<off_t>(fs.f_bavail * fs.f_frsize) < 3 * kReserveBytes) return false;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    int rc = ::posix_fallocate(fd, 0, kReserveBytes);
    ::close(fd);
    if (rc != 0) {
      ::unlink(path.c_str());
      return false;
    }
    reserve_ok_ = true;
    reserve_released_ = false;
    return true;
  }

  void releaseReserve() {
    ::unlink((db_->getFilename() + ".reserve").c_str());
    reserve_ok_ = false;
    reserve_released_ = true;
  }

  void rollback() {
    try {
      if (!db_->getHandle() || sqlite3_get_autocommit(db_->getHandle()) == 0) {
        db_->exec("ROLLBACK");
      }
    } catch (const SQLite::Exception&) {
      // The transaction is already gone (SQLite rolls back by itself on some errors).
    }
  }

  void failAll(std::vector<Operation>& batch, const Error& error) {
    for (auto& op : batch) {
      post_([fail = std::move(op.fail), error]() { fail(error); });
    }
  }

  std::unique_ptr<SQLite::Database> db_;
  int lock_fd_;
  std::size_t max_batch_;
  Poster post_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Operation> queue_;
  bool stopping_ = false;
  std::atomic<bool> failed_{false};
  bool reserve_ok_ = false;        // store thread only
  bool reserve_released_ = false;  // store thread only
  bool retrying_full_ = false;     // store thread only
  std::atomic<std::int64_t> busy_since_ns_{0};
  std::atomic<std::int64_t> sync_since_ns_{0};
  bool syncing_ = false;  // under mutex_: a committed batch is not yet synced
  StoreStats stats_;
  std::optional<QueueSnapshot> snapshot_;
  std::chrono::steady_clock::time_point snapshot_at_;
  std::chrono::steady_clock::duration snapshot_ttl_{};
  std::thread thread_;

  // The syncer's side (see syncLoop).
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;
  std::vector<Committed> unsynced_;
  bool sync_stopping_ = false;
  int wal_fd_ = -1;  // syncer thread only
  std::thread syncer_;
};

namespace {

Result<int> lockStateFile(const std::string& db_path) {
  std::string lock_path = db_path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return makeError("store_lock",
                     "cannot open lock file " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return makeError("store_locked", "another omnigated is already using " + db_path +
                                           " (lock held on " + lock_path + ")");
    }
    return makeError("store_lock", "cannot lock " + lock_path + ": " + std::strerror(err));
  }
  return fd;
}

// Refuses, without writing anything, a non-empty file that is not an omnigate database.
Status checkForeignFile(SQLite::Database& db, const std::string& path) {
  int app_id = db.execAndGet("PRAGMA application_id").getInt();
  int tables = db.execAndGet("SELECT count(*) FROM sqlite_schema").getInt();
  if (app_id == kApplicationId || (app_id == 0 && tables == 0)) return Ok{};
  return makeError("store_foreign", path + " is not an omnigate database (application_id " +
                                        std::to_string(app_id) + ", " + std::to_string(tables) +
                                        " schema objects); refusing to touch it");
}

struct StillWorking {
  std::function<void()> report;
  std::chrono::milliseconds every;
  std::chrono::steady_clock::time_point last;

  static int onProgress(void* self) {
    auto& state = *static_cast<StillWorking*>(self);
    if (!state.report) return 0;
    const auto now = std::chrono::steady_clock::now();
    if (now - state.last >= state.every) {
      state.last = now;
      state.report();
    }
    return 0;  // go on
  }
};

// `still_working` hears of every migration step besides SQLite's progress ticks.
Status migrate(SQLite::Database& db, StillWorking& still_working) {
  int version = db.execAndGet("PRAGMA user_version").getInt();
  constexpr int kLatest = std::size(kMigrations);
  if (version > kLatest) {
    return makeError("store_version", "the database schema version " + std::to_string(version) +
                                          " is newer than this omnigated understands (" +
                                          std::to_string(kLatest) + ")");
  }
  for (const auto& migration : kMigrations) {
    if (migration.version <= version) continue;
    StillWorking::onProgress(&still_working);
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(migration.sql);
    db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    db.exec("PRAGMA user_version = " + std::to_string(migration.version));
    txn.commit();
  }
  return Ok{};
}

RecoveryReport recover(SQLite::Database& db, SysTime now) {
  RecoveryReport report;
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  // A claimed message whose outcome was never recorded may or may not have reached the
  // provider: it is retried (at-least-once), never assumed sent.
  SQLite::Statement attempts(db,
                             "UPDATE attempts SET outcome = 'interrupted', finished_at = ?, "
                             "detail = 'the daemon stopped before the provider answered' "
                             "WHERE outcome = 'in_flight'");
  attempts.bind(1, static_cast<int64_t>(toUnixMillis(now)));
  attempts.exec();
  SQLite::Statement messages(db,
                             "UPDATE messages SET status = 'queued', next_attempt_at = ?, "
                             "updated_at = ? WHERE status = 'sending'");
  messages.bind(1, static_cast<int64_t>(toUnixMillis(now)));
  messages.bind(2, static_cast<int64_t>(toUnixMillis(now)));
  report.interrupted = messages.exec();
  txn.commit();
  report.pending =
      db.execAndGet("SELECT count(*) FROM messages WHERE next_attempt_at IS NOT NULL").getInt64();
  return report;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteStoreOptions& options,
                                                       Poster post_completion,
                                                       RecoveryReport* report) {
  auto lock = lockStateFile(options.path);
  if (!lock) return lock.error();
  int lock_fd = lock.value();
  auto release = [&] { ::close(lock_fd); };
  try {
    auto db = std::make_unique<SQLite::Database>(
        options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    if (auto foreign = checkForeignFile(*db, options.path); !foreign) {
      release();
      return foreign.error();
    }
    std::string mode = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    // NORMAL: COMMIT writes the WAL without syncing it; the syncer thread's fdatasync does,
    // before any completion is posted (see syncLoop), so acknowledged still means on disk.
    db->exec("PRAGMA synchronous = NORMAL");
    if (mode != "wal" || db->execAndGet("PRAGMA synchronous").getInt() != 1) {
      release();
      return makeError("store_durability",
                       "SQLite refused WAL with synchronous=NORMAL on " + options.path);
    }
    db->exec("PRAGMA busy_timeout = 5000");
    db->exec("PRAGMA foreign_keys = OFF");
    // The default 2 MiB page cache is smaller than the hot part of a busy store (due messages,
    // customers being admitted): 32 MiB keeps it in memory and out of pread().
    db->exec("PRAGMA cache_size = -32768");
    StillWorking still_working{options.still_working, options.still_working_every,
                               std::chrono::steady_clock::now()};
    if (still_working.report) {
      // Every ~100k virtual machine instructions SQLite asks whether to go on; the answer is
      // always yes, and the time since the last report decides whether to report again.
      ::sqlite3_progress_handler(db->getHandle(), 100'000, &StillWorking::onProgress,
                                 &still_working);
    }
    if (auto migrated = migrate(*db, still_working); !migrated) {
      ::sqlite3_progress_handler(db->getHandle(), 0, nullptr, nullptr);
      release();
      return migrated.error();
    }
    auto recovery = recover(*db, options.now);
    ::sqlite3_progress_handler(db->getHandle(), 0, nullptr, nullptr);
    if (report) *report = recovery;
    ::chmod(options.path.c_str(), 0600);
    auto impl = std::make_unique<Impl>(std::move(db), lock_fd, options.max_batch,
                                       std::move(post_completion));
    impl->start();
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
  } catch (const SQLite::Exception& e) {
    release();
    int primary = e.getErrorCode() & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      return makeError("store_corrupt", options.path +
                                            " is corrupt or not a SQLite database; refusing to "
                                            "start and leaving it untouched (" +
                                            e.what() + ")");
    }
    return makeError("store_open", "cannot open " + options.path + ": " + e.what());
  }
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

void SqliteStore::close() { impl_->stop(); }
bool SqliteStore::failed() const { return impl_->failed(); }
std::chrono::milliseconds SqliteStore::busyFor() const { return impl_->busyFor(); }
StoreStats SqliteStore::stats() const {
  StoreStats stats = impl_->stats();
  stats.wal_bytes = impl_->walBytes();
  return stats;
}
std::size_t SqliteStore::queuedOperations() const { return impl_->queued(); }

namespace {

std::optional<MessageRecord> findMessage(SqliteStore::Impl& impl, const std::string& id) {
  auto& stmt =
      impl.statement(std::string("SELECT ") + kMessageColumns + " FROM messages WHERE id = ?");
  stmt.bind(1, id);
  if (!stmt.executeStep()) return std::nullopt;
  return readMessage(stmt);
}

std::optional<std::pair<MessageRecord, std::string>> findByIdempotencyKey(SqliteStore::Impl& impl,
                                                                          const std::string& key) {
  auto& stmt = impl.statement(std::string("SELECT ") + kMessageColumns +
                              ", request_hash FROM messages WHERE idempotency_key = ?");
  stmt.bind(1, key);
  if (!stmt.executeStep()) return std::nullopt;
  auto record = readMessage(stmt);
  return std::make_pair(std::move(record), stmt.getColumn(18).getString());
}

const char* receiptEffectName(ReceiptOutcome outcome) {
  switch (outcome) {
    case ReceiptOutcome::Applied:
      return "applied";
    case ReceiptOutcome::Waiting:
      return "waiting";
    default:
      return "stale";
  }
}

void insertReceipt(SqliteStore::Impl& impl, const std::string& message_id, const Receipt& receipt,
                   ReceiptOutcome outcome) {
  auto& stmt = impl.statement(
      "INSERT INTO receipts (message_id, provider, provider_message_id, status, code, detail, "
      "received_at, effect) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  stmt.bind(1, message_id);
  stmt.bind(2, receipt.provider);
  stmt.bind(3, receipt.provider_message_id);
  stmt.bind(4, toString(receipt.status));
  stmt.bind(5, receipt.code);
  stmt.bind(6, receipt.detail);
  stmt.bind(7, static_cast<int64_t>(toUnixMillis(receipt.received_at)));
  stmt.bind(8, receiptEffectName(outcome));
  stmt.exec();
}

// Moves `message` as `receipt` says, in the database and in memory. Receipts only move forward
// (sent → delivered → read); a failure counts only before the message was confirmed delivered.
ReceiptResult transitionOnReceipt(SqliteStore::Impl& impl, MessageRecord& message,
                                  const Receipt& receipt) {
  ReceiptResult result;
  result.message_id = message.id;
  result.status = message.status;
  if (message.status == MessageStatus::Sending) {
    result.outcome = ReceiptOutcome::Waiting;
    return result;
  }
  const bool confirmed =
      message.status == MessageStatus::Delivered || message.status == MessageStatus::Read;
  bool moves = false;
  switch (receipt.status) {
    case MessageStatus::Delivered:
      moves = message.status == MessageStatus::Sent;
      break;
    case MessageStatus::Read:
      moves = message.status == MessageStatus::Sent || confirmed;
      moves = moves && message.status != MessageStatus::Read;
      break;
    case MessageStatus::Failed:
      moves = message.status == MessageStatus::Sent;
      break;
    default:
      break;
  }
  if (!moves) {
    result.outcome = ReceiptOutcome::Stale;
    return result;
  }
  const auto now_ms = static_cast<int64_t>(toUnixMillis(receipt.received_at));
  std::string reason = message.reason;
  std::optional<SysTime> next;
  MessageStatus status = receipt.status;
  if (receipt.status == MessageStatus::Failed) {
    std::string what = receipt.provider + " reported the " + message.channel() + " message failed" +
                       (receipt.code.empty() ? "" : " (" + receipt.code + ")") +
                       (receipt.detail.empty() ? "" : ": " + receipt.detail);
    if (message.channel_index + 1 < static_cast<int>(message.plan.size())) {
      message.channel_index += 1;
      message.channel_attempts = 0;
      status = MessageStatus::Queued;
      next = receipt.received_at;
      reason = what + "; falling back to " + message.channel();
      result.requeued = DueJob{receipt.received_at, message.id, message.channel()};
    } else {
      reason = what;
    }
  }
  auto& stmt = impl.statement(
      "UPDATE messages SET status = ?, channel_index = ?, channel_attempts = ?, "
      "next_attempt_at = ?, reason = ?, updated_at = ? WHERE id = ?");
  stmt.bind(1, toString(status));
  stmt.bind(2, message.channel_index);
  stmt.bind(3, message.channel_attempts);
  bindOptionalTime(stmt, 4, next);
  stmt.bind(5, reason);
  stmt.bind(6, now_ms);
  stmt.bind(7, message.id);
  stmt.exec();
  message.status = status;
  result.outcome = ReceiptOutcome::Applied;
  result.status = status;
  return result;
}

}  // namespace

void SqliteStore::applyReceipt(Receipt receipt, Callback<ReceiptResult> done) {
  impl_->enqueue<ReceiptResult>(
      [receipt = std::move(receipt)](Impl& impl) -> Result<ReceiptResult> {
        std::optional<MessageRecord> message;
        if (!receipt.message_id.empty()) message = findMessage(impl, receipt.message_id);
        if (!message && !receipt.provider_message_id.empty()) {
          auto& stmt = impl.statement(
              "SELECT message_id FROM attempts WHERE provider = ? AND provider_message_id = ? "
              "ORDER BY started_at DESC LIMIT 1");
          stmt.bind(1, receipt.provider);
          stmt.bind(2, receipt.provider_message_id);
          if (stmt.executeStep()) message = findMessage(impl, stmt.getColumn(0).getString());
        }
        if (!message) {
          // The reply that names this provider id may not be recorded yet: keep the receipt
          // waiting; finishAttempt applies it when the id shows up.
          ReceiptResult result;
          if (!receipt.provider_message_id.empty()) {
            result.outcome = ReceiptOutcome::Waiting;
            insertReceipt(impl, "", receipt, result.outcome);
          }
          return result;
        }
        ReceiptResult result = transitionOnReceipt(impl, *message, receipt);
        insertReceipt(impl, message->id, receipt, result.outcome);
        return result;
      },
      std::move(done));
}

namespace {

// Follows merges to the surviving id; nullopt when the customer was never stored.
std::optional<std::string> survivingCustomer(SqliteStore::Impl& impl, std::string id) {
  for (int hops = 0; hops < 16; ++hops) {
    auto& stmt = impl.statement("SELECT merged_into FROM customers WHERE id = ?");
    stmt.bind(1, id);
    if (!stmt.executeStep()) return std::nullopt;
    std::string next = stmt.getColumn(0).getString();
    stmt.reset();
    if (next.empty()) return id;
    id = std::move(next);
  }
  return id;
}

void ensureCustomerRow(SqliteStore::Impl& impl, const std::string& id, int64_t now_ms) {
  auto& stmt = impl.statement(
      "INSERT INTO customers (id, created_at, updated_at) VALUES (?, ?, ?) "
      "ON CONFLICT (id) DO NOTHING");
  stmt.bind(1, id);
  stmt.bind(2, now_ms);
  stmt.bind(3, now_ms);
  stmt.exec();
}

// The customer who holds (kind, value), if any.
std::optional<std::string> contactOwner(SqliteStore::Impl& impl, const std::string& kind,
                                        const std::string& value) {
  auto& stmt =
      impl.statement("SELECT customer_id FROM customer_contacts WHERE kind = ? AND value = ?");
  stmt.bind(1, kind);
  stmt.bind(2, value);
  if (!stmt.executeStep()) return std::nullopt;
  return stmt.getColumn(0).getString();
}

void addContact(SqliteStore::Impl& impl, const std::string& customer_id, const std::string& kind,
                const std::string& value) {
  auto& stmt = impl.statement(
      "INSERT INTO customer_contacts (kind, value, customer_id) VALUES (?, ?, ?) "
      "ON CONFLICT (kind, value) DO NOTHING");
  stmt.bind(1, kind);
  stmt.bind(2, value);
  stmt.bind(3, customer_id);
  stmt.exec();
}

void replaceContacts(SqliteStore::Impl& impl, const std::string& customer_id,
                     const std::vector<std::pair<std::string, std::string>>& contacts) {
  auto& clear = impl.statement("DELETE FROM customer_contacts WHERE customer_id = ?");
  clear.bind(1, customer_id);
  clear.exec();
  for (const auto& [kind, value] : contacts) addContact(impl, customer_id, kind, value);
}

void writeCustomerFromMessage(SqliteStore::Impl& impl, const NewMessage& message) {
  const auto now_ms = static_cast<int64_t>(toUnixMillis(message.created_at));
  // One statement per message on the intake path: an empty state or profile leaves the stored
  // one as it is.
  auto& upsert = impl.statement(
      "INSERT INTO customers (id, state, profile, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (id) DO UPDATE SET "
      "state = CASE WHEN excluded.state <> '' THEN excluded.state ELSE state END, "
      "profile = CASE WHEN excluded.profile <> '' THEN excluded.profile ELSE profile END, "
      "updated_at = CASE WHEN excluded.state <> '' OR excluded.profile <> '' "
      "THEN excluded.updated_at ELSE updated_at END");
  upsert.bind(1, message.customer_id);
  upsert.bind(2, message.customer_state_json);
  upsert.bind(3, message.customer_profile_json);
  upsert.bind(4, now_ms);
  upsert.bind(5, now_ms);
  upsert.exec();
  for (const auto& [kind, value] : message.customer_contacts) {
    addContact(impl, message.customer_id, kind, value);
  }
}

}  // namespace

void SqliteStore::loadCustomer(std::string id, Callback<std::optional<CustomerRecord>> done) {
  impl_->enqueueRead<std::optional<CustomerRecord>>(
      [id = std::move(id)](Impl& impl) -> Result<std::optional<CustomerRecord>> {
        auto survivor = survivingCustomer(impl, id);
        if (!survivor) return std::optional<CustomerRecord>();
        auto& stmt = impl.statement("SELECT profile, state FROM customers WHERE id = ?");
        stmt.bind(1, *survivor);
        if (!stmt.executeStep()) return std::optional<CustomerRecord>();
        return std::optional<CustomerRecord>(CustomerRecord{
            *survivor, stmt.getColumn(0).getString(), stmt.getColumn(1).getString()});
      },
      std::move(done));
}

void SqliteStore::findCustomer(std::vector<std::pair<std::string, std::string>> contacts,
                               Callback<std::optional<std::string>> done) {
  impl_->enqueue<std::optional<std::string>>(
      [contacts = std::move(contacts)](Impl& impl) -> Result<std::optional<std::string>> {
        for (const auto& [kind, value] : contacts) {
          if (auto owner = contactOwner(impl, kind, value)) return survivingCustomer(impl, *owner);
        }
        return std::optional<std::string>();
      },
      std::move(done));
}

void SqliteStore::changeCustomerProfile(std::string id, ProfileChange change, Callback<Ok> done) {
  impl_->enqueue<Ok>(
      [id = std::move(id), change = std::move(change)](Impl& impl) -> Result<Ok> {
        auto survivor = survivingCustomer(impl, id);
        if (!survivor) return Ok{};
        auto& read = impl.statement("SELECT profile FROM customers WHERE id = ?");
        read.bind(1, *survivor);
        if (!read.executeStep()) return Ok{};
        const std::string stored = read.getColumn(0).getString();
        read.reset();
        if (stored.empty()) return Ok{};
        auto changed = change(stored);
        if (!changed) return Ok{};
        auto& write = impl.statement("UPDATE customers SET profile = ? WHERE id = ?");
        write.bind(1, *changed);
        write.bind(2, *survivor);
        write.exec();
        return Ok{};
      },
      std::move(done));
}

void SqliteStore::putCustomer(CustomerWrite write, Callback<CustomerWriteResult> done) {
  impl_->enqueue<CustomerWriteResult>(
      [write = std::move(write)](Impl& impl) -> Result<CustomerWriteResult> {
        CustomerWriteResult result;
        for (const auto& [kind, value] : write.contacts) {
          auto owner = contactOwner(impl, kind, value);
          if (owner && *owner != write.id) {
            result.outcome = CustomerWriteOutcome::ContactTaken;
            result.contact = kind + " " + value;
            result.taken_by = *owner;
            return result;
          }
        }
        const auto now_ms = static_cast<int64_t>(toUnixMillis(write.now));
        ensureCustomerRow(impl, write.id, now_ms);
        auto& stmt = impl.statement(
            "UPDATE customers SET profile = ?, merged_into = '', updated_at = ? WHERE id = ?");
        stmt.bind(1, write.profile_json);
        stmt.bind(2, now_ms);
        stmt.bind(3, write.id);
        stmt.exec();
        replaceContacts(impl, write.id, write.contacts);
        return result;
      },
      std::move(done));
}

void SqliteStore::eraseCustomer(std::string id, SysTime now, Callback<bool> done) {
  impl_->enqueue<bool>(
      [id = std::move(id), now](Impl& impl) -> Result<bool> {
        auto survivor = survivingCustomer(impl, id);
        if (!survivor) return false;
        const auto now_ms = static_cast<int64_t>(toUnixMillis(now));
        auto& profile =
            impl.statement("UPDATE customers SET profile = '', updated_at = ? WHERE id = ?");
        profile.bind(1, now_ms);
        profile.bind(2, *survivor);
        profile.exec();
        replaceContacts(impl, *survivor, {});
        // Message contents hold the contacts and the text: gone. Status and attempts stay for
        // the operator's accounting; pending messages can no longer be sent.
        auto& cancel = impl.statement(
            "UPDATE messages SET status = 'cancelled', next_attempt_at = NULL, updated_at = ?, "
            "reason = 'customer erased' WHERE customer_id = ? AND status IN ('queued', "
            "'scheduled')");
        cancel.bind(1, now_ms);
        cancel.bind(2, *survivor);
        cancel.exec();
        auto& payloads = impl.statement(
            "UPDATE messages SET payload = '{}' WHERE customer_id = ? AND status <> 'sending'");
        payloads.bind(1, *survivor);
        payloads.exec();
        return true;
      },
      std::move(done));
}

void SqliteStore::mergeCustomers(CustomerMerge merge, Callback<Ok> done) {
  impl_->enqueue<Ok>(
      [merge = std::move(merge)](Impl& impl) -> Result<Ok> {
        const auto now_ms = static_cast<int64_t>(toUnixMillis(merge.now));
        ensureCustomerRow(impl, merge.survivor, now_ms);
        ensureCustomerRow(impl, merge.merged, now_ms);
        auto& survivor = impl.statement(
            "UPDATE customers SET profile = ?, state = ?, merged_into = '', updated_at = ? "
            "WHERE id = ?");
        survivor.bind(1, merge.profile_json);
        survivor.bind(2, merge.state_json);
        survivor.bind(3, now_ms);
        survivor.bind(4, merge.survivor);
        survivor.exec();
        auto& merged = impl.statement(
            "UPDATE customers SET profile = '', state = '', merged_into = ?, updated_at = ? "
            "WHERE id = ?");
        merged.bind(1, merge.survivor);
        merged.bind(2, now_ms);
        merged.bind(3, merge.merged);
        merged.exec();
        replaceContacts(impl, merge.merged, {});
        replaceContacts(impl, merge.survivor, merge.contacts);
        auto& messages =
            impl.statement("UPDATE messages SET customer_id = ? WHERE customer_id = ?");
        messages.bind(1, merge.survivor);
        messages.bind(2, merge.merged);
        messages.exec();
        // Earlier merges into the merged customer now point at the survivor directly.
        auto& aliases =
            impl.statement("UPDATE customers SET merged_into = ? WHERE merged_into = ?");
        aliases.bind(1, merge.survivor);
        aliases.bind(2, merge.merged);
        aliases.exec();
        return Ok{};
      },
      std::move(done));
}

void SqliteStore::customerMessages(std::string id, std::size_t limit,
                                   Callback<std::vector<MessageRecord>> done) {
  impl_->enqueue<std::vector<MessageRecord>>(
      [id = std::move(id), limit](Impl& impl) -> Result<std::vector<MessageRecord>> {
        std::vector<MessageRecord> out;
        auto survivor = survivingCustomer(impl, id);
        if (!survivor) return out;
        auto& stmt = impl.statement(std::string("SELECT ") + kMessageColumns +
                                    " FROM messages WHERE customer_id = ? "
                                    "ORDER BY created_at DESC, id DESC LIMIT ?");
        stmt.bind(1, *survivor);
        stmt.bind(2, static_cast<int64_t>(limit));
        while (stmt.executeStep()) out.push_back(readMessage(stmt));
        return out;
      },
      std::move(done));
}

void SqliteStore::applyCustomerEvent(CustomerEvent event, Callback<std::vector<std::string>> done) {
  impl_->enqueue<std::vector<std::string>>(
      [event = std::move(event)](Impl& impl) -> Result<std::vector<std::string>> {
        std::vector<std::string> cancelled;
        auto survivor = survivingCustomer(impl, event.customer_id);
        if (!survivor) return cancelled;
        auto& pending = impl.statement(
            "SELECT id, category, cancel_keys FROM messages WHERE customer_id = ? AND status "
            "IN ('queued', 'scheduled')");
        pending.bind(1, *survivor);
        std::vector<std::pair<std::string, std::string>> matched;  // id, why
        while (pending.executeStep()) {
          std::string category = pending.getColumn(1).getString();
          auto keys = planFromJson(pending.getColumn(2).getString());
          std::string why;
          for (const auto& key : keys) {
            if (std::find(event.keys.begin(), event.keys.end(), key) != event.keys.end()) {
              why = "cancel key " + key;
              break;
            }
          }
          if (why.empty() && std::find(event.categories.begin(), event.categories.end(),
                                       category) != event.categories.end()) {
            why = "category " + category + " stops on " + event.name;
          }
          if (!why.empty()) matched.emplace_back(pending.getColumn(0).getString(), why);
        }
        pending.reset();
        const auto now_ms = static_cast<int64_t>(toUnixMillis(event.now));
        for (const auto& [id, why] : matched) {
          auto& cancel = impl.statement(
              "UPDATE messages SET status = 'cancelled', next_attempt_at = NULL, updated_at = ?, "
              "reason = ? WHERE id = ? AND status IN ('queued', 'scheduled')");
          cancel.bind(1, now_ms);
          cancel.bind(2, "cancelled by event " + event.name + " (" + why + ")");
          cancel.bind(3, id);
          cancel.exec();
          cancelled.push_back(id);
        }
        return cancelled;
      },
      std::move(done));
}

namespace {}  // namespace

void SqliteStore::submit(NewMessage message, Callback<SubmitResult> done) {
  impl_->enqueue<SubmitResult>(
      [message = std::move(message)](Impl& impl) -> Result<SubmitResult> {
        // The message stored earlier under the same Idempotency-Key, as the answer to a repeat.
        auto earlier = [&]() -> std::optional<SubmitResult> {
          if (message.idempotency_key.empty()) return std::nullopt;
          auto found = findByIdempotencyKey(impl, message.idempotency_key);
          if (!found) return std::nullopt;
          SubmitResult result;
          result.outcome = found->second == message.request_hash ? SubmitOutcome::Replayed
                                                                 : SubmitOutcome::Conflict;
          result.message = std::move(found->first);
          return result;
        };
        if (!impl.reserveForIntake()) {
          // A repeat is still answered while the disk is full: it stores nothing.
          if (auto repeat = earlier()) return *repeat;
          return makeError("storage_full",
                           "the state directory is full (no room for the "
                           "delivery reserve); nothing was stored");
        }
        // The key's UNIQUE index decides whether this is a repeat, so a new message costs no
        // separate lookup.
        auto& stmt = impl.statement(
            "INSERT INTO messages (id, idempotency_key, request_hash, customer_id, category, "
            "priority, status, plan, reason, payload, decision, created_at, updated_at, "
            "send_at, expires_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING");
        stmt.bind(1, message.id);
        if (message.idempotency_key.empty()) {
          stmt.bind(2);
        } else {
          stmt.bind(2, message.idempotency_key);
        }
        stmt.bind(3, message.request_hash);
        stmt.bind(4, message.customer_id);
        stmt.bind(5, message.category);
        stmt.bind(6, message.priority);
        stmt.bind(7, toString(message.status));
        stmt.bind(8, planToJson(message.plan));
        stmt.bind(9, message.reason);
        stmt.bind(10, message.payload_json);
        stmt.bind(11, message.decision_json);
        const auto created = static_cast<int64_t>(toUnixMillis(message.created_at));
        stmt.bind(12, created);
        stmt.bind(13, created);
        bindOptionalTime(stmt, 14, message.send_at);
        bindOptionalTime(stmt, 15, message.expires_at);
        std::optional<SysTime> next;
        if (isPending(message.status)) next = message.send_at.value_or(message.created_at);
        bindOptionalTime(stmt, 16, next);
        if (stmt.exec() == 0) {
          if (auto repeat = earlier()) return *repeat;
          return makeError("storage_error", "the message was not stored (no row inserted)");
        }
        if (!message.cancel_keys.empty()) {
          auto& keys = impl.statement("UPDATE messages SET cancel_keys = ? WHERE id = ?");
          keys.bind(1, planToJson(message.cancel_keys));
          keys.bind(2, message.id);
          keys.exec();
        }
        if (!message.customer_id.empty() &&
            (!message.customer_state_json.empty() || !message.customer_profile_json.empty() ||
             !message.customer_contacts.empty())) {
          writeCustomerFromMessage(impl, message);
        }

        SubmitResult result;
        result.outcome = SubmitOutcome::Created;
        MessageRecord& m = result.message;
        m.id = message.id;
        m.customer_id = message.customer_id;
        m.category = message.category;
        m.priority = message.priority;
        m.status = message.status;
        m.plan = message.plan;
        m.reason = message.reason;
        m.decision_json = message.decision_json;
        m.created_at = m.updated_at = message.created_at;
        m.send_at = message.send_at;
        m.expires_at = message.expires_at;
        m.next_attempt_at = next;
        return result;
      },
      std::move(done));
}

void SqliteStore::get(std::string id, Callback<std::optional<MessageRecord>> done) {
  impl_->enqueue<std::optional<MessageRecord>>(
      [id = std::move(id)](Impl& impl) -> Result<std::optional<MessageRecord>> {
        auto message = findMessage(impl, id);
        if (!message) return std::optional<MessageRecord>();
        auto& stmt = impl.statement(
            "SELECT n, channel, provider, started_at, finished_at, outcome, code, detail, "
            "provider_message_id, segments FROM attempts WHERE message_id = ? ORDER BY n");
        stmt.bind(1, id);
        while (stmt.executeStep()) {
          Attempt a;
          a.n = stmt.getColumn(0).getInt();
          a.channel = stmt.getColumn(1).getString();
          a.provider = stmt.getColumn(2).getString();
          a.started_at = fromUnixMillis(stmt.getColumn(3).getInt64());
          a.finished_at = optionalTime(stmt.getColumn(4));
          a.outcome = stmt.getColumn(5).getString();
          a.code = stmt.getColumn(6).getString();
          a.detail = stmt.getColumn(7).getString();
          a.provider_message_id = stmt.getColumn(8).getString();
          a.segments = stmt.getColumn(9).getInt();
          message->attempt_log.push_back(std::move(a));
        }
        auto& receipts = impl.statement(
            "SELECT provider, provider_message_id, status, code, detail, received_at, effect "
            "FROM receipts WHERE message_id = ? ORDER BY received_at, rowid");
        receipts.bind(1, id);
        while (receipts.executeStep()) {
          ReceiptEvent r;
          r.provider = receipts.getColumn(0).getString();
          r.provider_message_id = receipts.getColumn(1).getString();
          r.status = parseMessageStatus(receipts.getColumn(2).getString())
                         .value_or(MessageStatus::Delivered);
          r.code = receipts.getColumn(3).getString();
          r.detail = receipts.getColumn(4).getString();
          r.received_at = fromUnixMillis(receipts.getColumn(5).getInt64());
          r.effect = receipts.getColumn(6).getString();
          message->receipt_log.push_back(std::move(r));
        }
        return message;
      },
      std::move(done));
}

void SqliteStore::cancel(std::string id, SysTime now, Callback<CancelResult> done) {
  impl_->enqueue<CancelResult>(
      [id = std::move(id), now](Impl& impl) -> Result<CancelResult> {
        CancelResult result;
        auto message = findMessage(impl, id);
        if (!message) {
          result.outcome = CancelOutcome::NotFound;
          return result;
        }
        result.status = message->status;
        if (isFinal(message->status)) {
          result.outcome = CancelOutcome::AlreadyFinal;
          return result;
        }
        if (message->status == MessageStatus::Sending) {
          result.outcome = CancelOutcome::InFlight;
          return result;
        }
        auto& stmt = impl.statement(
            "UPDATE messages SET status = 'cancelled', next_attempt_at = NULL, updated_at = ?, "
            "reason = 'cancelled by the caller' WHERE id = ?");
        stmt.bind(1, static_cast<int64_t>(toUnixMillis(now)));
        stmt.bind(2, id);
        stmt.exec();
        result.outcome = CancelOutcome::Cancelled;
        result.status = MessageStatus::Cancelled;
        return result;
      },
      std::move(done));
}

void SqliteStore::claim(ClaimRequest request, Callback<ClaimResult> done) {
  impl_->enqueue<ClaimResult>(
      [request = std::move(request)](Impl& impl) -> Result<ClaimResult> {
        ClaimResult result;
        auto message = findMessage(impl, request.id);
        if (!message || !isPending(message->status)) return result;
        if (request.expected_due && message->next_attempt_at != request.expected_due) return result;
        const auto now_ms = static_cast<int64_t>(toUnixMillis(request.now));
        bool past_ttl = message->expires_at && *message->expires_at <= request.now;
        bool past_max_age =
            request.max_age.count() > 0 &&
            message->retried_at.value_or(message->created_at) + request.max_age <= request.now;
        if (past_ttl || past_max_age) {
          auto& stmt = impl.statement(
              "UPDATE messages SET status = 'expired', next_attempt_at = NULL, updated_at = ?, "
              "reason = ? WHERE id = ?");
          stmt.bind(1, now_ms);
          stmt.bind(2, past_ttl ? "ttl elapsed before delivery" : "retry.max_age elapsed");
          stmt.bind(3, request.id);
          stmt.exec();
          result.outcome = ClaimOutcome::Expired;
          return result;
        }
        message->attempts += 1;
        message->channel_attempts += 1;
        message->status = MessageStatus::Sending;
        auto& update = impl.statement(
            "UPDATE messages SET status = 'sending', attempts = ?, channel_attempts = ?, "
            "next_attempt_at = NULL, updated_at = ? WHERE id = ?");
        update.bind(1, message->attempts);
        update.bind(2, message->channel_attempts);
        update.bind(3, now_ms);
        update.bind(4, request.id);
        update.exec();
        auto& attempt = impl.statement(
            "INSERT INTO attempts (message_id, n, channel, provider, started_at, outcome) "
            "VALUES (?, ?, ?, ?, ?, 'in_flight')");
        attempt.bind(1, request.id);
        attempt.bind(2, message->attempts);
        attempt.bind(3, message->channel());
        attempt.bind(4, request.provider);
        attempt.bind(5, now_ms);
        attempt.exec();
        result.outcome = ClaimOutcome::Claimed;
        result.attempt_number = message->attempts;
        result.message = std::move(*message);
        return result;
      },
      std::move(done));
}

namespace {

// Receipts that arrived before the attempt they belong to was recorded. A failure receipt that
// moves the message to its next channel is not announced to the dispatcher here; the message is
// found by its next refill of due work.
void applyWaitingReceipts(SqliteStore::Impl& impl, const AttemptFinish& finish) {
  auto& provider_of =
      impl.statement("SELECT provider FROM attempts WHERE message_id = ? AND n = ?");
  provider_of.bind(1, finish.id);
  provider_of.bind(2, finish.attempt_number);
  if (!provider_of.executeStep()) return;
  const std::string provider = provider_of.getColumn(0).getString();
  provider_of.reset();
  std::vector<std::pair<int64_t, Receipt>> waiting;
  auto& find = impl.statement(
      "SELECT rowid, status, code, detail, received_at FROM receipts WHERE effect = 'waiting' "
      "AND ((provider = ? AND provider_message_id = ? AND provider_message_id <> '') "
      "OR message_id = ?) ORDER BY received_at, rowid");
  find.bind(1, provider);
  find.bind(2, finish.provider_message_id);
  find.bind(3, finish.id);
  while (find.executeStep()) {
    Receipt r;
    r.provider = provider;
    r.provider_message_id = finish.provider_message_id;
    r.message_id = finish.id;
    r.status = parseMessageStatus(find.getColumn(1).getString()).value_or(MessageStatus::Delivered);
    r.code = find.getColumn(2).getString();
    r.detail = find.getColumn(3).getString();
    r.received_at = fromUnixMillis(find.getColumn(4).getInt64());
    waiting.emplace_back(find.getColumn(0).getInt64(), std::move(r));
  }
  find.reset();
  if (waiting.empty()) return;
  auto message = findMessage(impl, finish.id);
  if (!message) return;
  for (const auto& [rowid, receipt] : waiting) {
    ReceiptResult result = transitionOnReceipt(impl, *message, receipt);
    auto& mark = impl.statement("UPDATE receipts SET message_id = ?, effect = ? WHERE rowid = ?");
    mark.bind(1, finish.id);
    mark.bind(2, receiptEffectName(result.outcome));
    mark.bind(3, rowid);
    mark.exec();
  }
}

}  // namespace

void SqliteStore::finishAttempt(AttemptFinish finish, Callback<Ok> done) {
  impl_->enqueue<Ok>(
      [finish = std::move(finish)](Impl& impl) -> Result<Ok> {
        const auto now_ms = static_cast<int64_t>(toUnixMillis(finish.finished_at));
        auto& attempt = impl.statement(
            "UPDATE attempts SET finished_at = ?, outcome = ?, code = ?, detail = ?, "
            "provider_message_id = ?, segments = ? WHERE message_id = ? AND n = ?");
        attempt.bind(1, now_ms);
        attempt.bind(2, finish.outcome);
        attempt.bind(3, finish.code);
        attempt.bind(4, finish.detail);
        attempt.bind(5, finish.provider_message_id);
        attempt.bind(6, finish.segments);
        attempt.bind(7, finish.id);
        attempt.bind(8, finish.attempt_number);
        attempt.exec();
        // Only a message still `sending` moves: a crash-recovered or cancelled one keeps its state.
        auto& message = impl.statement(
            "UPDATE messages SET status = ?, channel_index = ?, channel_attempts = ?, "
            "next_attempt_at = ?, reason = ?, updated_at = ? WHERE id = ? AND status = 'sending'");
        message.bind(1, toString(finish.new_status));
        message.bind(2, finish.channel_index);
        message.bind(3, finish.channel_attempts);
        bindOptionalTime(message, 4, finish.next_attempt_at);
        message.bind(5, finish.reason);
        message.bind(6, now_ms);
        message.bind(7, finish.id);
        message.exec();
        if (finish.new_status == MessageStatus::Sent) applyWaitingReceipts(impl, finish);
        return Ok{};
      },
      std::move(done));
}

void SqliteStore::loadDue(std::optional<DueJob> after, std::size_t limit,
                          Callback<std::vector<DueJob>> done) {
  impl_->enqueue<std::vector<DueJob>>(
      [after = std::move(after), limit](Impl& impl) -> Result<std::vector<DueJob>> {
        std::vector<DueJob> jobs;
        auto& stmt = impl.statement(
            after ? "SELECT next_attempt_at, id, plan, channel_index FROM messages "
                    "WHERE next_attempt_at IS NOT NULL AND (next_attempt_at, id) > (?, ?) "
                    "ORDER BY next_attempt_at, id LIMIT ?"
                  : "SELECT next_attempt_at, id, plan, channel_index FROM messages "
                    "WHERE next_attempt_at IS NOT NULL ORDER BY next_attempt_at, id LIMIT ?");
        int index = 1;
        if (after) {
          stmt.bind(index++, static_cast<int64_t>(toUnixMillis(after->due)));
          stmt.bind(index++, after->id);
        }
        stmt.bind(index, static_cast<int64_t>(limit));
        while (stmt.executeStep()) {
          DueJob job;
          job.due = fromUnixMillis(stmt.getColumn(0).getInt64());
          job.id = stmt.getColumn(1).getString();
          auto plan = planFromJson(stmt.getColumn(2).getString());
          int channel_index = stmt.getColumn(3).getInt();
          if (channel_index >= 0 && channel_index < static_cast<int>(plan.size())) {
            job.channel = plan[channel_index];
          }
          jobs.push_back(std::move(job));
        }
        return jobs;
      },
      std::move(done));
}

void SqliteStore::retry(std::string id, SysTime now, Callback<RetryResult> done) {
  impl_->enqueue<RetryResult>(
      [id = std::move(id), now](Impl& impl) -> Result<RetryResult> {
        RetryResult result;
        auto message = findMessage(impl, id);
        if (!message) return result;
        if (message->status != MessageStatus::Failed && message->status != MessageStatus::Expired) {
          result.outcome = RetryOutcome::NotRetryable;
          result.message = std::move(*message);
          return result;
        }
        // The TTL is dropped too: it is what expired the message, and the operator asking for
        // the retry overrides it.
        const auto now_ms = static_cast<int64_t>(toUnixMillis(now));
        auto& stmt = impl.statement(
            "UPDATE messages SET status = 'queued', channel_index = 0, channel_attempts = 0, "
            "next_attempt_at = ?, expires_at = NULL, retried_at = ?, updated_at = ?, "
            "reason = 'retried by the caller' WHERE id = ?");
        stmt.bind(1, now_ms);
        stmt.bind(2, now_ms);
        stmt.bind(3, now_ms);
        stmt.bind(4, id);
        stmt.exec();
        message->status = MessageStatus::Queued;
        message->channel_index = 0;
        message->channel_attempts = 0;
        message->next_attempt_at = now;
        message->expires_at.reset();
        message->retried_at = now;
        message->updated_at = now;
        message->reason = "retried by the caller";
        result.outcome = RetryOutcome::Requeued;
        result.job = DueJob{now, message->id, message->channel()};
        result.message = std::move(*message);
        return result;
      },
      std::move(done));
}

void SqliteStore::queueSnapshot(Callback<QueueSnapshot> done) {
  auto snapshot = impl_->freshSnapshot();
  // A store stuck in one batch (a hung disk) must not stall every scrape behind it: the last
  // snapshot, however old (its taken_at says), is better than no answer.
  if (!snapshot && impl_->busyFor() > std::chrono::seconds(1)) snapshot = impl_->lastSnapshot();
  if (snapshot) {
    impl_->post([done = std::move(done), snapshot = *snapshot]() { done(snapshot); });
    return;
  }
  // Counts are approximate by nature: answered ahead of queued writes, without a sync.
  impl_->enqueueRead<QueueSnapshot>(
      [](Impl& impl) -> Result<QueueSnapshot> {
        if (auto fresh = impl.freshSnapshot()) return *fresh;  // another scrape just took one
        const auto began = std::chrono::steady_clock::now();
        QueueSnapshot snapshot;
        snapshot.taken_at = SystemClock().now();
        auto& counts = impl.statement("SELECT status, count(*) FROM messages GROUP BY status");
        while (counts.executeStep()) {
          auto status = parseMessageStatus(counts.getColumn(0).getString());
          if (!status) continue;
          snapshot.by_status[static_cast<int>(*status)] = counts.getColumn(1).getInt64();
        }
        auto& oldest = impl.statement(
            "SELECT min(next_attempt_at) FROM messages WHERE next_attempt_at IS NOT NULL");
        if (oldest.executeStep()) snapshot.oldest_due = optionalTime(oldest.getColumn(0));
        impl.keepSnapshot(snapshot, std::chrono::steady_clock::now() - began);
        return snapshot;
      },
      std::move(done));
}

}  // namespace omnigate::store
