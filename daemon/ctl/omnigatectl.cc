// omnigatectl: the admin CLI. A thin client of the daemon's HTTP API (docs/API.md) over its Unix
// socket or a URL; every decision stays in the daemon. See docs/CLI.md.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/ctl/batch.h"
#include "daemon/ctl/http_client.h"
#include "daemon/ctl/render.h"

namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace omnigate::ctl;

enum Exit : int { kOk = 0, kRefused = 1, kUsage = 2, kTransport = 3, kServer = 4 };

constexpr const char* kDefaultSocket = "/run/omnigate/api.sock";

constexpr const char* kFooter = R"(
Connection: the Unix socket (--socket, default /run/omnigate/api.sock) or --url http://HOST:PORT.
Token: --token, else $OMNIGATE_TOKEN, else the first line of --token-file.
Output: text for people; --json (before the subcommand for send and customer put, whose own
--json is the request body) or -o json prints the API's JSON, pretty, for scripts.

Exit codes:
  0  ok (send --file: every line accepted)
  1  the API refused the request (4xx; its error code and message are printed);
     send --file: some lines were refused
  2  usage error
  3  cannot connect, or another transport error (nothing answered)
  4  server error or 503 (Retry-After is printed); send --file: some lines got a server or
     transport error
  check-config passes omnigated's own exit code through (0 valid, 1 invalid).)";

struct Globals {
  std::string socket = kDefaultSocket;
  std::string url;
  std::string token;
  std::string token_file;
  bool json = false;
  std::string output = "text";
  double timeout = 30;
};

struct UsageError {
  std::string message;
};

std::string readSource(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) throw UsageError{"cannot read " + path + ": " + std::strerror(errno)};
  text << file.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  const char* space = " \t\r\n";
  auto begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  auto end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

class Ctl {
 public:
  explicit Ctl(const Globals& globals) : globals_(globals) {}

  // Resolves the endpoint and the token; throws UsageError.
  void setup() {
    if (!globals_.url.empty()) {
      std::string error;
      auto endpoint = parseUrl(globals_.url, error);
      if (!endpoint) throw UsageError{"--url " + globals_.url + ": " + error};
      endpoint_ = *endpoint;
    } else {
      endpoint_ = unixEndpoint(globals_.socket);
    }
    if (!globals_.token.empty()) {
      token_ = globals_.token;
    } else if (const char* env = std::getenv("OMNIGATE_TOKEN"); env && *env) {
      token_ = env;
    } else if (!globals_.token_file.empty()) {
      std::string text = readSource(globals_.token_file);
      token_ = trim(text.substr(0, text.find('\n')));
      if (token_.empty()) throw UsageError{"--token-file " + globals_.token_file + " is empty"};
    }
  }

  bool jsonOutput() const { return globals_.json || globals_.output == "json"; }
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& token() const { return token_; }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<long long>(globals_.timeout * 1000));
  }

  Outcome call(http::verb method, const std::string& target, std::string body = {},
               Headers headers = {}) {
    return requestOnce(endpoint_, token_, timeout(), method, target, std::move(body),
                       std::move(headers));
  }

  // Prints the outcome (the text renderer for a 2xx object in text mode) and maps it to the
  // exit code.
  int finish(const Outcome& outcome,
             const std::function<void(const json::object&)>& text = nullptr) {
    if (!outcome.ok()) {
      std::cerr << "omnigatectl: " << outcome.describeError(endpoint_) << "\n";
      return kTransport;
    }
    const HttpResponse& response = outcome.response;
    boost::system::error_code ec;
    json::value body = json::parse(response.body, ec);
    const bool success = response.status >= 200 && response.status < 300;
    if (jsonOutput()) {
      std::cout << (ec ? response.body + "\n" : prettyJson(body));
    }
    if (success) {
      if (!jsonOutput()) {
        if (!ec && body.is_object()) {
          if (text) {
            text(body.get_object());
          } else {
            std::cout << renderObject(body.get_object());
          }
        } else {
          std::cout << response.body << "\n";
        }
      }
      return kOk;
    }
    std::string code;
    std::string message;
    if (!parseApiError(response.body, code, message)) {
      code = "http_" + std::to_string(response.status);
      message = trim(response.body.substr(0, 300));
    }
    std::cerr << "omnigatectl: " << code << ": " << message << " (HTTP " << response.status << ")";
    if (!response.retry_after.empty()) {
      std::cerr << "; retry after " << response.retry_after << "s";
    }
    std::cerr << "\n";
    return response.status >= 500 ? kServer : response.status >= 400 ? kRefused : kServer;
  }

 private:
  Globals globals_;
  Endpoint endpoint_;
  std::string token_;
};

