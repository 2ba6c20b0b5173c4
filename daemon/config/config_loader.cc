// The only translation unit that sees toml++: it turns the admin's TOML into the typed Config and
// refuses anything it does not understand, pointing at the file and line.

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <utility>

#include "daemon/common/byte_size.h"
#include "daemon/config/config.h"
#include "policy/policy.h"

namespace omnigate::config {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kChannelNames[] = {"email", "sms", "push", "messenger"};
constexpr std::string_view kAllowedChannels = "email, sms, push, messenger";
// Secrets are small (a password, a PEM key, a service-account JSON); anything bigger is almost
// certainly the wrong file.
constexpr off_t kMaxSecretBytes = 1 << 20;

// The loader stops at the first problem. Unwinding is the shortest way out of the nested section
// readers; parseConfig catches it, so nothing crosses the module boundary.
class Rejection : public std::exception {
 public:
  explicit Rejection(Error error) : error_(std::move(error)) {}
  const char* what() const noexcept override { return error_.message.c_str(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

class FileCloser {
 public:
  explicit FileCloser(int fd) : fd_(fd) {}
  ~FileCloser() { ::close(fd_); }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  int fd_;
};

// Reads a whole file; errno-style failures come back as the error text.
Result<std::string> readWholeFile(int fd, off_t limit) {
  std::string text;
  char buffer[8192];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return makeError("read", std::strerror(errno));
    }
    if (got == 0) return text;
    text.append(buffer, static_cast<std::size_t>(got));
    if (limit > 0 && text.size() > static_cast<std::size_t>(limit)) {
      return makeError("too_large", "larger than " + std::to_string(limit) + " bytes");
    }
  }
}

bool isBareKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// Key paths are printed the way the admin would write them in TOML, quoting odd keys.
std::string childPath(const std::string& parent, std::string_view key) {
  std::string segment;
  if (isBareKey(key)) {
    segment = key;
  } else {
    segment = "\"";
    for (char c : key) {
      if (c == '"' || c == '\\') segment += '\\';
      segment += c;
    }
    segment += '"';
  }
  return parent.empty() ? segment : parent + "." + segment;
}

std::string indexPath(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

int lineOf(const toml::source_region& region) { return static_cast<int>(region.begin.line); }
int lineOf(const toml::node& node) { return lineOf(node.source()); }

std::string describeType(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string formatSize(std::size_t bytes) {
  if (bytes >= (1u << 30) && bytes % (1u << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

// Shortest text that reads back as the same double, without exponents: plugins and admins both
// expect "1000000", not "1e+06".
std::string formatNumber(double value) {
  char buffer[512];  // enough for any double in fixed notation
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

bool isChannelName(std::string_view name) {
  return std::find(std::begin(kChannelNames), std::end(kChannelNames), name) !=
         std::end(kChannelNames);
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Provider settings that name a directory or file the daemon writes or reads. "*_json_path" is
// a path inside a JSON reply (http_sms), not a file.
bool isPathSetting(std::string_view key) {
  return key == "dir" || endsWith(key, "_dir") ||
         (endsWith(key, "_path") && !endsWith(key, "_json_path"));
}

struct Located {
  std::string value;
  int line = 0;
};

class Loader {
 public:
  Loader(std::string source, fs::path base_dir, const channels::ProviderRegistry& registry)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), registry_(registry) {}

  Config load(const toml::table& root) {
    config_.source = source_;
    checkKeys(root, "",
              {"server", "api", "store", "retry", "dispatch", "defaults", "templates", "tls",
               "plugins", "categories", "caps", "channels", "providers", "log"});
    if (const auto* node = root.get("categories")) {
      readCategories(requireTable(*node, "categories"));
    }
    if (const auto* node = root.get("caps")) readCaps(*node);
    if (const auto* node = root.get("plugins")) readPlugins(requireTable(*node, "plugins"));
    if (const auto* node = root.get("server")) readServer(requireTable(*node, "server"));
    if (const auto* node = root.get("api")) readApi(requireTable(*node, "api"));
    if (const auto* node = root.get("store")) readStore(requireTable(*node, "store"));
    if (const auto* node = root.get("log")) readLog(requireTable(*node, "log"));
    if (const auto* node = root.get("retry")) readRetry(requireTable(*node, "retry"));
    if (const auto* node = root.get("dispatch")) readDispatch(requireTable(*node, "dispatch"));
    if (const auto* node = root.get("defaults")) readDefaults(requireTable(*node, "defaults"));
    if (const auto* node = root.get("templates")) {
      readTemplates(requireTable(*node, "templates"));
    }
    if (const auto* node = root.get("tls")) readTls(requireTable(*node, "tls"));
    if (const auto* node = root.get("channels")) readChannels(requireTable(*node, "channels"));
    if (const auto* node = root.get("providers")) readProviders(requireTable(*node, "providers"));
    if (!config_.categories.count("transactional")) {
      policy::CategoryPolicy transactional;
      transactional.name = "transactional";
      transactional.bypass_caps = true;
      config_.categories["transactional"] = std::move(transactional);
    }
    crossCheck(root);
    return std::move(config_);
  }

  // Only [plugins]: what must be loaded before the rest can be checked.
  std::vector<std::string> loadPluginList(const toml::table& root) {
    if (const auto* node = root.get("plugins")) readPlugins(requireTable(*node, "plugins"));
    return config_.plugins;
  }

 private:
  [[noreturn]] void reject(int line, const std::string& path, const std::string& what) const {
    std::string message = source_ + ":";
    if (line > 0) message += std::to_string(line) + ":";
    message += " ";
    if (!path.empty()) message += path + ": ";
    throw Rejection(makeError("config_invalid", message + what));
  }
  [[noreturn]] void reject(const toml::node& at, const std::string& path,
                           const std::string& what) const {
    reject(lineOf(at), path, what);
  }

  void checkKeys(const toml::table& table, const std::string& path,
                 std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string list;
      std::string suggestion;
      for (auto name : allowed) {
        list += std::string(list.empty() ? "" : ", ") + std::string(name);
        if (suggestion.empty() && editDistance(key.str(), name) <= 2 && key.str().size() > 2) {
          suggestion = name;
        }
      }
      std::string what = "unknown key";
      if (!suggestion.empty()) what += " (did you mean '" + suggestion + "'?)";
      reject(lineOf(key.source()), childPath(path, key.str()), what + "; allowed: " + list);
    }
  }

  const toml::table& requireTable(const toml::node& node, const std::string& path) const {
    if (const auto* table = node.as_table()) return *table;
    reject(node, path, "must be a table, not " + describeType(node));
  }

  const toml::array& requireArray(const toml::node& node, const std::string& path) const {
    if (const auto* array = node.as_array()) return *array;
    reject(node, path, "must be an array, not " + describeType(node));
  }

  std::string requireString(const toml::node& node, const std::string& path) const {
    if (const auto* text = node.as_string()) return text->get();
    reject(node, path, "must be a string, not " + describeType(node));
  }

  std::int64_t requireInteger(const toml::node& node, const std::string& path, std::int64_t min,
                              std::int64_t max) const {
    const auto* integer = node.as_integer();
    if (integer == nullptr) {
      reject(node, path,
             "must be an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                 ", not " + describeType(node));
    }
    std::int64_t value = integer->get();
    if (value < min || value > max) {
      reject(node, path,
             std::to_string(value) + " is out of range; allowed: " + std::to_string(min) + " to " +
                 std::to_string(max));
    }
    return value;
  }

  double requireNumber(const toml::node& node, const std::string& path, double min,
                       double max) const {
    double value = 0;
    if (const auto* integer = node.as_integer()) {
      value = static_cast<double>(integer->get());
    } else if (const auto* floating = node.as_floating_point()) {
      value = floating->get();
    } else {
      reject(node, path, "must be a number, not " + describeType(node));
    }
    if (!std::isfinite(value) || value < min || value > max) {
      reject(node, path,
             formatNumber(value) + " is out of range; allowed: " + formatNumber(min) + " to " +
                 formatNumber(max));
    }
    return value;
  }

  Millis requireDuration(const toml::node& node, const std::string& path, Millis min) const {
    const auto* text = node.as_string();
    if (text == nullptr) {
      reject(node, path,
             "must be a duration string like \"500ms\", \"30s\", \"15m\", \"2h\" or \"3d\", not " +
                 describeType(node));
    }
    auto parsed = parseDuration(text->get());
    if (!parsed) reject(node, path, parsed.error().message);
    if (*parsed < min) {
      reject(node, path, "must be at least " + formatDuration(min));
    }
    return *parsed;
  }

  std::size_t requireSize(const toml::node& node, const std::string& path, std::size_t min,
                          std::size_t max) const {
    std::size_t value = 0;
    if (const auto* integer = node.as_integer()) {
      if (integer->get() < 0) reject(node, path, "a size cannot be negative");
      value = static_cast<std::size_t>(integer->get());
    } else if (const auto* text = node.as_string()) {
      auto parsed = parseByteSize(text->get());
      if (!parsed) reject(node, path, parsed.error().message);
      value = *parsed;
    } else {
      reject(node, path,
             "must be a size: a byte count or a string like \"64KiB\" or \"1MiB\", not " +
                 describeType(node));
    }
    if (value < min || value > max) {
      reject(node, path,
             formatSize(value) + " is out of range; allowed: " + formatSize(min) + " to " +
                 formatSize(max));
    }
    return value;
  }

  // A non-empty array of distinct strings, each with its own line for later messages.
  std::vector<Located> requireNameList(const toml::node& node, const std::string& path,
                                       std::string_view what) const {
    const auto& array = requireArray(node, path);
    if (array.empty()) reject(node, path, "must list at least one " + std::string(what));
    std::vector<Located> names;
    for (std::size_t i = 0; i < array.size(); ++i) {
      const auto& element = *array.get(i);
      std::string name = requireString(element, indexPath(path, i));
      for (const auto& earlier : names) {
        if (earlier.value == name)
          reject(element, indexPath(path, i), "'" + name + "' is listed twice");
      }
      names.push_back({name, lineOf(element)});
    }
    return names;
  }

  std::string resolvePath(const std::string& path) const {
    if (path.empty()) return path;
    fs::path given(path);
    if (given.is_absolute()) return given.lexically_normal().string();
    return (base_dir_ / given).lexically_normal().string();
  }

  void readServer(const toml::table& table) {
    checkKeys(table, "server",
              {"listen", "unix_socket", "max_body", "max_header", "read_timeout", "idle_timeout",
               "max_connections", "max_pending", "allowed_hosts", "allowed_origins", "public_url"});
    auto& server = config_.server;
    if (const auto* node = table.get("public_url")) {
      std::string url = requireString(*node, "server.public_url");
      bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
      auto authority_start = url.find("//") + 2;
      if (!scheme || url.size() <= authority_start ||
          url.find_first_of("?#", authority_start) != std::string::npos ||
          url.find_first_of(" \t\r\n") != std::string::npos) {
        reject(*node, "server.public_url",
               "must be an http:// or https:// URL without query, e.g. \"https://gw.example\"");
      }
      while (!url.empty() && url.back() == '/') url.pop_back();
      server.public_url = url;
    }
    if (const auto* node = table.get("listen")) {
      readListen(*node, requireString(*node, "server.listen"));
    }
    if (const auto* node = table.get("unix_socket")) {
      server.unix_socket = resolvePath(requireString(*node, "server.unix_socket"));
      if (server.unix_socket.size() >= sizeof(sockaddr_un::sun_path)) {
        reject(*node, "server.unix_socket",
               "'" + server.unix_socket + "' is too long for a Unix socket (at most " +
                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
      }
    }
    if (const auto* node = table.get("max_body")) {
      server.max_body_bytes = requireSize(*node, "server.max_body", 1 << 10, std::size_t{1} << 30);
    }
    if (const auto* node = table.get("max_header")) {
      server.max_header_bytes = requireSize(*node, "server.max_header", 1 << 10, 1 << 20);
    }
    if (const auto* node = table.get("read_timeout")) {
      server.read_timeout = requireDuration(*node, "server.read_timeout", Millis(1));
    }
    if (const auto* node = table.get("idle_timeout")) {
      server.idle_timeout = requireDuration(*node, "server.idle_timeout", Millis(1));
    }
    if (const auto* node = table.get("max_connections")) {
      server.max_connections =
          static_cast<std::size_t>(requireInteger(*node, "server.max_connections", 1, 1'000'000));
    }
    if (const auto* node = table.get("max_pending")) {
      server.max_pending =
          static_cast<std::size_t>(requireInteger(*node, "server.max_pending", 1, 1'000'000));
    }
    if (const auto* node = table.get("allowed_hosts")) {
      const auto& array = requireArray(*node, "server.allowed_hosts");
      for (std::size_t i = 0; i < array.size(); ++i) {
        std::string host = requireString(*array.get(i), indexPath("server.allowed_hosts", i));
        std::transform(host.begin(), host.end(), host.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (host.empty() || host.find_first_of("/:@ \t") != std::string::npos) {
          if (!(host.size() > 2 && host.front() == '[' && host.back() == ']')) {
            reject(*array.get(i), indexPath("server.allowed_hosts", i),
                   "'" + host + "' must be a host name or address without scheme or port, e.g. " +
                       "\"gw.internal\" or \"[2001:db8::1]\"");
          }
        }
        server.allowed_hosts.push_back(host);
      }
    }
    if (const auto* node = table.get("allowed_origins")) {
      const auto& array = requireArray(*node, "server.allowed_origins");
      for (std::size_t i = 0; i < array.size(); ++i) {
        std::string origin = requireString(*array.get(i), indexPath("server.allowed_origins", i));
        std::transform(origin.begin(), origin.end(), origin.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        while (!origin.empty() && origin.back() == '/') origin.pop_back();
        bool scheme = origin.rfind("http://", 0) == 0 || origin.rfind("https://", 0) == 0;
        if (!scheme || origin.find('/', origin.find("//") + 2) != std::string::npos) {
          reject(*array.get(i), indexPath("server.allowed_origins", i),
                 "'" + origin + "' must be an origin: scheme://host[:port], e.g. " +
                     "\"https://admin.example\"");
        }
        server.allowed_origins.push_back(origin);
      }
    }
    if (!server.listen_tcp && server.unix_socket.empty()) {
      reject(table, "server",
             "listen and unix_socket are both empty, so the API would be unreachable; set at "
             "least one");
    }
  }

  void readListen(const toml::node& node, const std::string& text) {
    auto& server = config_.server;
    if (text.empty()) {
      server.listen_tcp = false;
      return;
    }
    const std::string usage =
        "must be \"host:port\" with an IP address, e.g. \"127.0.0.1:7447\", \"[::1]:7447\" or "
        "\"0.0.0.0:7447\" (port 0 picks a free port), or \"\" to disable TCP";
    std::string host;
    std::string port_text;
    bool ipv6 = false;
    if (text.front() == '[') {
      auto close = text.find(']');
      if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
        reject(node, "server.listen", "'" + text + "' " + usage);
      }
      host = text.substr(1, close - 1);
      port_text = text.substr(close + 2);
      ipv6 = true;
    } else {
      auto colon = text.rfind(':');
      if (colon == std::string::npos) reject(node, "server.listen", "'" + text + "' " + usage);
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (host.find(':') != std::string::npos) {
        reject(node, "server.listen",
               "'" + text + "': an IPv6 address goes in brackets, e.g. \"[::1]:7447\"");
      }
    }
    unsigned char address[sizeof(in6_addr)];
    if (host.empty() || ::inet_pton(ipv6 ? AF_INET6 : AF_INET, host.c_str(), address) != 1) {
      reject(node, "server.listen",
             "'" + host + "' is not an IP" + (ipv6 ? "v6" : "v4") +
                 " address (host names are not resolved); " + usage);
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535) {
      reject(node, "server.listen", "'" + port_text + "' is not a port number 0-65535; " + usage);
    }
    server.listen_tcp = true;
    server.listen_host = host;
    server.listen_port = static_cast<std::uint16_t>(port);
  }

  void readApi(const toml::table& table) {
    checkKeys(table, "api", {"tokens"});
    api_line_ = lineOf(table);
    const auto* tokens_node = table.get("tokens");
    if (tokens_node == nullptr) return;
    const auto& tokens = requireArray(*tokens_node, "api.tokens");
    std::map<std::string, int> name_lines;
    std::map<std::array<unsigned char, 32>, int> hash_lines;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const std::string path = indexPath("api.tokens", i);
      const auto& entry = requireTable(*tokens.get(i), path);
      if (const auto* plain = entry.get("token")) {
        reject(*plain, childPath(path, "token"),
               "bearer tokens are never stored in the config; store only the SHA-256 hash of the "
               "token in `sha256` (e.g. the output of `printf %s 'TOKEN' | sha256sum`)");
      }
      checkKeys(entry, path, {"name", "sha256"});
      ApiToken token;
      const auto* name = entry.get("name");
      if (name == nullptr)
        reject(entry, childPath(path, "name"), "missing; every token needs a name");
      token.name = requireString(*name, childPath(path, "name"));
      if (token.name.empty()) reject(*name, childPath(path, "name"), "must not be empty");
      if (auto [it, fresh] = name_lines.emplace(token.name, lineOf(*name)); !fresh) {
        reject(*name, childPath(path, "name"),
               "'" + token.name + "' is already used by the token at line " +
                   std::to_string(it->second));
      }
      const auto* hash = entry.get("sha256");
      if (hash == nullptr) {
        reject(entry, childPath(path, "sha256"),
               "missing; give the SHA-256 of the bearer token as 64 hex characters");
      }
      token.sha256 = parseTokenHash(*hash, childPath(path, "sha256"));
      if (auto [it, fresh] = hash_lines.emplace(token.sha256, lineOf(*hash)); !fresh) {
        reject(*hash, childPath(path, "sha256"),
               "the same hash is already configured at line " + std::to_string(it->second));
      }
      config_.tokens.push_back(std::move(token));
    }
  }

  std::array<unsigned char, 32> parseTokenHash(const toml::node& node,
                                               const std::string& path) const {
    const std::string text = requireString(node, path);
    std::array<unsigned char, 32> bytes{};
    bool hex = text.size() == 64;
    for (std::size_t i = 0; hex && i < bytes.size(); ++i) {
      int high = hexDigit(text[2 * i]);
      int low = hexDigit(text[2 * i + 1]);
      hex = high >= 0 && low >= 0;
      bytes[i] = static_cast<unsigned char>(high * 16 + low);
    }
    if (!hex) {
      reject(node, path,
             "must be the SHA-256 of the bearer token as 64 hex characters (got " +
                 std::to_string(text.size()) +
                 " characters), e.g. the output of `printf %s 'TOKEN' | sha256sum`");
    }
    return bytes;
  }

  void readStore(const toml::table& table) {
    checkKeys(table, "store", {"path", "max_batch", "customer_cache"});
    if (const auto* node = table.get("path")) {
      std::string path = requireString(*node, "store.path");
      if (path.empty()) reject(*node, "store.path", "must name the SQLite database file");
      config_.store.path = resolvePath(path);
    }
    if (const auto* node = table.get("max_batch")) {
      config_.store.max_batch =
          static_cast<std::size_t>(requireInteger(*node, "store.max_batch", 1, 100'000));
    }
    if (const auto* node = table.get("customer_cache")) {
      config_.store.customer_cache = static_cast<std::size_t>(
          requireInteger(*node, "store.customer_cache", 0, 10'000'000));
    }
  }

  void readLog(const toml::table& table) {
    checkKeys(table, "log", {"level", "target"});
    auto oneOf = [&](const char* key, std::initializer_list<const char*> allowed) {
      const auto* node = table.get(key);
      if (!node) return std::string();
      const std::string where = std::string("log.") + key;
      std::string value = requireString(*node, where);
      std::string names;
      for (const char* name : allowed) {
        if (value == name) return value;
        names += (names.empty() ? "" : ", ") + std::string(name);
      }
      reject(*node, where, "must be one of " + names + " (got '" + value + "')");
      return std::string();
    };
    if (auto level = oneOf("level", {"trace", "debug", "info", "warn", "error"}); !level.empty()) {
      config_.log.level = level;
    }
    if (auto target = oneOf("target", {"auto", "journald", "stderr"}); !target.empty()) {
      config_.log.target = target;
    }
  }

  void readRetry(const toml::table& table) {
    checkKeys(table, "retry", {"base", "max", "max_attempts", "max_age"});
    auto& retry = config_.retry;
    const auto* base = table.get("base");
    const auto* max = table.get("max");
    if (base) retry.base = requireDuration(*base, "retry.base", Millis(1));
    if (max) retry.max = requireDuration(*max, "retry.max", Millis(1));
    if (const auto* node = table.get("max_age")) {
      retry.max_age = requireDuration(*node, "retry.max_age", Millis(1));
    }
    if (const auto* node = table.get("max_attempts")) {
      retry.max_attempts = static_cast<int>(requireInteger(*node, "retry.max_attempts", 1, 1000));
    }
    if (retry.max < retry.base) {
      const std::string what = "max (" + formatDuration(retry.max) +
                               ") must not be shorter than base (" + formatDuration(retry.base) +
                               ")";
      if (max) reject(*max, "retry.max", what);
      reject(*base, "retry.base", what);
    }
  }

  void readDispatch(const toml::table& table) {
    checkKeys(table, "dispatch", {"window"});
    if (const auto* node = table.get("window")) {
      config_.dispatch.window =
          static_cast<std::size_t>(requireInteger(*node, "dispatch.window", 100, 10'000'000));
    }
  }

  void readPlugins(const toml::table& table) {
    checkKeys(table, "plugins", {"load"});
    const auto* node = table.get("load");
    if (node == nullptr) return;
    const auto* array = node->as_array();
    if (array == nullptr) reject(*node, "plugins.load", "must be an array of .so file paths");
    config_.plugins.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& item = *array->get(i);
      std::string path = requireString(item, indexPath("plugins.load", i));
      if (path.empty()) reject(item, indexPath("plugins.load", i), "must name a .so file");
      config_.plugins.push_back(resolvePath(path));
    }
  }

  bool requireBool(const toml::node& node, const std::string& path) const {
    if (const auto* value = node.as_boolean()) return value->get();
    reject(node, path, "must be true or false, not " + describeType(node));
  }

  static bool isCategoryName(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
  }

  policy::QuietHours requireQuietHours(const toml::node& node, const std::string& path) const {
    const std::string text = requireString(node, path);
    auto dash = text.find('-');
    auto parsed = dash == std::string::npos
                      ? Result<policy::QuietHours>(makeError("invalid_quiet_hours", ""))
                      : policy::parseQuietHours(text.substr(0, dash), text.substr(dash + 1));
    if (!parsed) reject(node, path, "must be \"HH:MM-HH:MM\" in local time, e.g. \"22:00-08:00\"");
    return *parsed;
  }

  void readCategories(const toml::table& table) {
    for (auto&& [key, node] : table) {
      const std::string name(key.str());
      const std::string path = childPath("categories", name);
      if (!isCategoryName(name)) {
        reject(lineOf(key.source()), path,
               "category names are lower-case letters, digits, '_' and '-'");
      }
      const auto& category = requireTable(node, path);
      checkKeys(
          category, path,
          {"channels", "quiet_hours", "quiet_action", "transactional", "dedupe_window", "stop_on"});
      policy::CategoryPolicy policy;
      policy.name = name;
      if (const auto* channels = category.get("channels")) {
        for (const auto& channel : requireNameList(*channels, path + ".channels", "channel")) {
          if (!isChannelName(channel.value)) {
            reject(channel.line, path + ".channels",
                   "unknown channel '" + channel.value +
                       "'; allowed: " + std::string(kAllowedChannels));
          }
          policy.channels.push_back(channel.value);
        }
      }
      if (const auto* quiet = category.get("quiet_hours")) {
        policy.quiet_hours = requireBool(*quiet, path + ".quiet_hours");
      }
      if (const auto* action = category.get("quiet_action")) {
        auto parsed = policy::parseQuietAction(requireString(*action, path + ".quiet_action"));
        if (!parsed) reject(*action, path + ".quiet_action", "must be \"defer\" or \"drop\"");
        policy.quiet_action = *parsed;
      }
      if (const auto* transactional = category.get("transactional")) {
        policy.bypass_caps = requireBool(*transactional, path + ".transactional");
      }
      if (const auto* window = category.get("dedupe_window")) {
        policy.dedupe_window = requireDuration(*window, path + ".dedupe_window", Millis(0));
      }
      if (const auto* stop_on = category.get("stop_on")) {
        for (const auto& event : requireNameList(*stop_on, path + ".stop_on", "event")) {
          policy.stop_on.push_back(event.value);
        }
      }
      config_.categories[name] = std::move(policy);
    }
  }

  void readCaps(const toml::node& node) {
    const auto* array = node.as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      reject(node, "caps", "must be an array of tables: [[caps]]");
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const std::string path = indexPath("caps", i);
      const auto& table = *array->get(i)->as_table();
      checkKeys(table, path,
                {"name", "category", "channel", "limit", "window", "min_interval", "on_cap",
                 "applies_to_transactional"});
      policy::CapRule rule;
      const auto* name = table.get("name");
      if (name == nullptr)
        reject(table, path + ".name", "missing; name the rule (it appears in traces)");
      rule.name = requireString(*name, path + ".name");
      if (rule.name.empty()) reject(*name, path + ".name", "must not be empty");
      for (const auto& earlier : config_.caps) {
        if (earlier.name == rule.name)
          reject(*name, path + ".name", "'" + rule.name + "' is used twice");
      }
      if (const auto* category = table.get("category")) {
        rule.category = requireString(*category, path + ".category");
      }
      if (const auto* channel = table.get("channel")) {
        rule.channel = requireString(*channel, path + ".channel");
        if (!isChannelName(*rule.channel)) {
          reject(
              *channel, path + ".channel",
              "unknown channel '" + *rule.channel + "'; allowed: " + std::string(kAllowedChannels));
        }
      }
      if (const auto* limit = table.get("limit")) {
        rule.limit = static_cast<int>(requireInteger(*limit, path + ".limit", 0, 1'000'000));
      }
      if (const auto* window = table.get("window")) {
        rule.window = requireDuration(*window, path + ".window", Millis(1));
      }
      if (const auto* interval = table.get("min_interval")) {
        rule.min_interval = requireDuration(*interval, path + ".min_interval", Millis(1));
      }
      if (rule.limit > 0 && rule.window.count() == 0) {
        reject(table, path + ".window", "missing; a limit needs the window it counts in");
      }
      if (rule.limit == 0 && rule.min_interval.count() == 0) {
        reject(table, path, "needs a limit with a window, or a min_interval");
      }
      if (const auto* on_cap = table.get("on_cap")) {
        auto parsed = policy::parseOnCap(requireString(*on_cap, path + ".on_cap"));
        if (!parsed) {
          reject(*on_cap, path + ".on_cap", "must be \"drop\", \"defer\" or \"next_channel\"");
        }
        rule.on_cap = *parsed;
      }
      if (const auto* bypass = table.get("applies_to_transactional")) {
        rule.applies_to_bypass = requireBool(*bypass, path + ".applies_to_transactional");
      }
      config_.caps.push_back(std::move(rule));
    }
  }

  void readTemplates(const toml::table& table) {
    checkKeys(table, "templates", {"dir"});
    if (const auto* node = table.get("dir")) {
      std::string dir = requireString(*node, "templates.dir");
      if (dir.empty()) reject(*node, "templates.dir", "must name the template directory");
      config_.templates.dir = resolvePath(dir);
      config_.templates.dir_line = lineOf(*node);
    }
  }

  void readTls(const toml::table& table) {
    checkKeys(table, "tls", {"ca_file"});
    if (const auto* node = table.get("ca_file")) {
      std::string file = requireString(*node, "tls.ca_file");
      if (file.empty()) reject(*node, "tls.ca_file", "must name a PEM file of CA certificates");
      config_.tls.ca_file = resolvePath(file);
      if (::access(config_.tls.ca_file.c_str(), R_OK) != 0) {
        reject(*node, "tls.ca_file",
               "cannot read " + config_.tls.ca_file + ": " + std::strerror(errno));
      }
    }
  }

  void readDefaults(const toml::table& table) {
    checkKeys(table, "defaults",
              {"channels", "phone_region", "quiet_hours", "min_history_attempts"});
    if (const auto* quiet = table.get("quiet_hours")) {
      config_.default_quiet_hours = requireQuietHours(*quiet, "defaults.quiet_hours");
    }
    if (const auto* attempts = table.get("min_history_attempts")) {
      config_.min_history_attempts = static_cast<int>(
          requireInteger(*attempts, "defaults.min_history_attempts", 1, 1'000'000));
    }
    if (const auto* region = table.get("phone_region")) {
      std::string code = requireString(*region, "defaults.phone_region");
      bool valid = code.size() == 2 && std::isupper(static_cast<unsigned char>(code[0])) &&
                   std::isupper(static_cast<unsigned char>(code[1]));
      if (!valid) {
        reject(*region, "defaults.phone_region",
               "must be an ISO 3166-1 alpha-2 region code in capitals, e.g. \"RU\" or \"US\"");
      }
      config_.phone_region = code;
    }
    const auto* node = table.get("channels");
    if (node == nullptr) return;
    auto names = requireNameList(*node, "defaults.channels", "channel");
    config_.default_channels.clear();
    const auto& array = *node->as_array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!isChannelName(names[i].value)) {
        reject(
            *array.get(i), indexPath("defaults.channels", i),
            "unknown channel '" + names[i].value + "'; allowed: " + std::string(kAllowedChannels));
      }
      config_.default_channels.push_back(names[i].value);
    }
  }

  void readChannels(const toml::table& table) {
    for (auto&& [key, node] : table) {
      const std::string path = childPath("channels", key.str());
      if (!isChannelName(key.str())) {
        reject(lineOf(key.source()), path,
               "unknown channel; allowed: " + std::string(kAllowedChannels));
      }
      const auto& channel = requireTable(node, path);
      checkKeys(channel, path, {"providers"});
      const auto* providers = channel.get("providers");
      if (providers == nullptr) {
        reject(channel, childPath(path, "providers"),
               "missing; list the providers of this channel in failover order");
      }
      auto names = requireNameList(*providers, childPath(path, "providers"), "provider");
      ChannelConfig config;
      for (const auto& name : names) config.providers.push_back(name.value);
      config_.channels.emplace(key.str(), std::move(config));
      channel_providers_.emplace(key.str(), std::move(names));
    }
  }

  void readProviders(const toml::table& table) {
    for (auto&& [key, node] : table) {
      const std::string path = childPath("providers", key.str());
      // The name appears in callback URLs (/v1/callbacks/{provider}), logs and metric labels.
      if (!isBareKey(key.str())) {
        reject(lineOf(key.source()), path,
               "a provider name may use only letters, digits, '-' and '_'");
      }
      readProvider(std::string(key.str()), requireTable(node, path), path);
    }
  }

  // Where a plugin setting came from, so a plugin's complaint lands on the admin's line and key.
  struct SettingOrigin {
    std::string key;
    int line = 0;
  };

  void readProvider(const std::string& name, const toml::table& table, const std::string& path) {
    ProviderSettings provider;
    provider.plugin.name = name;
    provider_lines_[name] = lineOf(table);
    std::map<std::string, SettingOrigin> origins;

    const auto* kind = table.get("kind");
    if (kind == nullptr) {
      reject(table, childPath(path, "kind"),
             "missing; known kinds: " + joinNames(registry_.kinds()));
    }
    provider.plugin.kind = requireString(*kind, childPath(path, "kind"));
    if (!registry_.has(provider.plugin.kind)) {
      reject(*kind, childPath(path, "kind"),
             "unknown provider kind '" + provider.plugin.kind +
                 "'; known kinds: " + joinNames(registry_.kinds()));
    }
    origins["kind"] = {"kind", lineOf(*kind)};

    for (auto&& [key_node, node] : table) {
      const std::string key(key_node.str());
      const std::string key_path = childPath(path, key);
      const int line = lineOf(key_node.source());
      if (key == "kind") continue;
      if (key == "max_concurrency") {
        provider.max_concurrency = static_cast<int>(requireInteger(node, key_path, 1, 10'000));
        origins[key] = {key, line};
        continue;
      }
      if (key == "rate") {
        provider.rate = requireNumber(node, key_path, 0, 1e6);
        origins[key] = {key, line};
        continue;
      }
      if (key == "timeout") {
        provider.timeout = requireDuration(node, key_path, Millis(1));
        origins[key] = {key, line};
        continue;
      }
      if (endsWith(key, "_file") && key.size() > 5) {
        const std::string setting_key = key.substr(0, key.size() - 5);
        if (table.contains(setting_key)) {
          reject(line, key_path,
                 "set either `" + setting_key + "` or `" + key + "`, not both (prefer `" + key +
                     "`: secrets do not belong in the config file)");
        }
        channels::Setting setting;
        setting.value = readSecret(node, key_path);
        setting.line = line;
        provider.plugin.settings[setting_key] = std::move(setting);
        origins[setting_key] = {key, line};
        continue;
      }
      channels::Setting setting = pluginSetting(node, key_path);
      setting.line = line;
      if (isPathSetting(key) && !setting.is_array && node.is_string()) {
        setting.value = resolvePath(setting.value);
      }
      provider.plugin.settings[key] = std::move(setting);
      origins[key] = {key, line};
    }

    validateWithPlugin(provider.plugin, lineOf(table), path, origins);
    config_.providers.emplace(name, std::move(provider));
  }

  void validateWithPlugin(const channels::ProviderConfig& plugin, int table_line,
                          const std::string& path,
                          const std::map<std::string, SettingOrigin>& origins) const {
    Error problem;
    try {
      auto created = registry_.create(plugin);
      if (created) return;
      problem = created.error();
    } catch (const std::exception& e) {
      problem = makeError("plugin_exception", e.what());
    }
    constexpr std::string_view kSettingPrefix = "setting:";
    if (problem.code.rfind(kSettingPrefix, 0) == 0) {
      const std::string key = problem.code.substr(kSettingPrefix.size());
      auto origin = origins.find(key);
      if (origin != origins.end()) {
        reject(origin->second.line, childPath(path, origin->second.key), problem.message);
      }
      reject(table_line, childPath(path, key), problem.message);  // a required key is missing
    }
    reject(table_line, path, problem.message);
  }

  channels::Setting pluginSetting(const toml::node& node, const std::string& path) const {
    channels::Setting setting;
    if (const auto* array = node.as_array()) {
      setting.is_array = true;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const auto& element = *array->get(i);
        auto text = scalarText(element);
        if (!text) {
          reject(element, indexPath(path, i),
                 "an array setting may hold only strings, numbers and booleans, not " +
                     describeType(element));
        }
        setting.values.push_back(std::move(*text));
      }
      return setting;
    }
    auto text = scalarText(node);
    if (!text) {
      reject(node, path,
             "a provider setting must be a string, number, boolean or an array of those, not " +
                 describeType(node));
    }
    setting.value = std::move(*text);
    return setting;
  }

  static std::optional<std::string> scalarText(const toml::node& node) {
    if (const auto* text = node.as_string()) return text->get();
    if (const auto* integer = node.as_integer()) return std::to_string(integer->get());
    if (const auto* floating = node.as_floating_point()) return formatNumber(floating->get());
    if (const auto* boolean = node.as_boolean()) {
      return std::string(boolean->get() ? "true" : "false");
    }
    return std::nullopt;
  }

  // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY; a relative name found there
  // wins over a file beside the config, so the same config works with and without it.
  fs::path secretPath(const std::string& name) const {
    fs::path given(name);
    if (given.is_absolute()) return given;
    if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
        credentials != nullptr && *credentials != '\0') {
      fs::path candidate = fs::path(credentials) / given;
      struct stat status {};
      if (::stat(candidate.c_str(), &status) == 0) return candidate.lexically_normal();
    }
    return (base_dir_ / given).lexically_normal();
  }

  std::string readSecret(const toml::node& node, const std::string& path) const {
    const std::string name = requireString(node, path);
    if (name.empty()) reject(node, path, "must name a file holding the secret");
    const fs::path file = secretPath(name);
    const std::string shown = file.string();
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever (and
    // block the start or a reload); it is refused below as not a regular file.
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      reject(node, path, "cannot read secret file " + shown + ": " + std::strerror(errno));
    }
    FileCloser closer(fd);
    struct stat status {};
    if (::fstat(fd, &status) != 0) {
      reject(node, path, "cannot stat secret file " + shown + ": " + std::strerror(errno));
    }
    if (!S_ISREG(status.st_mode)) {
      reject(node, path, "secret file " + shown + " is not a regular file");
    }
    if ((status.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
      reject(node, path,
             "secret file " + shown + " is accessible by group or others (mode " + mode +
                 "); run `chmod 600 " + shown + "`");
    }
    auto content = readWholeFile(fd, kMaxSecretBytes);
    if (!content) {
      reject(node, path, "cannot read secret file " + shown + ": " + content.error().message);
    }
    std::string secret = std::move(content.value());
    // Editors and `echo` add a final newline that is never part of the secret.
    if (!secret.empty() && secret.back() == '\n') {
      secret.pop_back();
      if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    }
    if (secret.empty()) reject(node, path, "secret file " + shown + " is empty");
    return secret;
  }

  void crossCheck(const toml::table& root) const {
    if (config_.tokens.empty()) {
      reject(api_line_, "api.tokens",
             "at least one [[api.tokens]] entry is required; every API call needs a bearer token");
    }
    if (config_.channels.empty()) {
      const auto* channels = root.get("channels");
      reject(channels ? lineOf(*channels) : 0, "channels",
             "no channel is configured; add at least one [channels.<name>] table with its "
             "providers (channels: " +
                 std::string(kAllowedChannels) + ")");
    }
    for (const auto& [channel, names] : channel_providers_) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (config_.providers.count(names[i].value) == 0) {
          std::vector<std::string> defined;
          for (const auto& [name, provider] : config_.providers) defined.push_back(name);
          reject(names[i].line, indexPath("channels." + channel + ".providers", i),
                 "provider '" + names[i].value +
                     "' is not defined in [providers] (defined: " + joinNames(defined) + ")");
        }
      }
    }
    for (const auto& [name, provider] : config_.providers) {
      bool used = false;
      for (const auto& [channel, settings] : config_.channels) {
        used = used || std::find(settings.providers.begin(), settings.providers.end(), name) !=
                           settings.providers.end();
      }
      if (!used) {
        reject(provider_lines_.at(name), childPath("providers", name),
               "provider " + name +
                   " is not used by any channel; add it to a [channels.<name>] providers list "
                   "or remove it");
      }
    }
  }

  std::string source_;
  fs::path base_dir_;
  const channels::ProviderRegistry& registry_;
  Config config_;
  int api_line_ = 0;
  std::map<std::string, std::vector<Located>> channel_providers_;
  std::map<std::string, int> provider_lines_;
};

fs::path absoluteDirectory(const std::string& dir) {
  std::error_code ignored;
  fs::path absolute = fs::absolute(dir.empty() ? fs::path(".") : fs::path(dir), ignored);
  return absolute.empty() ? fs::path(dir) : absolute.lexically_normal();
}

constexpr std::string_view kEmbeddedConfig =
    R"toml(# omnigated --embedded-config: a development setup that needs no external service.
[server]
listen = "127.0.0.1:7447"
unix_socket = ""

[[api.tokens]]
name = "dev"
sha256 = "c91cbbedf8c712e8e2b7517ddeca8fe4fde839ebd8339e0b2001363002b37712"  # "dev-token"

[store]
path = "omnigate.db"

[log]
level = "info"
target = "auto"

[retry]
base = "30s"
max = "1h"
max_attempts = 10
max_age = "3d"

[channels.email]
providers = ["outbox-email"]

[channels.sms]
providers = ["outbox-sms"]

[channels.push]
providers = ["outbox-push"]

[channels.messenger]
providers = ["outbox-messenger"]

[providers.outbox-email]
kind = "outbox"
dir = "outbox"

[providers.outbox-sms]
kind = "outbox"
dir = "outbox"

[providers.outbox-push]
kind = "outbox"
dir = "outbox"

[providers.outbox-messenger]
kind = "outbox"
dir = "outbox"
)toml";

}  // namespace

Result<Config> parseConfig(std::string_view text, const std::string& source_name,
                           const std::string& base_dir,
                           const channels::ProviderRegistry& registry) {
  try {
    toml::table root = toml::parse(text, source_name);
    return Loader(source_name, absoluteDirectory(base_dir), registry).load(root);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return makeError("config_parse", source_name + ":" + std::to_string(where.line) + ":" +
                                         std::to_string(where.column) + ": " +
                                         std::string(e.description()));
  } catch (const Rejection& rejection) {
    return rejection.error();
  } catch (const std::exception& e) {
    return makeError("config_invalid", source_name + ": " + e.what());
  }
}

Result<std::vector<std::string>> readPluginList(std::string_view text,
                                                const std::string& source_name,
                                                const std::string& base_dir) {
  try {
    toml::table root = toml::parse(text, source_name);
    channels::ProviderRegistry empty;
    return Loader(source_name, absoluteDirectory(base_dir), empty).loadPluginList(root);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return makeError("config_parse", source_name + ":" + std::to_string(where.line) + ":" +
                                         std::to_string(where.column) + ": " +
                                         std::string(e.description()));
  } catch (const Rejection& rejection) {
    return rejection.error();
  }
}

Result<std::string> readConfigText(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return makeError("config_missing",
                     "cannot read config file " + path + ": " + std::strerror(errno));
  }
  FileCloser closer(fd);
  auto text = readWholeFile(fd, 0);
  if (!text) {
    return makeError("config_missing",
                     "cannot read config file " + path + ": " + text.error().message);
  }
  return text;
}

Result<Config> loadConfigFile(const std::string& path, const channels::ProviderRegistry& registry) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return makeError("config_missing",
                     "cannot read config file " + path + ": " + std::strerror(errno));
  }
  FileCloser closer(fd);
  auto text = readWholeFile(fd, 0);
  if (!text) {
    return makeError("config_missing",
                     "cannot read config file " + path + ": " + text.error().message);
  }
  std::string directory = fs::path(path).parent_path().string();
  return parseConfig(*text, path, directory.empty() ? "." : directory, registry);
}

std::string_view embeddedDefaultConfig() { return kEmbeddedConfig; }

}  // namespace omnigate::config
