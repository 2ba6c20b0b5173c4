#pragma once

// The durable record of every accepted message. The interface is asynchronous: operations are
// queued to the store's own thread, which owns the only database connection and commits many
// operations in one transaction (group commit). A completion runs on the executor given to the
// store only after the transaction holding its operation has committed, so a caller that
// acknowledges on completion acknowledges only what is durable.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/common/duration.h"
#include "daemon/common/result.h"

namespace omnigate::store {

enum class MessageStatus {
  Queued,
  Scheduled,
  Sending,
  Sent,
  Delivered,
  Read,
  Failed,
  Expired,
  Cancelled,
  Suppressed,
};

const char* toString(MessageStatus status);
std::optional<MessageStatus> parseMessageStatus(std::string_view text);
bool isFinal(MessageStatus status);

struct NewMessage {
  std::string id;
  std::string idempotency_key;  // empty: none; otherwise scoped by the caller (token name)
  std::string request_hash;     // fingerprint of the canonical request body
  std::string customer_id;
  std::string category;
  std::string priority;
  MessageStatus status = MessageStatus::Queued;  // Queued, Scheduled or Suppressed
  std::vector<std::string> plan;                 // channels in fallback order
  std::string reason;
  std::string payload_json;   // what delivery needs: contacts, content, metadata
  std::string decision_json;  // the decision trace, a JSON array
  SysTime created_at;
  std::optional<SysTime> send_at;
  std::optional<SysTime> expires_at;
  std::vector<std::string> cancel_keys;  // POST /v1/customers/{id}/events keys that cancel it
  // Written in the same transaction as the message, so the decision and what it counted are
  // durable together. Empty: leave the customer's row alone.
  std::string customer_state_json;
  // New contacts the message's inline `to` adds to the customer: (kind, value). A contact that
  // belongs to another customer already is left with that customer.
  std::vector<std::pair<std::string, std::string>> customer_contacts;
  std::string customer_profile_json;  // empty: unchanged
};

struct Attempt {
  int n = 0;
  std::string channel;
  std::string provider;
  SysTime started_at;
  std::optional<SysTime> finished_at;
  std::string outcome;  // in_flight, interrupted, or a Disposition name
  std::string code;
  std::string detail;
  std::string provider_message_id;
  int segments = 0;  // SMS segments billed, when the provider says
};

// A delivery receipt as the daemon keeps it (every receipt is kept, applied or not).
struct ReceiptEvent {
  std::string provider;
  std::string provider_message_id;
  MessageStatus status = MessageStatus::Delivered;  // Delivered, Read or Failed
  std::string code;
  std::string detail;
  SysTime received_at;
  std::string
      effect;  // applied | stale (arrived after something newer) | waiting (for the attempt)
};

struct MessageRecord {
  std::string id;
  std::string customer_id;
  std::string category;
  std::string priority;
  MessageStatus status = MessageStatus::Queued;
  std::vector<std::string> plan;
  int channel_index = 0;
  int channel_attempts = 0;
  int attempts = 0;
  std::string reason;
  std::string payload_json;
  std::string decision_json;
  SysTime created_at;
  SysTime updated_at;
  std::optional<SysTime> send_at;
  std::optional<SysTime> expires_at;
  std::optional<SysTime> next_attempt_at;
  // Set by POST /v1/messages/{id}/retry: retry.max_age counts from here instead of created_at.
  std::optional<SysTime> retried_at;
  std::vector<Attempt> attempt_log;       // filled by get() only
  std::vector<ReceiptEvent> receipt_log;  // filled by get() only

