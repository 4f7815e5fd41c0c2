// File helpers. Every durable write in ringmaster (checkpoints, journals, status files) goes through
// write_file_atomic, so a crash at any moment leaves either the old or the new content, never a torn
// file. Thread-safe as long as two threads do not write the same path at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"

namespace ringmaster {

// Reads a whole file. Fails with kNotFound if it does not exist and kOutOfRange if it is larger
// than max_bytes (protects against reading a huge or endless file such as /dev/zero). Messages
// start with the path.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 64u << 20);

// The CRC-32 (zlib's, as gzip and PNG use) of any number of bytes: the checksum our checkpoints
// and snapshots carry.
uint32_t crc32_of(std::string_view bytes);

// `bytes` bytes from /dev/urandom as lower-case hex: job tokens.
std::string random_hex(std::size_t bytes = 16);

// Whether a replaced file must also survive a power loss (fsync of the file and its directory), or
// only never be seen torn (rename). kReplaceOnly is for derived state rewritten often and rebuilt on
// the next run: a job's status snapshots while it runs (its terminal status is durable) and the
// MPI hostfile; each fsync costs ~0.5 ms here, and a job start wrote eight (docs/performance.md).
enum class Durability { kDurable, kReplaceOnly };

// A file written in pieces that appears at `path` whole or not at all: the pieces go to a temp
// file in the same directory, and commit() renames it over `path`, with kDurable fsyncing the file
// before and the directory after. Destroyed without commit(), it leaves `path` as it was. Movable,
// one thread.
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& path, unsigned mode = 0644,
                                   Durability durability = Durability::kDurable);
  AtomicFile(AtomicFile&&) = default;
  AtomicFile& operator=(AtomicFile&&) = default;
  ~AtomicFile();
  Status append(std::string_view data);
  Status commit();

 private:
  AtomicFile() = default;
  std::string path_, dir_, tmp_;
  UniqueFd fd_;
  Durability durability_ = Durability::kDurable;
};

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over the
// target, fsync of the directory (the fsyncs only with kDurable). The file gets `mode` (before the
// umask).
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644,
                         Durability durability = Durability::kDurable);

// The mode of what ringmaster writes about a job (logs, status, events, journals): they can hold
// secrets (tokens in a replica's output, the job's environment), so only the owner reads them.
inline constexpr unsigned kPrivateFileMode = 0600;
// Creates `path` and any missing parents as directories only the owner can enter (0700), and makes
// `path` itself 0700 when it exists already (a directory another tool created 0755).
Status create_private_directories(const std::string& path);

// The running executable's path (/proc/self/exe, resolved); empty when it cannot be read.
std::string executable_path();

}  // namespace ringmaster
