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
#include "daemon/app/metrics.h"
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
    state->settings = settings;
    state->provider = std::move(provider.value());
    state->max_concurrency = settings.max_concurrency;
    state->rate = settings.rate;
    state->timeout = settings.timeout;
    providers.emplace(name, std::move(state));
  }
  return providers;
}

// A no-op outside systemd (no NOTIFY_SOCKET).
void notify(const std::string& state) {
  spdlog::debug("sd_notify: {}", state);
  sd_notify(0, state.c_str());
}

std::string monotonicUsec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::to_string(static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
                        static_cast<std::uint64_t>(now.tv_nsec) / 1000);
}

// Settings that are fixed for the life of the process; a reload that changes them keeps the
// running values (logged) and takes everything else.
void keepFixedSettings(const config::Config& running, config::Config& fresh) {
  auto keep = [](const char* what, bool changed) {
    if (changed)
      spdlog::warn("reload: {} changed; the new value takes effect after a restart", what);
  };
  const auto& a = running.server;
  const auto& b = fresh.server;
  keep("[server] listen/unix_socket/limits",
       a.listen_host != b.listen_host || a.listen_port != b.listen_port ||
           a.listen_tcp != b.listen_tcp || a.unix_socket != b.unix_socket ||
           a.max_body_bytes != b.max_body_bytes || a.max_header_bytes != b.max_header_bytes ||
           a.read_timeout != b.read_timeout || a.idle_timeout != b.idle_timeout ||
           a.max_connections != b.max_connections);
  keep("[store]", running.store.path != fresh.store.path ||
                      running.store.max_batch != fresh.store.max_batch ||
                      running.store.customer_cache != fresh.store.customer_cache);
  keep("[dispatch] window", running.dispatch.window != fresh.dispatch.window);
  keep("[tls] ca_file", running.tls.ca_file != fresh.tls.ca_file);
  keep("[plugins] load", running.plugins != fresh.plugins);
  keep("[log] target", running.log.target != fresh.log.target);
  const std::string public_url = fresh.server.public_url;
  fresh.server = running.server;
  fresh.server.public_url = public_url;
  fresh.store = running.store;
  fresh.dispatch = running.dispatch;
  fresh.tls = running.tls;
  fresh.plugins = running.plugins;
  fresh.log.target = running.log.target;
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

int runDaemon(config::Config initial, const channels::ProviderRegistry& registry,
              ConfigReader reread) {
  // What every component reads from now on; a reload replaces the pointer (see reload below).
  std::shared_ptr<const config::Config> current =
      std::make_shared<const config::Config>(std::move(initial));
  const std::shared_ptr<const config::Config> startup = current;
  const config::Config& config = *startup;  // the settings fixed at start
  asio::io_context io(1);
  SystemClock clock;
  SystemRandom random;
  UlidGenerator ids(clock, random);

  store::RecoveryReport recovery;
  notify("STATUS=opening the store and recovering");
  store::SqliteStoreOptions store_options{config.store.path, config.store.max_batch, clock.now()};
  store_options.still_working = [] {
    // A schema migration rebuilds tables (~20 s per million messages): each report moves the
    // start deadline a minute ahead, so only a store that stops making progress times out.
    notify("STATUS=opening the store: migrating or recovering a large database");
    notify("EXTEND_TIMEOUT_USEC=60000000");
  };
  auto store = store::SqliteStore::open(
      store_options,
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
  dispatcher.onAttempt(
      [&admission](const std::string& customer_id, const std::string& channel, bool accepted) {
        admission.recordAttempt(customer_id, channel, accepted);
      });
  api::ApiHandlers handlers(current, templates, **store, dispatcher, admission, clock, ids);
  api::HttpServer server(io, config.server,
                         [&handlers](api::Request&& request, api::Respond respond) {
                           handlers.handle(std::move(request), std::move(respond));
                         });
  handlers.setMetricsSource(
      makeMetricsSource(dispatcher, admission, **store, recovery, clock, server));
  if (auto listening = server.listen(); !listening) {
    spdlog::critical("{}", listening.error().message);
    (*store)->close();
    return 1;
  }
  dispatcher.start();
  handlers.setReady(true);
  const auto readyStatus = [&dispatcher] {
    return "STATUS=accepting messages; " + std::to_string(dispatcher.inFlight()) +
           " deliveries in flight, " + std::to_string(dispatcher.windowSize()) + " due in memory";
  };
  notify("READY=1\n" + readyStatus());
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
    notify("STOPPING=1\nSTATUS=draining " + std::to_string(dispatcher.inFlight()) +
           " in-flight deliveries");
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

  // Reload: everything is read, checked and built first; only if all of it is good is it swapped
  // in, in one step on this thread, so no request or attempt sees half of it. The handlers and the
  // dispatcher read `templates` at each use, so assigning it swaps the set for everything later.
  auto reload = [&] {
    notify("RELOADING=1\nMONOTONIC_USEC=" + monotonicUsec() +
           "\nSTATUS=reloading the configuration");
    auto refuse = [&](const std::string& why) {
      spdlog::error("SIGHUP: reload refused, the running configuration stays: {}", why);
      notify("READY=1\nSTATUS=reload refused (see the log); running the previous configuration");
    };
    auto fresh = reread();
    if (!fresh) return refuse(fresh.error().message);
    auto reloaded_templates = loadTemplates(*fresh);
    if (!reloaded_templates) return refuse("templates: " + reloaded_templates.error().message);
    auto fresh_providers = makeProviders(*fresh, registry);
    if (!fresh_providers) return refuse(fresh_providers.error().message);
    keepFixedSettings(config, *fresh);
    auto next = std::make_shared<const config::Config>(std::move(fresh.value()));
    templates = std::move(reloaded_templates.value());
    admission.reconfigure(*next);
    dispatcher.reconfigure(*next, std::move(fresh_providers.value()));
    handlers.reconfigure(next);
    // The level is atomic in spdlog, so other threads' lines switch cleanly; the logger (target)
    // itself is not replaced while threads may be using it.
    spdlog::default_logger()->set_level(spdlog::level::from_str(next->log.level));
    current = std::move(next);
    spdlog::info("SIGHUP: configuration {} reloaded: {} providers, {} templates", current->source,
                 current->providers.size(), templates.ids().size());
    notify("READY=1\n" + readyStatus());
  };
  asio::signal_set reload_signal(io, SIGHUP);
  std::function<void()> await_reload = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (!shutting_down) reload();
      await_reload();
    });
  };
  await_reload();

  // Liveness for systemd's watchdog: this timer firing proves the loop turns, and the store
  // thread must not be stuck in one batch for longer than half the watchdog interval. STATUS is
  // refreshed on the same beat.
  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  const auto beat = watchdog ? std::min(std::chrono::microseconds(watchdog_usec / 2),
                                        std::chrono::microseconds(10'000'000))
                             : std::chrono::microseconds(10'000'000);
  const auto store_limit = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::microseconds(watchdog ? watchdog_usec / 2 : 0));
  asio::steady_timer heartbeat(io);
  bool store_stuck_logged = false;
  std::function<void()> await_beat = [&] {
    heartbeat.expires_after(beat);
    heartbeat.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const auto store_busy = (*store)->busyFor();
      if (watchdog && store_busy > store_limit) {
        if (!store_stuck_logged) {
          spdlog::critical(
              "watchdog: the store thread has been in one commit for {} ms; not "
              "confirming liveness",
              store_busy.count());
          store_stuck_logged = true;
        }
      } else {
        store_stuck_logged = false;
        notify(std::string(watchdog ? "WATCHDOG=1\n" : "") +
               (shutting_down ? "STATUS=draining " + std::to_string(dispatcher.inFlight()) +
                                    " in-flight deliveries"
                              : readyStatus()));
      }
      await_beat();
    });
  };
  await_beat();

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
