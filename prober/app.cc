#include "prober/app.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "common/auth.h"
#include "common/protocol.h"
#include "common/report.h"
#include "prober/options.h"
#include "prober/run.h"

namespace dropspot::prober {

namespace {

int usage_error(const std::string& message) {
  std::cerr << "prober: " << message << "\n";
  return 2;
}

/// Resolves the target once; every probe and the default agent use it.
result<asio::ip::address> resolve_target(const std::string& host) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty())
    return result<asio::ip::address>::failure("--target: cannot resolve " + host + ": " +
                                              (ec ? ec.message() : "no address"));
  // Prefer IPv4 when the name has both, like most clients.
  for (const auto& entry : results)
    if (entry.endpoint().address().is_v4()) return entry.endpoint().address();
  return results.begin()->endpoint().address();
}

}  // namespace

int run_prober(int argc, char** argv) {
  CLI::App app{"dropspot prober: finds where a TCP connection to your server dies"};
  app.set_version_flag("--version", "dropspot-prober " + std::string(software_version));
  raw_options raw;
  setup_options(app, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(std::string(e.what()) + " (see prober --help)");
  }
  auto validated = validate_options(raw);
  if (!validated) return usage_error(validated.error());
  const options& opts = *validated;
  if (!opts.ssh.empty())
    return usage_error("--ssh: the SSH control channel is not in this build yet; use --agent HOST[:PORT] or --no-agent");

  std::string token;
  if (!opts.no_agent) {
    auto loaded = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN"));
    if (!loaded) return usage_error(loaded.error());
    if (!loaded->warning.empty()) std::cerr << "prober: warning: " << loaded->warning << "\n";
    token = loaded->token;
  }

  auto address = resolve_target(opts.target);
  if (!address) return usage_error(address.error());

  v1::Report report;
  asio::io_context io(1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // A named object: GCC 12 mishandles temporaries inside co_await expressions.
        run_inputs inputs{opts, *address, token};
        report = co_await run_once(std::move(inputs));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();

  switch (opts.format) {
    case output_format::json:
      std::cout << render_json(report) << "\n";
      break;
    default:
      std::cout << render_text(report, text_style_for_stdout());
      break;
  }
  return exit_code(report);
}

}  // namespace dropspot::prober
