// The dispatcher against the real SQLite store and a transport that holds every request until
// the test answers it: claims may run ahead of free send slots, sends never exceed the
// provider's max_concurrency, and every message ends sent.

#include "daemon/dispatch/dispatcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <deque>
#include <filesystem>

#include "daemon/store/sqlite_store.h"
#include "daemon/transport/transport.h"
#include "tests/unit/scratch_dir.h"

namespace omnigate::dispatch {
namespace {

namespace fs = std::filesystem;

class AcceptingProvider final : public channels::Provider {
 public:
  Result<channels::TransportRequest> encode(const channels::OutboundMessage&) const override {
    channels::HttpRequest http;
    http.url = "http://127.0.0.1:9/send";
    return channels::TransportRequest{http};
  }
  channels::Verdict interpret(const channels::OutboundMessage&,
                              const channels::TransportReply& reply) const override {
    channels::Verdict verdict;
    verdict.disposition =
        reply.status == 200 ? channels::Disposition::Accepted : channels::Disposition::Retry;
    return verdict;
  }
};

// Keeps every request's completion until answer() is called; records the most held at once.
class HoldingTransport final : public transport::Transport {
 public:
  void submit(channels::TransportRequest, transport::Completion done) override {
    held_.push_back(std::move(done));
    peak_ = std::max(peak_, held_.size());
  }
  std::size_t inFlight() const override { return held_.size(); }
  void shutdown() override {}

  bool answerOne() {
    if (held_.empty()) return false;
    auto done = std::move(held_.front());
    held_.pop_front();
    channels::TransportReply reply;
    reply.status = 200;
    done(reply);
    return true;
  }
  std::size_t held() const { return held_.size(); }
  std::size_t peak() const { return peak_; }

 private:
  std::deque<transport::Completion> held_;
  std::size_t peak_ = 0;
};

// The real store, except that the first `failing` claims fail as a broken disk would make them;
// records when each claim was asked for.
class FailingClaimsStore final : public store::Store {
 public:
  FailingClaimsStore(store::Store& real, int failing) : real_(real), failing_(failing) {}

  void claim(store::ClaimRequest request, store::Callback<store::ClaimResult> done) override {
    claimed_at.push_back(std::chrono::steady_clock::now());
    if (failing_ > 0) {
      --failing_;
      return done(makeError("storage_io", "injected claim failure"));
    }
    real_.claim(std::move(request), std::move(done));
  }
  std::vector<std::chrono::steady_clock::time_point> claimed_at;

  void submit(store::NewMessage m, store::Callback<store::SubmitResult> done) override {
    real_.submit(std::move(m), std::move(done));
  }
  void get(std::string id, store::Callback<std::optional<store::MessageRecord>> done) override {
    real_.get(std::move(id), std::move(done));
  }
  void cancel(std::string id, SysTime now, store::Callback<store::CancelResult> done) override {
    real_.cancel(std::move(id), now, std::move(done));
  }
  void finishAttempt(store::AttemptFinish finish, store::Callback<Ok> done) override {
    real_.finishAttempt(std::move(finish), std::move(done));
  }
  void applyReceipt(store::Receipt receipt, store::Callback<store::ReceiptResult> done) override {
    real_.applyReceipt(std::move(receipt), std::move(done));
  }
  void loadCustomer(std::string id,
                    store::Callback<std::optional<store::CustomerRecord>> done) override {
    real_.loadCustomer(std::move(id), std::move(done));
  }
  void findCustomer(std::vector<std::pair<std::string, std::string>> contacts,
                    store::Callback<std::optional<std::string>> done) override {
    real_.findCustomer(std::move(contacts), std::move(done));
  }
  void putCustomer(store::CustomerWrite write,
                   store::Callback<store::CustomerWriteResult> done) override {
    real_.putCustomer(std::move(write), std::move(done));
  }
  void changeCustomerProfile(std::string id, ProfileChange change,
                             store::Callback<Ok> done) override {
    real_.changeCustomerProfile(std::move(id), std::move(change), std::move(done));
  }
  void eraseCustomer(std::string id, SysTime now, store::Callback<bool> done) override {
    real_.eraseCustomer(std::move(id), now, std::move(done));
  }
  void mergeCustomers(store::CustomerMerge merge, store::Callback<Ok> done) override {
    real_.mergeCustomers(std::move(merge), std::move(done));
  }
  void customerMessages(std::string id, std::size_t limit,
                        store::Callback<std::vector<store::MessageRecord>> done) override {
    real_.customerMessages(std::move(id), limit, std::move(done));
  }
  void applyCustomerEvent(store::CustomerEvent event,
                          store::Callback<std::vector<std::string>> done) override {
    real_.applyCustomerEvent(std::move(event), std::move(done));
  }
  void loadDue(std::optional<store::DueJob> after, std::size_t limit,
               store::Callback<std::vector<store::DueJob>> done) override {
    real_.loadDue(std::move(after), limit, std::move(done));
  }
  void retry(std::string id, SysTime now, store::Callback<store::RetryResult> done) override {
    real_.retry(std::move(id), now, std::move(done));
  }
  void queueSnapshot(store::Callback<store::QueueSnapshot> done) override {
    real_.queueSnapshot(std::move(done));
  }
  store::StoreStats stats() const override { return real_.stats(); }
  void close() override { real_.close(); }
  bool failed() const override { return real_.failed(); }

