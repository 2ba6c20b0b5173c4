#include "daemon/app/app.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/api/admission.h"
#include "daemon/api/handlers.h"
#include "daemon/api/http_server.h"
#include "daemon/common/ulid.h"
#include "daemon/dispatch/dispatcher.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/transport/transport.h"

namespace omnigate::app {
namespace asio = boost::asio;

namespace {

constexpr auto kDrainGrace = std::chrono::seconds(15);
constexpr int kExitStoreFailure = 3;

Result<std::map<std::string, std::unique_ptr<dispatch::ProviderState>>> makeProviders(
    const config::Config& config, const channels::ProviderRegistry& registry) {
  std::map<std::string, std::unique_ptr<dispatch::ProviderState>> providers;
  for (const auto& [name, settings] : config.providers) {
    auto provider = registry.create(settings.plugin);
    if (!provider) {
      return makeError("provider", "provider " + name + ": " + provider.error().message);
    }
    auto state = std::make_unique<dispatch::ProviderState>();
    state->name = name;
    state->provider = std::move(provider.value());
    state->max_concurrency = settings.max_concurrency;
    state->rate = settings.rate;
    state->timeout = settings.timeout;
    providers.emplace(name, std::move(state));
  }
  return providers;
}

}  // namespace

Result<templates::TemplateSet> loadTemplates(const config::Config& config) {
  if (config.templates.dir.empty()) return templates::TemplateSet();
  const std::string where = config.templates.dir + " (templates.dir, " + config.source + ":" +
                            std::to_string(config.templates.dir_line) + ")";
  auto files = templates::readTemplateFiles(config.templates.dir);
  if (!files) return makeError(files.error().code, where + ": " + files.error().message);
  auto set = templates::TemplateSet::build(*files);
  if (!set) {
    // Problems are "relative/path:line: what", one per line: make each path a full one.
    std::string message;
    std::size_t start = 0;
    const std::string& text = set.error().message;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      message += (message.empty() ? "" : "\n") + config.templates.dir + "/" +
                 text.substr(start, end - start);
      start = end + 1;
    }
    return makeError(set.error().code, message);
  }
  return set;
}

