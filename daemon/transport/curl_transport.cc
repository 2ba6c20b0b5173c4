// The only code that drives libcurl. One multi handle runs on the Asio io_context through
// curl_multi_socket_action; see the reference notes on the multi_socket pitfalls, each of which is
// handled here:
//  - readiness is awaited with stream_descriptor::async_wait, never by reading, and re-armed after
//    every event for as long as curl still wants that direction;
//  - curl owns every socket: descriptors are released (never closed) on CURL_POLL_REMOVE, and also
//    from CURLOPT_CLOSESOCKETFUNCTION, because some curl versions close a socket before (or
//    without) announcing its removal; a socket number handed out again by OPENSOCKETFUNCTION drops
//    any stale watch on that number;
//  - waits carry the watch's generation, so a completion for a closed-and-reused fd is ignored;
//  - libcurl is never called from inside one of its own callbacks: a zero timeout is posted, and
//    completions are posted so user code never runs inside curl either.
//
// Connection pools: requests without a pool_key share the multi handle's connection cache. Each
// distinct non-empty pool_key gets its own CURLSH sharing connections (and TLS sessions), so
// requests with different keys can never be put on the same connection. Pool keys come from
// provider configuration, so their number is small and the pools live as long as the transport.
// CURLMOPT_MAX_HOST_CONNECTIONS is enforced by curl per connection cache, i.e. per pool.
// Easy handles are reused, but only within their pool: CURLOPT_SHARE is set once when a handle is
// created, because moving a handle from one connection-sharing CURLSH to another is a path where
// libcurl has had bugs (it leaked connections in the version Debian 12 ships).
//
// SMTP runs on worker threads with curl_easy_perform instead: libcurl (7.88, and later versions
// as of curl/curl#8555) waits for the reply to the end of DATA in a blocking loop even inside a
// multi handle, so one slow or hanging mail server would stall the event loop — the API and
// every other channel — for up to the attempt's timeout. Each worker keeps one easy handle (and
// so one connection cache) per pool_key; a handle whose transfer failed is discarded with its
// connections, because libcurl puts a connection that failed mid-transaction (after a 421, or a
// timeout while the server still holds the DATA phase) back into its cache and the next message
// would inherit a broken session.

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/transport/address_policy.h"
#include "daemon/transport/atomic_file.h"
#include "daemon/transport/curl_errors.h"
#include "daemon/transport/transport.h"

namespace omnigate::transport {
namespace {

namespace asio = boost::asio;
using channels::FileWrite;
using channels::Header;
using channels::HttpMethod;
using channels::HttpRequest;
using channels::HttpVersion;
using channels::SmtpRequest;
using channels::TransportErrorKind;
using channels::TransportFailure;
using channels::TransportReply;
using channels::TransportRequest;

constexpr std::size_t kMaxIdleEasyHandles = 32;
constexpr std::size_t kSmtpRepliesKept = 4;
constexpr curl_off_t kMaxRetryAfterSeconds = 86'400;
constexpr long kKeepAliveIdleSeconds = 60;
constexpr long kKeepAliveIntervalSeconds = 30;
constexpr const char* kUserAgent = "omnigated";
// Enough for every SMTP provider's max_concurrency in practice; more jobs wait for a worker.
constexpr std::size_t kMaxSmtpWorkers = 64;

[[noreturn]] void fatal(const char* what) {
  // Environment failures after startup are not recoverable here; systemd restarts the daemon.
  std::fprintf(stderr, "omnigate transport: %s\n", what);
  std::abort();
}

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fatal("curl_global_init failed");
  });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool appendToSlist(Slist& list, const std::string& item) {
  curl_slist* grown = curl_slist_append(list.get(), item.c_str());
  if (grown == nullptr) return false;
  list.release();
  list.reset(grown);
  return true;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i];
    char b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

bool isSmtpReplyLine(std::string_view line) {
  return line.size() >= 3 &&
         std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) &&
         (line.size() == 3 || line[3] == ' ' || line[3] == '-');
}

const char* httpVersionText(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return "1.0";
    case CURL_HTTP_VERSION_1_1:
      return "1.1";
    case CURL_HTTP_VERSION_2_0:
      return "2";
    case CURL_HTTP_VERSION_3:
      return "3";
    default:
      return "";
  }
}

TransportFailure makeFailure(TransportErrorKind kind, bool may_have_been_sent, std::string detail) {
  TransportFailure failure;
  failure.kind = kind;
  failure.request_may_have_been_sent = may_have_been_sent;
  failure.detail = std::move(detail);
  return failure;
}

class Engine;

// Connections for one pool_key, and the idle easy handles bound to it.
struct Pool {
  CURLSH* share = nullptr;  // null for the default pool: the multi handle's own cache
  std::vector<CURL*> idle;
};

// Everything one easy handle needs while it is in the multi handle. Its address is given to curl
// as callback data, so it never moves while the transfer runs.
struct Transfer {
  enum class Protocol { Http, Smtp };

