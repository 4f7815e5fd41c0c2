// `ringmaster dashboard`'s HTTP server (issue 26; docs/dashboard.md): a JSON API over the job
// directories (dashboard/state.h), on cpp-httplib from Debian.
//
//   GET  /api/jobs                          every job (state.h list_jobs)
//   GET  /api/jobs/JOB                      its status, conditions, replicas, events
//   GET  /api/jobs/JOB/logs/REPLICA?bytes=N the last N bytes of a replica's log (at most 1 MiB)
//   GET  /api/jobs/JOB/logs/REPLICA/stream  the log's last 16 KiB, then each new line as it is
//                                           written: server-sent events, one "data:" per line
//   GET  /api/jobs/JOB/metrics              the replicas' training metrics (state.h job_metrics)
//   GET  /api/jobs/JOB/timeline/REPLICA     the Chrome trace it wrote with --timeline (Perfetto opens it)
//   POST /api/jobs/JOB/suspend | resume     as `ringmaster suspend|resume`
//   POST /api/jobs/JOB/delete               as `ringmaster delete` (which it runs)
//   GET  /api/sweeps                        every experiment `ringmaster sweep` ran (sweeps.h)
//   GET  /api/sweeps/NAME                   one, with its trials
//   POST /api/sweeps/NAME/stop              as `ringmaster sweep stop` (409: no driver runs it)
//   GET  /, /app.js, ...                    the pages (web_dir: web/, uPlot and ECharts, copied by the build)
// Errors are {"error": "..."} with 400, 401, 403, 404 or 409.
//
// Access, as Jupyter's: the server has a token (printed in its URL). Listening on loopback, GETs
// need none; anywhere else every request needs it (?token=, "Authorization: Bearer", or the
// cookie ringmaster_token, which the URL sets). A POST always needs it, and is refused when its
// Origin header names another site than the one it was sent to (a page elsewhere posting here).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace ringmaster::dashboard {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 8265;        // 0: a free one
  std::string jobs_root;  // where `ringmaster run` writes job directories
  std::string experiments_root;  // where `ringmaster sweep` writes experiment directories
  std::string token;      // empty: 24 random hex digits
  std::string web_dir;    // the pages' files; empty or missing: "/" says they are not installed
  std::string ringmaster = "ringmaster";  // the binary whose `delete` deletes a job
};

class Server {
 public:
  // Binds and serves on a thread of its own until destroyed.
  static Result<std::unique_ptr<Server>> start(ServerOptions options);
  virtual ~Server() = default;
  virtual int port() const = 0;
  virtual const std::string& token() const = 0;
  // http://ADDRESS:PORT/?token=TOKEN
  virtual std::string url() const = 0;
};

}  // namespace ringmaster::dashboard