int runDaemon(const config::Config& config, const channels::ProviderRegistry& registry) {
  asio::io_context io(1);
  SystemClock clock;
  SystemRandom random;
  UlidGenerator ids(clock, random);

  store::RecoveryReport recovery;
  auto store = store::SqliteStore::open(
      {config.store.path, config.store.max_batch, clock.now()},
      [&io](std::function<void()> completion) { asio::post(io, std::move(completion)); },
      &recovery);
  if (!store) {
    spdlog::critical("{}", store.error().message);
    return 2;
  }
  spdlog::info("store {} open: {} pending, {} interrupted attempts will be retried",
               config.store.path, recovery.pending, recovery.interrupted);

  auto loaded_templates = loadTemplates(config);
  if (!loaded_templates) {
    spdlog::critical("templates: {}", loaded_templates.error().message);
    (*store)->close();
    return 1;
  }
  templates::TemplateSet templates = std::move(loaded_templates.value());
  if (!config.templates.dir.empty()) {
    spdlog::info("templates: {} loaded from {}", templates.ids().size(), config.templates.dir);
  }

  auto providers = makeProviders(config, registry);
  if (!providers) {
    spdlog::critical("{}", providers.error().message);
    return 1;
  }
  transport::TransportOptions transport_options;
  transport_options.ca_file = config.tls.ca_file;
  auto transport = transport::makeCurlTransport(io, transport_options);
  dispatch::Dispatcher dispatcher(io, **store, *transport, clock, random, config, templates,
                                  std::move(providers.value()));
  api::Admission admission(config, **store);
  dispatcher.onRecipientDead([&admission, &clock](const std::string& customer_id,
                                                  const std::string& channel,
                                                  const std::string& recipient) {
    admission.markContactDead(customer_id, channel, recipient, clock.now());
  });
  dispatcher.onAttempt([&admission](const std::string& customer_id, const std::string& channel,
                                    bool accepted) {
    admission.recordAttempt(customer_id, channel, accepted);
  });
  api::ApiHandlers handlers(config, templates, **store, dispatcher, admission, clock, ids);
  handlers.setMetricsSource([&dispatcher, &admission, &store] {
    std::string out;
    auto metric = [&out](const char* name, const char* type, const char* help) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    const auto& stats = dispatcher.stats();
    metric("omnigate_dispatch_outcomes_total", "counter",
           "Attempt outcomes as the dispatcher recorded them.");
    for (const auto& [outcome, count] :
         {std::pair<const char*, std::uint64_t>{"sent", stats.sent}, {"retried", stats.retried},
          {"failed", stats.failed}, {"expired", stats.expired}, {"fell_back", stats.fell_back}}) {
      out += std::string("omnigate_dispatch_outcomes_total{outcome=\"") + outcome + "\"} " +
             std::to_string(count) + "\n";
    }
    metric("omnigate_dispatch_in_flight", "gauge", "Claims and attempts not finished yet.");
    out += "omnigate_dispatch_in_flight " + std::to_string(dispatcher.inFlight()) + "\n";
    metric("omnigate_dispatch_window", "gauge", "Due jobs held in memory.");
    out += "omnigate_dispatch_window " + std::to_string(dispatcher.windowSize()) + "\n";
    const auto now = std::chrono::steady_clock::now();
    metric("omnigate_provider_attempts_total", "counter", "Attempts handed to each provider.");
    for (const auto& [name, p] : dispatcher.providers()) {
      out += "omnigate_provider_attempts_total{provider=\"" + name + "\"} " +
             std::to_string(p->attempts) + "\n";
    }
    metric("omnigate_provider_accepted_total", "counter", "Messages each provider accepted.");
    for (const auto& [name, p] : dispatcher.providers()) {
      out += "omnigate_provider_accepted_total{provider=\"" + name + "\"} " +
             std::to_string(p->accepted) + "\n";
    }
    metric("omnigate_provider_pauses_total", "counter", "Times each provider was paused.");
    for (const auto& [name, p] : dispatcher.providers()) {
      out += "omnigate_provider_pauses_total{provider=\"" + name + "\"} " +
             std::to_string(p->pauses) + "\n";
    }
    metric("omnigate_provider_paused", "gauge", "1 while the provider is paused.");
    for (const auto& [name, p] : dispatcher.providers()) {
      out += "omnigate_provider_paused{provider=\"" + name + "\"} " +
             std::string(p->paused_until > now ? "1" : "0") + "\n";
    }
    metric("omnigate_provider_in_flight", "gauge", "Requests in flight per provider.");
    for (const auto& [name, p] : dispatcher.providers()) {
      out += "omnigate_provider_in_flight{provider=\"" + name + "\"} " +
             std::to_string(p->in_flight) + "\n";
    }
    const auto store_stats = (*store)->stats();
    metric("omnigate_store_commits_total", "counter", "SQLite transactions committed.");
    out += "omnigate_store_commits_total " + std::to_string(store_stats.commits) + "\n";
    metric("omnigate_store_operations_total", "counter", "Store operations (group-committed).");
    out += "omnigate_store_operations_total " + std::to_string(store_stats.operations) + "\n";
    metric("omnigate_store_max_batch", "gauge", "Most operations seen in one commit.");
    out += "omnigate_store_max_batch " + std::to_string(store_stats.max_batch_seen) + "\n";
    metric("omnigate_customers_cached", "gauge", "Customers held in memory for admission.");
    out += "omnigate_customers_cached " + std::to_string(admission.cached()) + "\n";
    return out;
  });
  api::HttpServer server(io, config.server, [&handlers](api::Request&& request,
                                                        api::Respond respond) {
    handlers.handle(std::move(request), std::move(respond));
  });
  if (auto listening = server.listen(); !listening) {
    spdlog::critical("{}", listening.error().message);
    (*store)->close();
    return 1;
  }
  dispatcher.start();
  handlers.setReady(true);
  sd_notify(0, "READY=1\nSTATUS=accepting messages");
  spdlog::info("omnigated ready");

  int exit_code = 0;
  bool shutting_down = false;
  asio::steady_timer grace(io);
  auto finish = [&] {
    (*store)->close();  // flushes every queued write; completions are posted to io
    transport->shutdown();
    io.poll();
    io.stop();
  };
  auto shutdown = [&](const char* why) {
    if (shutting_down) return;
    shutting_down = true;
    spdlog::info("{}: draining ({} deliveries in flight)", why, dispatcher.inFlight());
    sd_notify(0, "STOPPING=1\nSTATUS=draining in-flight deliveries");
    handlers.setDraining(true);
    server.stopAccepting();
    grace.expires_after(kDrainGrace);
    grace.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      spdlog::warn("drain grace elapsed; unfinished attempts will be retried after restart");
      transport->shutdown();  // fails what is left; their outcomes are recorded as retries
    });
    dispatcher.stop([&] {
      grace.cancel();
      finish();
    });
  };

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (!ec) shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
  });

  // The handlers and the dispatcher read `templates` at each use, so assigning it swaps the set
  // for every later request and attempt (all of them run on this one thread).
  asio::signal_set reload_signal(io, SIGHUP);
  std::function<void()> await_reload = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      auto reloaded = loadTemplates(config);
      if (!reloaded) {
        spdlog::error("SIGHUP: templates not reloaded, keeping the {} in use: {}",
                      templates.ids().size(), reloaded.error().message);
      } else {
        templates = std::move(reloaded.value());
        spdlog::info("SIGHUP: templates reloaded: {}", templates.ids().size());
      }
      await_reload();
    });
  };
  await_reload();

  // An I/O error on commit is not retried in-process (the kernel may have dropped the dirty
  // pages): stop and let systemd restart us, after which SQLite recovers from the WAL.
  asio::steady_timer store_watch(io);
  std::function<void()> watch_store = [&] {
    store_watch.expires_after(std::chrono::milliseconds(200));
    store_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if ((*store)->failed()) {
        spdlog::critical("the store hit an unrecoverable I/O error; exiting for a restart");
        exit_code = kExitStoreFailure;
        handlers.setDraining(true);
        server.stopAccepting();
        io.stop();
        return;
      }
      watch_store();
    });
  };
  watch_store();

  io.run();
  if (exit_code == 0) spdlog::info("omnigated stopped");
  return exit_code;
}

}  // namespace omnigate::app
