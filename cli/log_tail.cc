#include "cli/log_tail.h"

#include <algorithm>
#include <fstream>

namespace ringmaster::cli {

void LogTail::read_new_lines(const std::string& path, const std::function<void(std::string_view)>& line) {
  if (path.empty()) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::size_t& offset = offsets_[path];
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  if (size <= offset) return;
  std::string chunk(size - offset, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  const auto last = chunk.rfind('\n');
  if (last == std::string::npos) return;
  offset += last + 1;
  const std::string_view text(chunk.data(), last + 1);
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find('\n', start);
    line(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace ringmaster::cli