  Engine* engine = nullptr;
  Pool* pool = nullptr;
  CURL* easy = nullptr;
  Completion done;
  Protocol protocol = Protocol::Http;
  bool http2_required = false;
  bool refuse_private = false;
  std::size_t max_body = 0;

  std::string request_body;  // CURLOPT_POSTFIELDS points into it
  std::string upload;        // SMTP message, streamed by onUpload
  std::size_t upload_offset = 0;
  Slist header_list;
  Slist recipients;

  std::vector<Header> headers;
  std::string body;
  bool too_large = false;
  std::string smtp_reply_in_progress;
  bool smtp_reply_complete = true;
  std::deque<std::string> smtp_replies;  // the most recent complete server replies

  std::string refused_address;
  AddressClass refused_class = AddressClass::Public;
  int sockets_opened = 0;

  char error[CURL_ERROR_SIZE] = {};

  void addHttpHeaderLine(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (startsWithNoCase(line, "HTTP/")) {
      // A new status line starts a new response (after 1xx); only the last one's headers count.
      headers.clear();
      return;
    }
    if (line.empty()) return;
    // obs-fold: a continuation line belongs to the previous header's value.
    if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
      headers.back().second += ' ';
      headers.back().second += trimmed(line);
      return;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    headers.emplace_back(std::string(trimmed(line.substr(0, colon))),
                         std::string(trimmed(line.substr(colon + 1))));
  }

  void addSmtpLine(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (!isSmtpReplyLine(line)) return;
    if (!smtp_reply_in_progress.empty()) smtp_reply_in_progress += '\n';
    smtp_reply_in_progress += line;
    smtp_reply_complete = line.size() == 3 || line[3] == ' ';
    if (smtp_reply_complete) {
      smtp_replies.push_back(std::move(smtp_reply_in_progress));
      smtp_reply_in_progress.clear();
      if (smtp_replies.size() > kSmtpRepliesKept) smtp_replies.pop_front();
    }
  }

  // The text of the reply curl reports the code of. After a refusal curl may still say QUIT on
  // the same transfer, so the very last reply can be "221 Bye".
  std::string smtpReplyText(long code) const {
    std::string prefix = std::to_string(code);
    for (auto reply = smtp_replies.rbegin(); reply != smtp_replies.rend(); ++reply) {
      if (reply->compare(0, prefix.size(), prefix) == 0) return *reply;
    }
    return {};
  }

  std::string errorText(CURLcode code) const {
    return error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(code));
  }

  std::string refusalText() const {
    return "destination address " + refused_address +
           " is private/loopback/link-local/metadata and not allowed (" + describe(refused_class) +
           ")";
  }
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (transfer->body.size() + bytes > transfer->max_body) {
    transfer->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  try {
    transfer->body.append(data, bytes);
  } catch (...) {
    return 0;
  }
  return bytes;
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  try {
    std::string_view line(data, bytes);
    if (transfer->protocol == Transfer::Protocol::Smtp) {
      // libcurl hands every SMTP server reply line to the header callback.
      transfer->addSmtpLine(line);
    } else {
      transfer->addHttpHeaderLine(line);
    }
  } catch (...) {
    return 0;
  }
  return bytes;
}

size_t onUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t room = size * count;
  size_t left = transfer->upload.size() - transfer->upload_offset;
  size_t chunk = std::min(room, left);
  std::memcpy(buffer, transfer->upload.data() + transfer->upload_offset, chunk);
  transfer->upload_offset += chunk;
  return chunk;
}

int onPrerequest(void* user, char* primary_ip, char*, int, int) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view ip = primary_ip != nullptr ? primary_ip : "";
  // Fail closed: an address we cannot parse is not known to be public.
  AddressClass address_class = classifyAddressText(ip).value_or(AddressClass::Reserved);
  if (isPublic(address_class)) return CURL_PREREQFUNC_OK;
  transfer->refused_address = ip.empty() ? "(unknown)" : std::string(ip);
  transfer->refused_class = address_class;
  return CURL_PREREQFUNC_ABORT;
}