std::string messagePath(const std::string& id) { return "/v1/messages/" + encodeSegment(id); }
std::string customerPath(const std::string& id) { return "/v1/customers/" + encodeSegment(id); }

// --- send -------------------------------------------------------------------------------------

struct SendArgs {
  std::string json;
  std::string body_path;
  std::string batch_path;
  std::string idempotency_key;
  std::string idempotency_prefix;
  int connections = 4;
  bool dry_run = false;
};

int sendBatchFile(Ctl& ctl, const SendArgs& args) {
  std::vector<BatchLine> lines;
  std::istringstream text(readSource(args.batch_path));
  std::string line;
  for (std::size_t number = 1; std::getline(text, line); ++number) {
    if (trim(line).empty()) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back({number, line});
  }
  BatchOptions options;
  options.endpoint = ctl.endpoint();
  options.token = ctl.token();
  options.timeout = ctl.timeout();
  options.connections = args.connections;
  options.idempotency_prefix = args.idempotency_prefix;
  options.progress = ::isatty(STDERR_FILENO) == 1;
  BatchResult result = sendBatch(lines, options);

  for (const auto& failure : result.failures) {
    std::cerr << "line " << failure.line << ": ";
    if (failure.status == 0) {
      std::cerr << failure.message << "\n";
    } else {
      std::cerr << failure.code << ": " << failure.message << " (HTTP " << failure.status << ")\n";
    }
  }
  const double rate = result.seconds > 0 ? static_cast<double>(result.total) / result.seconds : 0;
  if (ctl.jsonOutput()) {
    json::array failures;
    for (const auto& failure : result.failures) {
      failures.push_back(json::object{{"line", failure.line},
                                      {"status", failure.status},
                                      {"code", failure.code},
                                      {"message", failure.message}});
    }
    json::object summary{{"total", result.total},       {"accepted", result.accepted},
                         {"replayed", result.replayed}, {"refused", result.refused},
                         {"errors", result.errors},     {"not_sent", result.not_sent},
                         {"seconds", result.seconds},   {"failures", std::move(failures)}};
    std::cout << prettyJson(summary);
  } else {
    char timing[64];
    std::snprintf(timing, sizeof timing, " in %.2fs (%.0f msg/s)", result.seconds, rate);
    std::cout << result.total << " lines: " << result.accepted << " accepted";
    if (result.replayed) std::cout << " (" << result.replayed << " replayed)";
    std::cout << ", " << result.refused << " refused, " << result.errors << " errors";
    if (result.not_sent) std::cout << ", " << result.not_sent << " not sent";
    std::cout << timing << "\n";
  }
  if (result.total > 0 && !result.reached) {
    std::cerr << "omnigatectl: " << result.first_transport_error << "\n";
    return kTransport;
  }
  if (result.errors > 0 || result.not_sent > 0) return kServer;
  if (result.refused > 0) return kRefused;
  return kOk;
}

int sendOne(Ctl& ctl, const SendArgs& args) {
  std::string body;
  if (!args.json.empty()) {
    body = args.json;
  } else if (!args.body_path.empty()) {
    body = readSource(args.body_path);
  } else if (::isatty(STDIN_FILENO) != 1) {
    body = readSource("-");
  } else {
    throw UsageError{"send: give the message with --json, --body FILE, stdin, or --file FILE"};
  }
  Headers headers;
  if (!args.idempotency_key.empty()) headers.emplace_back("Idempotency-Key", args.idempotency_key);
  std::string target = args.dry_run ? "/v1/messages?dry_run=true" : "/v1/messages";
  return ctl.finish(ctl.call(http::verb::post, target, std::move(body), std::move(headers)));
}

// --- queue ------------------------------------------------------------------------------------

