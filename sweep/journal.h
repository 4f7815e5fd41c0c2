// The experiment's journal: an append-only file of JSON lines, one per event, each written with a
// single write() and fsynced before the driver goes on, so a crash at any moment loses at most the
// record being written. Reading ignores a last line cut short by such a crash (it has no newline)
// and fails on damage anywhere else, naming the line.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace ringmaster::sweep {

class Journal {
 public:
  // Opens `path` for appending, creating it (and fsyncing its directory) if needed. A torn last
  // record (no newline: the crash came mid-write) is cut off first.
  static Result<Journal> open(const std::string& path);
  Status append(const nlohmann::json& record);

  // Every complete record of `path`; an empty list when it does not exist.
  static Result<std::vector<nlohmann::json>> read(const std::string& path);

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace ringmaster::sweep