curl_socket_t onOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address);
int onCloseSocket(void* user, curl_socket_t fd);
int onSocket(CURL* easy, curl_socket_t fd, int what, void* user, void* socket_data);
int onTimer(CURLM* multi, long timeout_ms, void* user);

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  Engine(asio::io_context& io, TransportOptions options)
      : io_(io), options_(std::move(options)), timer_(io) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) fatal("curl_multi_init failed");
    bool configured =
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, onSocket) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, onTimer) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long{CURLPIPE_MULTIPLEX}) == CURLM_OK &&
        curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                          static_cast<long>(options_.max_host_connections)) == CURLM_OK;
    if (!configured) fatal("curl_multi_setopt failed");
  }

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  ~Engine() { shutdown(); }

  void submit(TransportRequest request, Completion done) {
    if (closed_) {
      post(std::move(done),
           makeFailure(TransportErrorKind::Local, false, "transport is shut down"));
      return;
    }
    try {
      std::visit(
          [&](auto& what) {
            using What = std::decay_t<decltype(what)>;
            if constexpr (std::is_same_v<What, FileWrite>) {
              writeFile(what, done);
            } else if constexpr (std::is_same_v<What, SmtpRequest>) {
              submitSmtp(std::move(what), request.timeout, std::move(done));
            } else {
              start(what, request.timeout, done);
            }
          },
          request.what);
    } catch (const std::exception& error) {
      // Only allocation can throw on the way; `done` is consumed only once nothing else can.
      post(std::move(done), makeFailure(TransportErrorKind::Local, false,
                                        std::string("cannot start request: ") + error.what()));
    }
  }

  std::size_t inFlight() const { return transfers_.size() + smtp_in_flight_.load(); }

  void shutdown() {
    if (closed_) return;
    closed_ = true;
    stopSmtpWorkers();
    timer_.cancel();
    // Stop watching before curl closes anything: the sockets are still open at this point, so
    // deregistering them cannot touch a reused descriptor number.
    sockets_.clear();
    for (auto& [easy, transfer] : transfers_) {
      bool sent = established(easy);
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      transfer->easy = nullptr;
      post(std::move(transfer->done),
           makeFailure(TransportErrorKind::Local, sent, "transport shutting down"));
    }
    transfers_.clear();
    for (auto& [key, pool] : pools_) {
      for (CURL* easy : pool.idle) curl_easy_cleanup(easy);
      pool.idle.clear();
    }
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
    // Connections held in a share are closed here, after every easy handle has let go of it.
    for (auto& [key, pool] : pools_) {
      if (pool.share != nullptr) curl_share_cleanup(pool.share);
    }
    pools_.clear();
  }

  // --- curl callbacks (must not call libcurl) ---

  int socketCallback(curl_socket_t fd, int what) {
    if (what == CURL_POLL_REMOVE) {
      forgetWatch(fd);
      return 0;
    }
    if (closed_) return 0;
    auto found = sockets_.find(fd);
    if (found == sockets_.end()) {
      auto watch = std::make_unique<SocketWatch>(io_, ++next_generation_);
      boost::system::error_code ec;
      watch->descriptor.assign(fd, ec);
      if (ec) {
        // Returning an error would stop the whole multi handle; fail just this socket's transfer.
        postSocketError(fd);
        return 0;
      }
      found = sockets_.emplace(fd, std::move(watch)).first;
    }
    found->second->wanted = what;
    armWaits(fd, *found->second);
    return 0;
  }

  void timerCallback(long timeout_ms) {
    if (closed_) return;
    timer_.cancel();
    if (timeout_ms < 0) return;
    if (timeout_ms == 0) {
      if (timeout_posted_) return;
      timeout_posted_ = true;
      asio::post(io_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) {
          self->timeout_posted_ = false;
          self->socketAction(CURL_SOCKET_TIMEOUT, 0);
        }
      });
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->socketAction(CURL_SOCKET_TIMEOUT, 0);
    });
  }

  // Called when curl is done with a socket it opened, right before it is closed.
  void forgetWatch(curl_socket_t fd) { sockets_.erase(fd); }

 private:
  struct SocketWatch {
    SocketWatch(asio::io_context& io, std::uint64_t generation)
        : descriptor(io), generation(generation) {}
    SocketWatch(const SocketWatch&) = delete;
    SocketWatch& operator=(const SocketWatch&) = delete;
    // curl owns the fd: release() deregisters it from the reactor and cancels waits, never closes.
    ~SocketWatch() {
      if (descriptor.is_open()) descriptor.release();
    }

    asio::posix::stream_descriptor descriptor;
    std::uint64_t generation;
    int wanted = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits
    bool waiting_read = false;
    bool waiting_write = false;
  };

  auto readinessHandler(curl_socket_t fd, std::uint64_t generation, int event) {
    return [weak = weak_from_this(), fd, generation, event](const boost::system::error_code& ec) {
      if (auto self = weak.lock()) self->onReady(fd, generation, event, ec);
    };
  }

  void armWaits(curl_socket_t fd, SocketWatch& watch) {
    if ((watch.wanted & CURL_POLL_IN) && !watch.waiting_read) {
      watch.waiting_read = true;
      watch.descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                  readinessHandler(fd, watch.generation, CURL_CSELECT_IN));
    }
    if ((watch.wanted & CURL_POLL_OUT) && !watch.waiting_write) {
      watch.waiting_write = true;
      watch.descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                  readinessHandler(fd, watch.generation, CURL_CSELECT_OUT));
    }
  }

  SocketWatch* findWatch(curl_socket_t fd, std::uint64_t generation) {
    auto found = sockets_.find(fd);
    if (found == sockets_.end() || found->second->generation != generation) return nullptr;
    return found->second.get();
  }

  void onReady(curl_socket_t fd, std::uint64_t generation, int event,
               const boost::system::error_code& ec) {
    SocketWatch* watch = findWatch(fd, generation);
    if (watch == nullptr) return;  // removed, or the number now belongs to another socket
    (event == CURL_CSELECT_IN ? watch->waiting_read : watch->waiting_write) = false;
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // EBADF and friends: the fd is not what curl thinks it is; let curl fail the transfer.
      forgetWatch(fd);
      socketAction(fd, CURL_CSELECT_ERR);
      return;
    }
    int wanted_bit = event == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
    if ((watch->wanted & wanted_bit) == 0) return;  // curl changed its mind meanwhile
    socketAction(fd, event);
    if (SocketWatch* still = findWatch(fd, generation)) armWaits(fd, *still);
  }

  void postSocketError(curl_socket_t fd) {
    asio::post(io_, [weak = weak_from_this(), fd] {
      if (auto self = weak.lock()) self->socketAction(fd, CURL_CSELECT_ERR);
    });
  }

  void socketAction(curl_socket_t fd, int events) {
    if (closed_) return;
    int running = 0;
    CURLMcode result = curl_multi_socket_action(multi_, fd, events, &running);
    if (result != CURLM_OK && result != CURLM_BAD_SOCKET) {
      std::fprintf(stderr, "omnigate transport: curl_multi_socket_action: %s\n",
                   curl_multi_strerror(result));
    }
    drainCompleted();
  }

  void drainCompleted() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      // The message is invalid once its handle is removed, so take what we need first.
      CURL* easy = message->easy_handle;
      CURLcode code = message->data.result;
      complete(easy, code);
    }
  }

  void complete(CURL* easy, CURLcode code) {
    auto node = transfers_.extract(easy);
    curl_multi_remove_handle(multi_, easy);
    if (node.empty()) {
      curl_easy_cleanup(easy);
      return;
    }
    std::unique_ptr<Transfer> transfer = std::move(node.mapped());
    Outcome outcome = transfer->protocol == Transfer::Protocol::Smtp ? smtpOutcome(*transfer, code)
                                                                     : httpOutcome(*transfer, code);
    recycle(easy, *transfer->pool);
    transfer->easy = nullptr;
    post(std::move(transfer->done), std::move(outcome));
  }

  static bool established(CURL* easy) {
    curl_off_t connect_us = 0;
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    return connect_us > 0 || pretransfer_us > 0;
  }

  // Over max_reply_bytes: declared by Content-Length (curl's own check) or counted by onBody.
  static bool replyTooLarge(const Transfer& transfer, CURLcode code) {
    return code == CURLE_FILESIZE_EXCEEDED || (code == CURLE_WRITE_ERROR && transfer.too_large);
  }

  static TransportFailure failureFor(const Transfer& transfer, CURLcode code) {
    bool refused_only = code == CURLE_ABORTED_BY_CALLBACK ||
                        (code == CURLE_COULDNT_CONNECT && transfer.sockets_opened == 0);
    if (!transfer.refused_address.empty() && refused_only) {
      return makeFailure(TransportErrorKind::Local, false, transfer.refusalText());
    }
    TransportErrorKind kind =
        replyTooLarge(transfer, code) ? TransportErrorKind::TooLarge : kindForCurlCode(code);
    std::string detail = transfer.errorText(code);
    if (kind == TransportErrorKind::TooLarge) {
      detail = "reply larger than " + std::to_string(transfer.max_body) + " bytes (" + detail + ")";
    }
    if (!transfer.refused_address.empty()) detail += "; " + transfer.refusalText();
    bool sent = !failsBeforeSending(kind) && established(transfer.easy);
    return makeFailure(kind, sent, std::move(detail));
  }

  // A provider that said 2xx has taken the message, however long its reply: failing the
  // attempt as too large would send the message again. Its reply is read up to the cap.
  static bool acceptedButTooLarge(const Transfer& transfer, CURLcode code) {
    if (!replyTooLarge(transfer, code)) return false;
    long status = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
  }

  static Outcome httpOutcome(Transfer& transfer, CURLcode code) {
    if (code != CURLE_OK && !acceptedButTooLarge(transfer, code)) {
      return failureFor(transfer, code);
    }
    CURL* easy = transfer.easy;
    long version = 0;
    curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
    if (transfer.http2_required && version != CURL_HTTP_VERSION_2_0) {
      std::string got = httpVersionText(version);
      return makeFailure(TransportErrorKind::Local, true,
                         "HTTP/2 is required but the server answered with HTTP/" +
                             (got.empty() ? std::string("?") : got));
    }
    TransportReply reply;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.http_version = httpVersionText(version);
    bool has_retry_after =
        std::any_of(transfer.headers.begin(), transfer.headers.end(), [](const Header& header) {
          return header.first.size() == 11 && startsWithNoCase(header.first, "retry-after");
        });
    curl_off_t retry_after = 0;
    if (has_retry_after &&
        curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
      reply.retry_after = std::chrono::seconds(std::min(retry_after, kMaxRetryAfterSeconds));
    }
    reply.headers = std::move(transfer.headers);
    reply.body = std::move(transfer.body);
    return reply;
  }

  static Outcome smtpOutcome(Transfer& transfer, CURLcode code) {
    long status = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
    // A refusal the server put into words is a reply for the provider to classify (4xx vs 5xx),
    // not a transport failure.
    if (code == CURLE_OK || status >= 400) {
      TransportReply reply;
      reply.status = status;
      reply.body = transfer.smtpReplyText(status);
      if (reply.body.empty() && code != CURLE_OK) reply.body = transfer.errorText(code);
      return reply;
    }
    return failureFor(transfer, code);
  }

  void writeFile(const FileWrite& write, Completion& done) {
    Status written = writeFileAtomically(write.path, write.contents);
    if (!written) {
      post(std::move(done), makeFailure(TransportErrorKind::Local, false, written.error().message));
      return;
    }
    TransportReply reply;
    reply.status = 200;
    post(std::move(done), std::move(reply));
  }

  template <class Request>
  void start(Request& request, std::chrono::milliseconds timeout, Completion& done) {
    Pool* pool = poolFor(request.pool_key);
    CURL* easy = pool != nullptr ? takeEasy(*pool) : nullptr;
    if (easy == nullptr) {
      post(std::move(done),
           makeFailure(TransportErrorKind::Local, false,
                       "cannot create a curl handle for pool '" + request.pool_key + "'"));
      return;
    }
    bool easy_placed = false;  // registered as a transfer, or back in the free list
    try {
      auto transfer = std::make_unique<Transfer>();
      transfer->engine = this;
      transfer->pool = pool;
      transfer->easy = easy;
      std::string problem = configureCommon(*transfer, request.url, timeout);
      if (problem.empty()) problem = configure(*transfer, request);
      if (!problem.empty()) {
        recycle(easy, *pool);
        easy_placed = true;
        post(std::move(done), makeFailure(TransportErrorKind::Local, false, std::move(problem)));
        return;
      }
      // Registered before curl can see the handle, so no callback ever meets an unknown transfer.
      Transfer& entry = *transfers_.emplace(easy, std::move(transfer)).first->second;
      easy_placed = true;
      entry.done = std::move(done);
      CURLMcode added = curl_multi_add_handle(multi_, easy);
      if (added != CURLM_OK) {
        done = std::move(entry.done);
        transfers_.erase(easy);
        recycle(easy, *pool);
        post(std::move(done),
             makeFailure(TransportErrorKind::Local, false, curl_multi_strerror(added)));
      }
    } catch (...) {
      if (!easy_placed) recycle(easy, *pool);
      throw;
    }
  }

  // `on_event_loop`: the transfer runs in the multi handle, whose sockets the engine watches.
  std::string configureCommon(Transfer& transfer, const std::string& url,
                              std::chrono::milliseconds timeout, bool on_event_loop = true) {
    CURL* easy = transfer.easy;
    long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
    CURLcode rc = CURLE_OK;
    auto check = [&rc](CURLcode result) {
      if (rc == CURLE_OK) rc = result;
    };
    check(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error));
    check(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()));
    check(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
    check(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms));
    check(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms));
    check(curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L));
    check(curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s));
    check(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
    check(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
    check(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
    if (!options_.ca_file.empty()) {
      check(curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str()));
    }
    // Proxies from the environment would bypass the destination address policy and send provider
    // credentials through a host nobody configured for it.
    check(curl_easy_setopt(easy, CURLOPT_PROXY, ""));
    check(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
    check(curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, kKeepAliveIdleSeconds));
    check(curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, kKeepAliveIntervalSeconds));
    if (on_event_loop) {
      check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, onOpenSocket));
      check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &transfer));
      // Connections outlive transfers in the pool, so the close hook's data is the engine.
      check(curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, onCloseSocket));
      check(curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this));
    }
    check(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, onHeader));
    check(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer));
    check(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, onBody));
    check(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer));
    transfer.max_body = options_.max_reply_bytes;
    if (rc != CURLE_OK) return std::string("cannot configure request: ") + curl_easy_strerror(rc);
    return {};
  }

  std::string configure(Transfer& transfer, HttpRequest& request) {
    transfer.protocol = Transfer::Protocol::Http;
    transfer.refuse_private = request.refuse_private_destinations;
    transfer.request_body = std::move(request.body);
    bool caller_sets_expect = false;
    for (const auto& [name, value] : request.headers) {
      // A CR or LF would let one header smuggle others (or a second request) onto the wire.
      if (name.find_first_of("\r\n:") != std::string::npos || name.empty() ||
          value.find_first_of("\r\n") != std::string::npos) {
        return "header " + name + " contains a line break or is malformed";
      }
      caller_sets_expect =
          caller_sets_expect || (name.size() == 6 && startsWithNoCase(name, "expect"));
      // "Name;" is curl's spelling of a header with an empty value.
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      if (!appendToSlist(transfer.header_list, line)) return "out of memory building headers";
    }
    // curl would otherwise wait for "100 Continue" before sending a large body.
    if (!caller_sets_expect && !appendToSlist(transfer.header_list, "Expect:")) {
      return "out of memory building headers";
    }

    CURL* easy = transfer.easy;
    CURLcode rc = CURLE_OK;
    auto check = [&rc](CURLcode result) {
      if (rc == CURLE_OK) rc = result;
    };
    check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
    check(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
    check(curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent));
    check(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.header_list.get()));
    check(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                           static_cast<curl_off_t>(options_.max_reply_bytes)));
    switch (request.method) {
      case HttpMethod::Get:
        check(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
        break;
      case HttpMethod::Put:
        check(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PUT"));
        [[fallthrough]];
      case HttpMethod::Post:
        check(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                               static_cast<curl_off_t>(transfer.request_body.size())));
        check(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.request_body.data()));
        break;
    }
    switch (request.http_version) {
      case HttpVersion::Any:
        // An https peer may speak HTTP/2: let a burst wait for the first connection's ALPN result
        // and share it, rather than open a connection per request. Not for cleartext, where curl
        // learns that a connection cannot multiplex only from its first reply, which would
        // serialise a burst behind one slow request.
        if (startsWithNoCase(request.url, "https://")) {
          check(curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L));
        }
        break;
      case HttpVersion::Http1:
        check(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1}));
        break;
      case HttpVersion::Http2Required: {
        transfer.http2_required = true;
        long version = startsWithNoCase(request.url, "http://")
                           ? long{CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}
                           : long{CURL_HTTP_VERSION_2TLS};
        check(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, version));
        // Queue behind an existing connection's streams instead of opening more connections.
        check(curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L));
        break;
      }
    }
    if (transfer.refuse_private) {
      // OPENSOCKETFUNCTION vets new connections; this vets reused ones, which may have been opened
      // for a request that allowed private destinations.
      check(curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, onPrerequest));
      check(curl_easy_setopt(easy, CURLOPT_PREREQDATA, &transfer));
    }
    if (rc != CURLE_OK) return std::string("cannot configure request: ") + curl_easy_strerror(rc);
    return {};
  }

  std::string configure(Transfer& transfer, SmtpRequest& request) {
    transfer.protocol = Transfer::Protocol::Smtp;
    transfer.upload = std::move(request.payload);
    if (request.rcpt_to.find_first_of("\r\n") != std::string::npos ||
        request.mail_from.find_first_of("\r\n") != std::string::npos) {
      return "envelope address contains a line break";
    }
    if (!appendToSlist(transfer.recipients, request.rcpt_to)) return "out of memory";

    CURL* easy = transfer.easy;
    CURLcode rc = CURLE_OK;
    auto check = [&rc](CURLcode result) {
      if (rc == CURLE_OK) rc = result;
    };
    check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps"));
    check(curl_easy_setopt(easy, CURLOPT_MAIL_FROM, request.mail_from.c_str()));
    check(curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, transfer.recipients.get()));
    check(curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L));
    check(curl_easy_setopt(easy, CURLOPT_READFUNCTION, onUpload));
    check(curl_easy_setopt(easy, CURLOPT_READDATA, &transfer));
    check(curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
                           static_cast<curl_off_t>(transfer.upload.size())));
    check(curl_easy_setopt(easy, CURLOPT_USE_SSL,
                           request.require_tls ? long{CURLUSESSL_ALL} : long{CURLUSESSL_TRY}));
    if (!request.username.empty()) {
      check(curl_easy_setopt(easy, CURLOPT_USERNAME, request.username.c_str()));
    }
    if (!request.password.empty()) {
      check(curl_easy_setopt(easy, CURLOPT_PASSWORD, request.password.c_str()));
    }
    if (rc != CURLE_OK) return std::string("cannot configure request: ") + curl_easy_strerror(rc);
    return {};
  }

  // --- SMTP on worker threads ---

  struct SmtpJob {
    SmtpRequest request;
    std::chrono::milliseconds timeout;
    Completion done;
  };

  void submitSmtp(SmtpRequest request, std::chrono::milliseconds timeout, Completion done) {
    std::unique_lock lock(smtp_mutex_);
    smtp_queue_.push_back(SmtpJob{std::move(request), timeout, std::move(done)});
    ++smtp_in_flight_;
    if (smtp_idle_ == 0 && smtp_threads_.size() < kMaxSmtpWorkers) {
      smtp_threads_.emplace_back([this] { runSmtpWorker(); });
    } else {
      smtp_wake_.notify_one();
    }
  }

  void stopSmtpWorkers() {
    std::deque<SmtpJob> unstarted;
    {
      std::unique_lock lock(smtp_mutex_);
      smtp_stopping_ = true;
      smtp_stopping_atomic_ = true;
      unstarted.swap(smtp_queue_);
    }
    smtp_wake_.notify_all();
    for (auto& job : unstarted) {
      --smtp_in_flight_;
      post(std::move(job.done),
           makeFailure(TransportErrorKind::Local, false, "transport shutting down"));
    }
    // Transfers in progress see smtp_stopping_ in their progress callback and abort.
    for (auto& thread : smtp_threads_) thread.join();
    smtp_threads_.clear();
  }

  // libcurl's blocking wait for the end-of-DATA reply ignores CURLOPT_TIMEOUT_MS (it waits for
  // as long as the server likes), but it does call the progress callback: the deadline and
  // shutdown are enforced here.
  struct SmtpProgress {
    const std::atomic<bool>* stopping;
    std::chrono::steady_clock::time_point deadline;
    bool timed_out = false;
  };

  static int onSmtpProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* progress = static_cast<SmtpProgress*>(user);
    if (progress->stopping->load()) return 1;
    if (std::chrono::steady_clock::now() >= progress->deadline) {
      progress->timed_out = true;
      return 1;
    }
    return 0;
  }

  // One worker's handle for one pool_key, and the socket of its connection (an SMTP handle
  // talks to one server, so it holds at most one).
  struct SmtpHandle {
    CURL* easy = nullptr;
    curl_socket_t fd = CURL_SOCKET_BAD;
  };

  static curl_socket_t onSmtpOpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
    int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd >= 0) static_cast<SmtpHandle*>(user)->fd = fd;
    return fd < 0 ? CURL_SOCKET_BAD : fd;
  }

  static int onSmtpCloseSocket(void* user, curl_socket_t fd) {
    auto* handle = static_cast<SmtpHandle*>(user);
    if (handle->fd == fd) handle->fd = CURL_SOCKET_BAD;
    return ::close(fd);
  }

  // Closing a connection makes libcurl say QUIT and wait for the reply with its own default
  // response timeout (two minutes), which a hung server never sends: shut the socket down first
  // so that wait ends at once.
  static void discardSmtpHandle(SmtpHandle& handle) {
    if (handle.fd != CURL_SOCKET_BAD) ::shutdown(handle.fd, SHUT_RDWR);
    curl_easy_cleanup(handle.easy);
    handle.easy = nullptr;
  }

  void runSmtpWorker() {
    std::map<std::string, SmtpHandle> handles;  // by pool_key: each keeps its own connection
    while (true) {
      SmtpJob job;
      {
        std::unique_lock lock(smtp_mutex_);
        ++smtp_idle_;
        smtp_wake_.wait(lock, [this] { return smtp_stopping_ || !smtp_queue_.empty(); });
        --smtp_idle_;
        if (smtp_stopping_) break;
        job = std::move(smtp_queue_.front());
        smtp_queue_.pop_front();
      }
      bool discard = false;
      Outcome outcome = performSmtp(job, handles, discard);
      --smtp_in_flight_;
      post(std::move(job.done), std::move(outcome));
      if (discard) {
        discardSmtpHandle(handles[job.request.pool_key]);
        handles.erase(job.request.pool_key);
      }
    }
    // A polite QUIT to healthy servers; a hung one was discarded when its transfer failed.
    for (auto& [key, handle] : handles) curl_easy_cleanup(handle.easy);
  }

  // `discard` is set when the handle's connection must not carry another message.
  Outcome performSmtp(SmtpJob& job, std::map<std::string, SmtpHandle>& handles, bool& discard) {
    SmtpHandle& handle = handles[job.request.pool_key];
    if (handle.easy == nullptr) handle.easy = curl_easy_init();
    CURL* easy = handle.easy;
    if (easy == nullptr) {
      handles.erase(job.request.pool_key);
      return makeFailure(TransportErrorKind::Local, false, "cannot create a curl handle");
    }
    Transfer transfer;
    transfer.easy = easy;
    std::string problem = configureCommon(transfer, job.request.url, job.timeout, false);
    if (problem.empty()) problem = configure(transfer, job.request);
    SmtpProgress progress{&smtp_stopping_atomic_, std::chrono::steady_clock::now() + job.timeout};
    if (problem.empty()) {
      bool configured =
          curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, onSmtpProgress) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &progress) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, onSmtpOpenSocket) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &handle) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, onSmtpCloseSocket) == CURLE_OK &&
          curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &handle) == CURLE_OK;
      if (!configured) problem = "cannot configure the SMTP transfer callbacks";
    }
    if (!problem.empty()) {
      curl_easy_reset(easy);
      return makeFailure(TransportErrorKind::Local, false, std::move(problem));
    }
    CURLcode code = curl_easy_perform(easy);
    Outcome outcome;
    if (code == CURLE_ABORTED_BY_CALLBACK && progress.timed_out) {
      outcome = makeFailure(
          TransportErrorKind::Timeout, established(easy),
          "no complete SMTP reply within " + std::to_string(job.timeout.count()) + " ms");
    } else if (code == CURLE_ABORTED_BY_CALLBACK) {
      outcome =
          makeFailure(TransportErrorKind::Local, established(easy), "transport shutting down");
    } else {
      outcome = smtpOutcome(transfer, code);
    }
    if (code == CURLE_OK) {
      curl_easy_reset(easy);  // keeps the connection for the next message of this pool
    } else {
      discard = true;  // with it goes a connection in an unknown SMTP state
    }
    return outcome;
  }

  // nullptr only if libcurl cannot allocate a share.
  Pool* poolFor(const std::string& pool_key) {
    if (auto found = pools_.find(pool_key); found != pools_.end()) return &found->second;
    Pool pool;
    if (!pool_key.empty()) {
      pool.share = curl_share_init();
      if (pool.share == nullptr) return nullptr;
      // Single-threaded use, so no lock callbacks are needed.
      if (curl_share_setopt(pool.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
          curl_share_setopt(pool.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
              CURLSHE_OK) {
        curl_share_cleanup(pool.share);
        return nullptr;
      }
    }
    return &pools_.emplace(pool_key, std::move(pool)).first->second;
  }

  CURL* takeEasy(Pool& pool) {
    if (!pool.idle.empty()) {
      CURL* easy = pool.idle.back();
      pool.idle.pop_back();
      return easy;
    }
    CURL* easy = curl_easy_init();
    if (easy != nullptr && pool.share != nullptr &&
        curl_easy_setopt(easy, CURLOPT_SHARE, pool.share) != CURLE_OK) {
      curl_easy_cleanup(easy);
      return nullptr;
    }
    return easy;
  }

  // Reset drops every pointer into the finished Transfer; the share binding and the handle's DNS
  // and TLS caches survive it.
  void recycle(CURL* easy, Pool& pool) {
    curl_easy_reset(easy);
    if (pool.idle.size() < kMaxIdleEasyHandles) {
      pool.idle.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  void post(Completion done, Outcome outcome) {
    if (!done) return;
    asio::post(io_, [done = std::move(done), outcome = std::move(outcome)]() mutable {
      done(std::move(outcome));
    });
  }

  asio::io_context& io_;
  TransportOptions options_;
  CURLM* multi_ = nullptr;
  asio::steady_timer timer_;
  bool timeout_posted_ = false;
  bool closed_ = false;
  std::uint64_t next_generation_ = 0;
  std::unordered_map<curl_socket_t, std::unique_ptr<SocketWatch>> sockets_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::map<std::string, Pool> pools_;  // node-based: Transfer keeps a Pool* across inserts

  std::mutex smtp_mutex_;
  std::condition_variable smtp_wake_;
  std::deque<SmtpJob> smtp_queue_;                 // guarded by smtp_mutex_
  std::vector<std::thread> smtp_threads_;          // started and joined on the io_context thread
  std::size_t smtp_idle_ = 0;                      // guarded by smtp_mutex_
  bool smtp_stopping_ = false;                     // guarded by smtp_mutex_
  std::atomic<bool> smtp_stopping_atomic_{false};  // read by curl's progress callback
  std::atomic<std::size_t> smtp_in_flight_{0};
};

curl_socket_t onOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* transfer = static_cast<Transfer*>(user);
  const auto* socket_address = reinterpret_cast<const sockaddr*>(&address->addr);
  if (purpose == CURLSOCKTYPE_IPCXN && transfer->refuse_private) {
    AddressClass address_class =
        classifySocketAddress(socket_address, address->addrlen).value_or(AddressClass::Reserved);
    if (!isPublic(address_class)) {
      // Refusing here means no TCP connection to an internal service is ever made; curl moves
      // on to the name's next address, if any.
      transfer->refused_address = socketAddressText(socket_address, address->addrlen);
      if (transfer->refused_address.empty()) transfer->refused_address = "(unknown)";
      transfer->refused_class = address_class;
      return CURL_SOCKET_BAD;
    }
  }
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  ++transfer->sockets_opened;
  // The number was free, so any watch still registered under it is stale.
  transfer->engine->forgetWatch(fd);
  return fd;
}

int onCloseSocket(void* user, curl_socket_t fd) {
  static_cast<Engine*>(user)->forgetWatch(fd);
  return ::close(fd);
}

int onSocket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  try {
    return static_cast<Engine*>(user)->socketCallback(fd, what);
  } catch (...) {
    return -1;
  }
}

int onTimer(CURLM*, long timeout_ms, void* user) {
  try {
    static_cast<Engine*>(user)->timerCallback(timeout_ms);
    return 0;
  } catch (...) {
    return -1;
  }
}

class CurlTransport final : public Transport {
 public:
  CurlTransport(asio::io_context& io, TransportOptions options)
      : engine_(std::make_shared<Engine>(io, std::move(options))) {}
  ~CurlTransport() override { engine_->shutdown(); }

  void submit(TransportRequest request, Completion done) override {
    engine_->submit(std::move(request), std::move(done));
  }
  std::size_t inFlight() const override { return engine_->inFlight(); }
  void shutdown() override { engine_->shutdown(); }

 private:
  std::shared_ptr<Engine> engine_;
};

}  // namespace

std::unique_ptr<Transport> makeCurlTransport(asio::io_context& io, TransportOptions options) {
  initCurlOnce();
  return std::make_unique<CurlTransport>(io, std::move(options));
}

}  // namespace omnigate::transport
