#include "sweep/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/files.h"

namespace ringmaster::sweep {

Result<Journal> Journal::open(const std::string& path) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  if (existed) {  // a record cut short by a crash was never acknowledged: drop it before appending
    auto text = read_file(path, 1ULL << 30);
    if (!text) return text.status();
    const std::size_t keep = text->empty() ? 0 : text->rfind('\n') == std::string::npos ? 0 : text->rfind('\n') + 1;
    if (keep != text->size()) {
      std::filesystem::resize_file(path, keep, ec);
      if (ec) return Status(StatusCode::kUnavailable, fmt::format("{}: cannot drop a torn last record: {}", path, ec.message()));
    }
  }
  Journal j;
  j.path_ = path;
  j.fd_ = UniqueFd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kPrivateFileMode));
  if (!j.fd_.valid()) return Status(StatusCode::kUnavailable, fmt::format("{}: cannot open the journal: {}", path, std::strerror(errno)));
  if (!existed) {  // make the new file's name durable too
    const auto dir = std::filesystem::path(path).parent_path();
    UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.valid()) ::fsync(d.get());
  }
  return j;
}

Status Journal::append(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(StatusCode::kUnavailable, fmt::format("{}: cannot append: {}", path_, std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_.get()) != 0)
    return Status(StatusCode::kUnavailable, fmt::format("{}: fsync failed: {}", path_, std::strerror(errno)));
  return Status::ok();
}

Result<std::vector<nlohmann::json>> Journal::read(const std::string& path) {
  std::vector<nlohmann::json> records;
  auto text = read_file(path, 1ULL << 30);
  if (!text) {
    if (text.status().code() == StatusCode::kNotFound) return records;
    return text.status();
  }
  std::size_t at = 0, line = 0;
  while (at < text->size()) {
    const std::size_t end = text->find('\n', at);
    ++line;
    if (end == std::string::npos) break;  // a record cut short by a crash: never acknowledged
    auto j = nlohmann::json::parse(std::string_view(*text).substr(at, end - at), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return data_loss(fmt::format("{}:{}: expected a JSON record, found a damaged line", path, line));
    records.push_back(std::move(j));
    at = end + 1;
  }
  return records;
}

}  // namespace ringmaster::sweep
