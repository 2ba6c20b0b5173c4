#pragma once

// The SQLite backend of Store: one connection on one thread (Debian 12's SQLite 3.40 has the
// WAL-reset bug that needs two connections, so there is never a second one), WAL, and group
// commit: whatever operations are queued when the thread wakes are run in one BEGIN IMMEDIATE
// ... COMMIT. Durability is pipelined: COMMIT writes the WAL (synchronous=NORMAL), a second
// thread fdatasyncs it, and completions are posted only after that sync, while the store
// thread runs the next batch. Reads a caller marks safe (loadCustomer) answer at once.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/store/store.h"

namespace SQLite {
class Database;
}

namespace omnigate::store {

using Poster = std::function<void(std::function<void()>)>;

struct SqliteStoreOptions {
  std::string path;
  std::size_t max_batch = 1024;
  SysTime now;  // for recovery bookkeeping
  // Called at most every `still_working_every` while open() migrates or recovers, which can take
  // minutes on a large store (a schema change rebuilds a table): the daemon keeps systemd's
  // start timeout from expiring, which would kill it mid-migration again and again.
  std::function<void()> still_working;
  std::chrono::milliseconds still_working_every{5'000};
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if absent) and migrates the database, takes the lock that keeps a second
  // daemon away, and turns attempts that were in flight at the last crash back into pending
  // work. Refuses a file that is not an omnigate database without writing to it.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteStoreOptions& options,
                                                   Poster post_completion,
                                                   RecoveryReport* report = nullptr);
  ~SqliteStore() override;

  void submit(NewMessage message, Callback<SubmitResult> done) override;
  void get(std::string id, Callback<std::optional<MessageRecord>> done) override;
  void cancel(std::string id, SysTime now, Callback<CancelResult> done) override;
  void claim(ClaimRequest request, Callback<ClaimResult> done) override;
  void finishAttempt(AttemptFinish finish, Callback<Ok> done) override;
  void applyReceipt(Receipt receipt, Callback<ReceiptResult> done) override;
  void loadCustomer(std::string id, Callback<std::optional<CustomerRecord>> done) override;
  void findCustomer(std::vector<std::pair<std::string, std::string>> contacts,
                    Callback<std::optional<std::string>> done) override;
  void putCustomer(CustomerWrite write, Callback<CustomerWriteResult> done) override;
  void changeCustomerProfile(std::string id, ProfileChange change, Callback<Ok> done) override;
  void eraseCustomer(std::string id, SysTime now, Callback<bool> done) override;
  void mergeCustomers(CustomerMerge merge, Callback<Ok> done) override;
  void customerMessages(std::string id, std::size_t limit,
                        Callback<std::vector<MessageRecord>> done) override;
  void applyCustomerEvent(CustomerEvent event, Callback<std::vector<std::string>> done) override;
  void loadDue(std::optional<DueJob> after, std::size_t limit,
               Callback<std::vector<DueJob>> done) override;
  void retry(std::string id, SysTime now, Callback<RetryResult> done) override;
  void queueSnapshot(Callback<QueueSnapshot> done) override;
  void close() override;
  bool failed() const override;

  StoreStats stats() const override;
  // Time spent in the batch being committed now; zero while idle.
  std::chrono::milliseconds busyFor() const;
  std::size_t queuedOperations() const;

  class Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::store