  const std::string& channel() const;  // the plan's current channel, or "" when the plan is empty
};

// A pending delivery, ordered by (due, id).
struct DueJob {
  SysTime due;
  std::string id;
  std::string channel;
};

enum class SubmitOutcome { Created, Replayed, Conflict };
struct SubmitResult {
  SubmitOutcome outcome = SubmitOutcome::Created;
  MessageRecord message;  // the stored message (the earlier one for Replayed/Conflict)
};

enum class CancelOutcome { Cancelled, NotFound, AlreadyFinal, InFlight };
struct CancelResult {
  CancelOutcome outcome = CancelOutcome::NotFound;
  MessageStatus status = MessageStatus::Cancelled;
};

// Claiming moves a pending message to `sending` and opens an attempt, right before it is handed
// to a provider, and so is where cancellation and expiry are checked.
struct ClaimRequest {
  std::string id;
  std::string provider;
  SysTime now;
  Millis max_age{0};  // 0 = no limit
  // The due time the dispatcher saw; a message rescheduled since then is not claimed, so a
  // stale in-memory entry can never send a retry early.
  std::optional<SysTime> expected_due;
};
enum class ClaimOutcome { Claimed, NotPending, Expired };
struct ClaimResult {
  ClaimOutcome outcome = ClaimOutcome::NotPending;
  MessageRecord message;  // valid when Claimed
  int attempt_number = 0;
};

// The transition after an attempt finished (or could not be made).
struct AttemptFinish {
  std::string id;
  int attempt_number = 0;
  SysTime finished_at;
  std::string outcome;
  std::string code;
  std::string detail;
  std::string provider_message_id;
  int segments = 0;
  MessageStatus new_status = MessageStatus::Sent;
  int channel_index = 0;
  int channel_attempts = 0;
  std::optional<SysTime> next_attempt_at;  // set when the message stays pending
  std::string reason;
};

// A customer as stored. `id` is the surviving id when the asked-for one was merged into another.
struct CustomerRecord {
  std::string id;
  std::string profile_json;  // empty: erased, or known only from messages
  std::string state_json;    // the policy state (caps, dedupe); survives erasure, anonymous
};

struct CustomerWrite {
  std::string id;
  std::string profile_json;
  std::vector<std::pair<std::string, std::string>> contacts;  // (kind, value), replaces the old
  SysTime now;
};
enum class CustomerWriteOutcome { Written, ContactTaken };
struct CustomerWriteResult {
  CustomerWriteOutcome outcome = CustomerWriteOutcome::Written;
  std::string contact;   // "email a@example.com" when taken
  std::string taken_by;  // the customer who has it
};

struct CustomerMerge {
  std::string survivor;
  std::string merged;
  std::string profile_json;  // the survivor's profile after the merge
  std::string state_json;    // both states merged
  std::vector<std::pair<std::string, std::string>> contacts;  // the survivor's, after the merge
  SysTime now;
};

// Pending messages of `customer_id` that carry one of `keys` as a cancel key, or whose category
// is in `categories`, become cancelled.
struct CustomerEvent {
  std::string customer_id;
  std::string name;
  std::vector<std::string> keys;
  std::vector<std::string> categories;
  SysTime now;
};

// A provider's receipt for a message it accepted, found by our message id when the provider
// echoes it, else by the provider's message id recorded with the attempt.
struct Receipt {
  std::string provider;
  std::string provider_message_id;
  std::string message_id;
  MessageStatus status = MessageStatus::Delivered;  // Delivered, Read or Failed
  std::string code;
  std::string detail;
  SysTime received_at;
};

// Applied: the message moved (sent → delivered → read; sent → failed, or to the next channel of
// its plan when it has one). Stale: kept but changes nothing (the message is already further,
// or final for another reason). Waiting: the attempt it belongs to has not been recorded yet
// (receipts can beat the provider's own reply); it is applied when the attempt is. Unknown: no
// message matches; nothing is kept.
enum class ReceiptOutcome { Applied, Stale, Waiting, Unknown };
struct ReceiptResult {
  ReceiptOutcome outcome = ReceiptOutcome::Unknown;
  std::string message_id;
  MessageStatus status = MessageStatus::Sent;  // the message's status afterwards
  std::optional<DueJob> requeued;              // set when a failure moved it to the next channel
};

// A failed or expired message queued again from the first channel of its plan with a fresh
// attempt budget (POST /v1/messages/{id}/retry). NotRetryable: any other state.
enum class RetryOutcome { Requeued, NotFound, NotRetryable };
struct RetryResult {
  RetryOutcome outcome = RetryOutcome::NotFound;
  MessageRecord message;      // as get() returns it; the state found when NotRetryable
  std::optional<DueJob> job;  // set when Requeued: the dispatcher is told like a new message
};

// Counts behind GET /metrics and GET /v1/stats.
struct QueueSnapshot {
  static constexpr std::size_t kStatuses = 10;
  std::array<std::int64_t, kStatuses> by_status{};  // indexed by MessageStatus
  std::optional<SysTime> oldest_due;  // the earliest next_attempt_at of a pending message
  SysTime taken_at;
};

// Group commits: batch sizes and commit latency, for the histograms of GET /metrics.
struct StoreStats {
  std::uint64_t commits = 0;
  std::uint64_t operations = 0;
  std::uint64_t max_batch_seen = 0;
  // Upper bounds of the buckets; counts are per bucket (not cumulative), plus one for +Inf.
  static constexpr std::array<double, 12> kLatencyBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  static constexpr std::array<double, 10> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024};
  std::array<std::uint64_t, kLatencyBounds.size() + 1> latency_buckets{};
  double latency_sum_seconds = 0;
  std::array<std::uint64_t, kBatchBounds.size() + 1> batch_buckets{};
  std::uint64_t wal_bytes = 0;  // size of the -wal file at the last commit
};