void printQueue(const json::object& stats) {
  static const char* kStates[] = {"queued", "scheduled", "sending", "sent",      "delivered",
                                  "read",   "failed",    "expired", "cancelled", "suppressed"};
  std::vector<std::vector<std::string>> rows{{"STATE", "COUNT"}};
  const json::object empty;
  const auto* queue = stats.if_contains("queue");
  const json::object& states = queue && queue->is_object() ? queue->get_object() : empty;
  for (const char* state : kStates) {
    const auto* count = states.if_contains(state);
    rows.push_back({state, count ? scalarText(*count) : "0"});
  }
  for (const auto& [state, count] : states) {
    if (std::find(std::begin(kStates), std::end(kStates), state) == std::end(kStates)) {
      rows.push_back({std::string(state), scalarText(count)});
    }
  }
  std::cout << renderTable(rows);
  const auto* oldest = stats.if_contains("oldest_due_age_seconds");
  std::string age = "-";
  if (oldest && oldest->is_number()) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1fs ago", oldest->to_number<double>());
    age = text;
  } else if (oldest && !oldest->is_null()) {
    age = scalarText(*oldest);
  }
  std::cout << "\noldest due: " << age << "\n";
}

int queueCommand(Ctl& ctl) {
  Outcome outcome = ctl.call(http::verb::get, "/v1/stats");
  if (ctl.jsonOutput() && outcome.ok() && outcome.response.status == 200) {
    boost::system::error_code ec;
    json::value stats = json::parse(outcome.response.body, ec);
    if (!ec && stats.is_object()) {
      json::object out;
      const auto& object = stats.get_object();
      out["queue"] = object.contains("queue") ? object.at("queue") : json::object{};
      out["oldest_due_age_seconds"] = object.contains("oldest_due_age_seconds")
                                          ? object.at("oldest_due_age_seconds")
                                          : json::value(nullptr);
      std::cout << prettyJson(out);
      return kOk;
    }
  }
  return ctl.finish(outcome, printQueue);
}

// --- check-config -----------------------------------------------------------------------------

