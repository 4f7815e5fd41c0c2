// ringmaster-dashboard: `ringmaster dashboard` (cli/commands.h says why it is a binary of its own).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/files.h"
#include "common/stop_signals.h"
#include "dashboard/server.h"
#include "launcher/job_dir.h"
#include "sweep/driver.h"

int main(int argc, char** argv) {
  CLI::App app{"ringmaster-dashboard: jobs and their logs in a browser"};
  app.set_version_flag("--version", std::string("ringmaster-dashboard ") + RINGMASTER_VERSION);
  app.require_subcommand(1);
  std::string root, sweeps;
  ringmaster::dashboard::ServerOptions o;
  CLI::App* d = app.add_subcommand("dashboard", "Serve the jobs under the jobs root to a browser (docs/dashboard.md)");
  d->add_option("--address", o.address, "address to listen on (loopback unless told otherwise)")->capture_default_str();
  d->add_option("--port", o.port, "port (0: a free one)")->capture_default_str();
  d->add_option("--jobs-root", root, "where job directories live (default ~/.ringmaster/jobs)");
  d->add_option("--experiments-root", sweeps, "where experiment directories live (default ~/.ringmaster/experiments)");
  d->add_option("--token", o.token, "the access token (default: a random one, printed in the URL)");
  d->add_option("--web-dir", o.web_dir, "the pages' files (default: web/ next to this binary, where the build puts them)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help, --version: 0; a bad flag: 2, as every ringmaster command
  }
  o.jobs_root = ringmaster::launcher::jobs_root(root).string();
  o.experiments_root = ringmaster::sweep::experiments_root(sweeps);
  const std::filesystem::path here = std::filesystem::path(ringmaster::executable_path()).parent_path();
  if (o.web_dir.empty()) o.web_dir = (here / "web").string();
  o.ringmaster = (here / "ringmaster").string();  // they are built and installed side by side
  ringmaster::StopSignals stop;  // before the server's threads start
  auto server = ringmaster::dashboard::Server::start(o);
  if (!server) {
    std::cerr << "ringmaster dashboard: " << server.status().message() << "\n";
    return 1;
  }
  std::printf("dashboard of %s and %s at %s\n", o.jobs_root.c_str(), o.experiments_root.c_str(),
              (*server)->url().c_str());
  std::fflush(stdout);
  stop.wait();
  return 0;
}
