#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/fd.h"

namespace ringmaster {

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return invalid_argument(path + ": cannot open: " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) return invalid_argument(path + ": is a directory");
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return invalid_argument(path + ": read failed: " + errno_text());
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Status(StatusCode::kOutOfRange, path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<AtomicFile> AtomicFile::create(const std::string& path, unsigned mode, Durability durability) {
  AtomicFile f;
  f.path_ = path;
  f.durability_ = durability;
  const std::filesystem::path target(path);
  f.dir_ = target.parent_path().empty() ? "." : target.parent_path().string();
  f.tmp_ = (std::filesystem::path(f.dir_) / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid())))
               .string();
  f.fd_ = UniqueFd(::open(f.tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode)));
  if (f.fd_.get() < 0) return invalid_argument(f.tmp_ + ": cannot create: " + errno_text());
  return f;
}

AtomicFile::~AtomicFile() {
  if (fd_.get() >= 0) ::unlink(tmp_.c_str());  // never committed: the target keeps its old content
}

Status AtomicFile::append(std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return invalid_argument(tmp_ + ": write failed: " + errno_text());
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return Status::ok();
}

Status AtomicFile::commit() {
  const bool durable = durability_ == Durability::kDurable;
  if (durable && ::fsync(fd_.get()) != 0) return invalid_argument(tmp_ + ": fsync failed: " + errno_text());
  fd_ = UniqueFd();
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    Status s = invalid_argument(path_ + ": rename failed: " + errno_text());
    ::unlink(tmp_.c_str());
    return s;
  }
  if (!durable) return Status::ok();
  UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return Status::ok();
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode, Durability durability) {
  auto f = AtomicFile::create(path, mode, durability);
  if (!f) return f.status();
  if (Status s = f->append(data); !s) return s;
  return f->commit();
}

uint32_t crc32_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < bytes.size()) {  // zlib takes at most 4 GiB per call
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  UniqueFd fd(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  std::size_t got = 0;
  while (fd.get() >= 0 && got < raw.size()) {
    const ssize_t n = ::read(fd.get(), raw.data() + got, raw.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string executable_path() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.string();
}

Status create_private_directories(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p = fs::absolute(path).lexically_normal();
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path q = p; !q.empty() && !fs::exists(q, ec); q = q.parent_path()) {
    missing.push_back(q);
    if (q == q.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST)
      return invalid_argument(it->string() + ": cannot create: " + errno_text());
  if (!fs::is_directory(p, ec)) return invalid_argument(p.string() + ": exists and is not a directory");
  if (::chmod(p.c_str(), 0700) != 0) return invalid_argument(p.string() + ": cannot make it private: " + errno_text());
  return Status::ok();
}

}  // namespace ringmaster