bool executable(const std::filesystem::path& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

std::string findDaemon() {
  if (const char* env = std::getenv("OMNIGATED"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "omnigated";
    if (executable(beside)) return beside.string();
  }
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/sbin:/sbin";
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    auto candidate = std::filesystem::path(dir) / "omnigated";
    if (executable(candidate)) return candidate.string();
  }
  return "";
}

int checkConfig(const std::string& config) {
  std::string daemon = findDaemon();
  if (daemon.empty()) {
    std::cerr << "omnigatectl: cannot find omnigated (beside omnigatectl, on PATH, or "
                 "$OMNIGATED)\n";
    return kTransport;
  }
  std::vector<std::string> args{daemon, "--check-config"};
  if (!config.empty()) {
    args.push_back("--config");
    args.push_back(config);
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::cout.flush();
  ::execv(daemon.c_str(), argv.data());
  std::cerr << "omnigatectl: cannot run " << daemon << ": " << std::strerror(errno) << "\n";
  return kTransport;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"omnigatectl - admin client for the omnigated API"};
  app.fallthrough();
  app.require_subcommand(1, 1);
  app.footer(kFooter);

  Globals globals;
  auto* socket_option =
      app.add_option("--socket", globals.socket, "the daemon's API socket")->capture_default_str();
  app.add_option("--url", globals.url, "talk HTTP to http://HOST:PORT instead of the socket")
      ->excludes(socket_option);
  app.add_option("--token", globals.token, "bearer token");
  app.add_option("--token-file", globals.token_file, "read the bearer token from this file");
  app.add_flag("--json", globals.json, "print the API's JSON instead of text");
  app.add_option("-o,--output", globals.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", globals.timeout, "seconds to wait for each answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  SendArgs send_args;
  auto* send = app.add_subcommand("send", "submit a message, or a JSONL file of messages");
  auto* send_json = send->add_option("--json", send_args.json, "the message as JSON text");
  auto* send_body =
      send->add_option("--body", send_args.body_path, "read the message from FILE ('-': stdin)");
  auto* send_file = send->add_option("--file", send_args.batch_path,
                                     "send one message per line of FILE (JSONL; '-': stdin)");
  send_json->excludes(send_body)->excludes(send_file);
  send_body->excludes(send_file);
  send->add_option("--idempotency-key", send_args.idempotency_key, "Idempotency-Key header")
      ->excludes(send_file);
  send->add_option("--idempotency-prefix", send_args.idempotency_prefix,
                   "with --file: Idempotency-Key = PREFIX + line number, so a rerun does not "
                   "send a line twice")
      ->needs(send_file);
  send->add_option("-j,--connections", send_args.connections,
                   "with --file: connections (requests in flight)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  send->add_flag("--dry-run", send_args.dry_run, "validate and plan without storing")
      ->excludes(send_file);

  std::string id;
  auto* status = app.add_subcommand("status", "show a message (GET /v1/messages/ID)");
  status->add_option("id", id, "message id")->required();
  auto* cancel = app.add_subcommand("cancel", "cancel a queued or scheduled message");
  cancel->add_option("id", id, "message id")->required();
  auto* retry = app.add_subcommand("retry", "queue a failed or expired message again");
  retry->add_option("id", id, "message id")->required();
  auto* queue = app.add_subcommand("queue", "queue depth by state and the oldest due age");
  auto* stats = app.add_subcommand("stats", "all of the daemon's statistics");

  auto* customer = app.add_subcommand("customer", "customer profiles");
  customer->require_subcommand(1, 1);
  auto* customer_get = customer->add_subcommand("get", "show a customer profile");
  customer_get->add_option("id", id, "customer id")->required();
  auto* customer_put = customer->add_subcommand("put", "store (replace) a customer profile");
  customer_put->add_option("id", id, "customer id")->required();
  std::string profile_json;
  std::string profile_file;
  auto* put_json = customer_put->add_option("--json", profile_json, "the profile as JSON text");
  auto* put_file =
      customer_put->add_option("--file", profile_file, "read the profile from FILE ('-': stdin)");
  put_json->excludes(put_file);
  auto* customer_merge =
      customer->add_subcommand("merge", "merge customer OTHER into ID (one person)");
  customer_merge->add_option("id", id, "the customer that stays")->required();
  std::string merge_from;
  customer_merge->add_option("--from", merge_from, "the customer merged into ID")->required();

  auto* check = app.add_subcommand("check-config", "validate a configuration with omnigated");
  std::string config_path;
  check->add_option("--config", config_path, "configuration file (default: omnigated's)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? kOk : kUsage;
  }

  try {
    if (check->parsed()) return checkConfig(config_path);
    Ctl ctl(globals);
    ctl.setup();
    if (send->parsed()) {
      return send_args.batch_path.empty() ? sendOne(ctl, send_args) : sendBatchFile(ctl, send_args);
    }
    if (status->parsed()) return ctl.finish(ctl.call(http::verb::get, messagePath(id)));
    if (cancel->parsed()) {
      return ctl.finish(ctl.call(http::verb::delete_, messagePath(id)), [](const auto& reply) {
        std::cout << scalarText(reply.contains("id") ? reply.at("id") : json::value(nullptr)) << " "
                  << scalarText(reply.contains("status") ? reply.at("status")
                                                         : json::value("cancelled"))
                  << "\n";
      });
    }
    if (retry->parsed()) {
      return ctl.finish(ctl.call(http::verb::post, messagePath(id) + "/retry"));
    }
    if (queue->parsed()) return queueCommand(ctl);
    if (stats->parsed()) return ctl.finish(ctl.call(http::verb::get, "/v1/stats"));
    if (customer_get->parsed()) return ctl.finish(ctl.call(http::verb::get, customerPath(id)));
    if (customer_put->parsed()) {
      std::string body;
      if (!profile_json.empty()) {
        body = profile_json;
      } else if (!profile_file.empty()) {
        body = readSource(profile_file);
      } else if (::isatty(STDIN_FILENO) != 1) {
        body = readSource("-");
      } else {
        throw UsageError{"customer put: give the profile with --json, --file FILE or stdin"};
      }
      return ctl.finish(ctl.call(http::verb::put, customerPath(id), std::move(body)));
    }
    if (customer_merge->parsed()) {
      std::string body = json::serialize(json::object{{"from", merge_from}});
      return ctl.finish(ctl.call(http::verb::post, customerPath(id) + "/merge", body));
    }
  } catch (const UsageError& error) {
    std::cerr << "omnigatectl: " << error.message << "\n";
    return kUsage;
  } catch (const std::exception& error) {
    std::cerr << "omnigatectl: " << error.what() << "\n";
    return kTransport;
  }
  std::cerr << app.help();
  return kUsage;
}
