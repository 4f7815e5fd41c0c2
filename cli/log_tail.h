// LogTail: the complete lines appended to replica log files since the last look, reading only the
// new bytes (a partial last line waits for its newline). Shared by `ringmaster run`, which streams
// its replicas' output, and `ringmaster logs [-f]`. One per reader; not thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace ringmaster::cli {

class LogTail {
 public:
  // Calls line(text) for each new complete line of path, without its newline. A missing file has none.
  void read_new_lines(const std::string& path, const std::function<void(std::string_view)>& line);

 private:
  std::map<std::string, std::size_t> offsets_;  // bytes of each file already handed out
};

}  // namespace ringmaster::cli