 private:
  store::Store& real_;
  int failing_;
};

class FixedRandom final : public Random {
 public:
  double uniform() override { return 0.5; }
  std::uint64_t next64() override { return 42; }
};

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open({(dir_ / "omnigate.db").string(), 64, clock_.now()},
                                           [this](std::function<void()> completion) {
                                             boost::asio::post(io_, std::move(completion));
                                           });
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened.value());
    config_.channels["email"].providers = {"p"};
  }
  void TearDown() override {
    dispatcher_.reset();
    if (store_) store_->close();
    io_.run_for(std::chrono::milliseconds(50));
    store_.reset();
  }

  void startDispatcher(int max_concurrency) { startDispatcher(max_concurrency, *store_); }
  void startDispatcher(int max_concurrency, store::Store& store) {
    auto state = std::make_unique<ProviderState>();
    state->name = "p";
    state->provider = std::make_unique<AcceptingProvider>();
    state->max_concurrency = max_concurrency;
    provider_ = state.get();
    std::map<std::string, std::unique_ptr<ProviderState>> providers;
    providers.emplace("p", std::move(state));
    dispatcher_ = std::make_unique<Dispatcher>(io_, store, transport_, clock_, random_, config_,
                                               templates_, std::move(providers));
    dispatcher_->start();
  }

  std::string submit(int n) {
    store::NewMessage m;
    m.id = "01KAAAAAAAAAAAAAAAAAAAAA" + std::string(n < 10 ? "0" : "") + std::to_string(n);
    m.request_hash = "h";
    m.category = "transactional";
    m.priority = "normal";
    m.plan = {"email"};
    m.payload_json =
        R"({"to":{"email":"a@example.com"},"content":{"email":{"subject":"s","text":"t"}}})";
    m.decision_json = "[]";
    m.created_at = clock_.now();
    bool done = false;
    store_->submit(m, [&](Result<store::SubmitResult> r) {
      EXPECT_TRUE(r.ok());
      done = true;
    });
    while (!done) io_.run_one_for(std::chrono::seconds(5));
    return m.id;
  }

  // Runs the loop until `condition` holds (or 5 s pass).
  template <class Condition>
  bool runUntil(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
    }
    return condition();
  }

  store::MessageStatus status(const std::string& id) {
    std::optional<store::MessageStatus> found;
    store_->get(id, [&](Result<std::optional<store::MessageRecord>> r) {
      found = r.ok() && r->has_value() ? (*r)->status : store::MessageStatus::Failed;
    });
    runUntil([&] { return found.has_value(); });
    return found.value_or(store::MessageStatus::Failed);
  }

  omnigate::testing::ScratchDir scratch_{"omnigate-dispatch-test"};
  const fs::path& dir_ = scratch_.path();
  boost::asio::io_context io_;
  // Without it the loop stops whenever it is momentarily out of work (a store completion is
  // still on its way from the store's threads) and never runs again.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_{
      io_.get_executor()};
  SystemClock clock_;
  FixedRandom random_;
  config::Config config_;
  templates::TemplateSet templates_;
  HoldingTransport transport_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
  ProviderState* provider_ = nullptr;
};

TEST_F(DispatcherTest, ClaimsRunAheadButSendsStayWithinMaxConcurrency) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(submit(i));
  startDispatcher(4);
  // Four requests out, two more claimed and waiting for a slot (half of max_concurrency).
  ASSERT_TRUE(runUntil([&] { return transport_.held() == 4 && provider_->in_flight == 6; }))
      << "held " << transport_.held() << ", in flight " << provider_->in_flight;
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport_.held(), 4u);
  EXPECT_EQ(provider_->sending, 4);
  EXPECT_EQ(provider_->in_flight, 6);
  EXPECT_EQ(provider_->waiting_to_send.size(), 2u);
  // Each answer frees a slot for a claimed attempt at once.
  std::size_t answered = 0;
  while (answered < ids.size()) {
    ASSERT_TRUE(runUntil([&] { return transport_.held() > 0; })) << answered << " answered";
    transport_.answerOne();
    ++answered;
  }
  ASSERT_TRUE(runUntil([&] { return dispatcher_->inFlight() == 0; }));
  EXPECT_EQ(transport_.peak(), 4u);
  for (const auto& id : ids) EXPECT_EQ(status(id), store::MessageStatus::Sent) << id;
}

TEST_F(DispatcherTest, ProviderLimitedToOneRequestDoesNotClaimAhead) {
  const std::string first = submit(1);
  const std::string second = submit(2);
  startDispatcher(1);
  ASSERT_TRUE(runUntil([&] { return transport_.held() == 1; }));
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(provider_->in_flight, 1);
  EXPECT_EQ(status(second), store::MessageStatus::Queued);  // still due, not claimed
  transport_.answerOne();
  ASSERT_TRUE(runUntil([&] { return transport_.held() == 1 && provider_->sending == 1; }));
  transport_.answerOne();
  ASSERT_TRUE(runUntil([&] { return dispatcher_->inFlight() == 0; }));
  EXPECT_EQ(status(first), store::MessageStatus::Sent);
  EXPECT_EQ(status(second), store::MessageStatus::Sent);
  EXPECT_EQ(transport_.peak(), 1u);
}

TEST_F(DispatcherTest, FailedClaimPausesClaimsForASecondThenTheMessageIsSent) {
  const std::string id = submit(1);
  FailingClaimsStore store(*store_, 1);
  startDispatcher(4, store);
  ASSERT_TRUE(runUntil([&] { return transport_.held() == 1; }));
  transport_.answerOne();
  ASSERT_TRUE(runUntil([&] { return dispatcher_->inFlight() == 0; }));
  EXPECT_EQ(status(id), store::MessageStatus::Sent);
  // One failed claim, then one that worked: not retried in a loop while the store fails.
  ASSERT_EQ(store.claimed_at.size(), 2u);
  EXPECT_GE(store.claimed_at[1] - store.claimed_at[0], std::chrono::milliseconds(950));
}

}  // namespace
}  // namespace omnigate::dispatch