struct RecoveryReport {
  std::int64_t interrupted = 0;  // attempts that were in flight when the process died
  std::int64_t pending = 0;      // messages waiting for delivery
};

template <class T>
using Callback = std::function<void(Result<T>)>;

class Store {
 public:
  virtual ~Store() = default;
  virtual void submit(NewMessage message, Callback<SubmitResult> done) = 0;
  virtual void get(std::string id, Callback<std::optional<MessageRecord>> done) = 0;
  virtual void cancel(std::string id, SysTime now, Callback<CancelResult> done) = 0;
  virtual void claim(ClaimRequest request, Callback<ClaimResult> done) = 0;
  virtual void finishAttempt(AttemptFinish finish, Callback<Ok> done) = 0;
  virtual void applyReceipt(Receipt receipt, Callback<ReceiptResult> done) = 0;
  // Customers. Ids that were merged resolve to the survivor.
  // Answered ahead of writes still queued (it never waits for their commit): the caller must
  // have no uncommitted write to this customer in flight, as Admission guarantees by loading
  // only a customer none of whose work is pending.
  virtual void loadCustomer(std::string id, Callback<std::optional<CustomerRecord>> done) = 0;
  virtual void findCustomer(std::vector<std::pair<std::string, std::string>> contacts,
                            Callback<std::optional<std::string>> done) = 0;
  virtual void putCustomer(CustomerWrite write, Callback<CustomerWriteResult> done) = 0;
  // Rewrites a stored profile in place: `change` gets the stored profile text on the store
  // thread (so it must be self-contained) and returns the new text, or nullopt to leave it. A
  // customer without a stored profile is left alone.
  using ProfileChange = std::function<std::optional<std::string>(const std::string& profile)>;
  virtual void changeCustomerProfile(std::string id, ProfileChange change, Callback<Ok> done) = 0;
  // Erases the profile, the contacts and the contents of the customer's messages; pending ones
  // are cancelled. The policy state stays (it holds no personal data). False: no such customer.
  virtual void eraseCustomer(std::string id, SysTime now, Callback<bool> done) = 0;
  virtual void mergeCustomers(CustomerMerge merge, Callback<Ok> done) = 0;
  // Newest first.
  virtual void customerMessages(std::string id, std::size_t limit,
                                Callback<std::vector<MessageRecord>> done) = 0;
  // Returns the ids of the messages cancelled.
  virtual void applyCustomerEvent(CustomerEvent event, Callback<std::vector<std::string>> done) = 0;
  // Pending jobs with (due, id) strictly after `after`, in order, at most `limit`.
  virtual void loadDue(std::optional<DueJob> after, std::size_t limit,
                       Callback<std::vector<DueJob>> done) = 0;
  // Moves a failed or expired message back to the queue (see RetryResult), in one transaction.
  virtual void retry(std::string id, SysTime now, Callback<RetryResult> done) = 0;
  // Message counts by status and the oldest due job. Taken on the store thread at most about
  // once a second (longer when the count is slow); calls in between get the last snapshot.
  virtual void queueSnapshot(Callback<QueueSnapshot> done) = 0;
  virtual StoreStats stats() const = 0;
  // Runs every queued operation, then stops the store thread. Completions still run.
  virtual void close() = 0;
  // True after an I/O error the store cannot recover from (the process should exit).
  virtual bool failed() const = 0;
};

}  // namespace omnigate::store
