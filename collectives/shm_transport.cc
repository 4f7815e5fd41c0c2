// The shared-memory transport: one single-producer single-consumer ring per directed pair of
// ranks, in POSIX shared memory. exchange() copies the outgoing message into the ring towards
// `to` while copying the incoming one out of the ring from `from`, alternating in slices so both
// directions progress (two ranks exchanging more than a ring's size cannot deadlock).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "collectives/frame.h"
#include "collectives/transport.h"
#include "common/process_stats.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RM_CPU_RELAX() _mm_pause()
#else
#define RM_CPU_RELAX() ((void)0)
#endif

namespace ringmaster::collectives {
namespace {


struct ChannelHeader {
  alignas(64) std::atomic<uint64_t> head;  // bytes written, by the sender
  alignas(64) std::atomic<uint64_t> tail;  // bytes consumed, by the receiver
  alignas(64) std::atomic<int32_t> sender_pid;
  std::atomic<int32_t> receiver_pid;
  std::atomic<uint32_t> closed;  // set by either side when it aborts or goes away
  uint64_t capacity;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
constexpr std::size_t kDataOffset = 256;
constexpr std::size_t kSlice = 256 * 1024;  // copy at most this much before turning to the other direction

// One mapped channel.
class Channel {
 public:
  Channel() = default;
  Channel(void* base, std::size_t bytes) : base_(base), bytes_(bytes) {}
  Channel(Channel&& o) noexcept : base_(std::exchange(o.base_, nullptr)), bytes_(o.bytes_) {}
  Channel& operator=(Channel&& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~Channel() {
    if (base_) {
      header().closed.store(1, std::memory_order_release);
      ::munmap(base_, bytes_);
    }
  }
  bool valid() const { return base_ != nullptr; }
  ChannelHeader& header() const { return *static_cast<ChannelHeader*>(base_); }
  std::byte* data() const { return static_cast<std::byte*>(base_) + kDataOffset; }

 private:
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
};

// True when pid no longer runs: gone, or a zombie its parent has not reaped yet.
bool process_gone(int32_t pid) { return !process_start_ticks(pid).has_value(); }

std::string channel_name(const std::string& prefix, int from, int to) { return fmt::format("{}-{}-{}", prefix, from, to); }

class ShmTransport final : public frame::AbortingTransport {
 public:
  ShmTransport(int rank, std::vector<Channel> out, std::vector<Channel> in)
      : rank_(rank), out_(std::move(out)), in_(std::move(in)) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(out_.size()); }
  std::string name() const override { return "shm"; }

 private:
  void close_all() override {
    for (auto& c : out_)
      if (c.valid()) c.header().closed.store(1, std::memory_order_release);
    for (auto& c : in_)
      if (c.valid()) c.header().closed.store(1, std::memory_order_release);
  }

  Status transfer(const CallSignature& sig, int to, std::span<const std::byte> send, int from,
                  std::span<std::byte> recv, const RecvProgress& on_recv, Deadline deadline) override {
    frame::Outgoing out(sig, to, send);
    frame::Incoming in(sig, rank_, from, recv, on_recv);
    Channel* out_ch = to >= 0 ? &out_[static_cast<std::size_t>(to)] : nullptr;
    Channel* in_ch = from >= 0 ? &in_[static_cast<std::size_t>(from)] : nullptr;
    unsigned idle = 0;
    while (!out.done() || !in.done()) {
      bool progress = false;
      if (!out.done()) {
        ChannelHeader& h = out_ch->header();
        const uint64_t head = h.head.load(std::memory_order_relaxed);
        const uint64_t space = h.capacity - (head - h.tail.load(std::memory_order_acquire));
        const std::size_t n = std::min<std::size_t>({space, out.total() - out.sent(), kSlice});
        if (n > 0) {
          std::size_t done = 0;
          while (done < n) {  // the header and the payload are one stream
            std::span<const std::byte> piece = out.header_rest();
            if (piece.empty()) piece = out.payload_rest();
            piece = piece.first(std::min(piece.size(), n - done));
            copy_in(h, out_ch->data(), head + done, piece.data(), piece.size());
            out.advance(piece.size());
            done += piece.size();
          }
          h.head.store(head + n, std::memory_order_release);
          progress = true;
        }
      }
      if (!in.done()) {
        ChannelHeader& h = in_ch->header();
        const uint64_t tail = h.tail.load(std::memory_order_relaxed);
        const uint64_t avail = h.head.load(std::memory_order_acquire) - tail;
        const std::size_t n = std::min<std::size_t>({avail, in.total() - in.got(), kSlice});
        if (n > 0) {
          std::size_t done = 0;
          while (done < n) {
            std::span<std::byte> space = in.space();
            space = space.first(std::min(space.size(), n - done));
            copy_out(h, in_ch->data(), tail + done, space.data(), space.size());
            done += space.size();
            if (Status s = in.received(space.size()); !s) return s;
          }
          h.tail.store(tail + n, std::memory_order_release);
          progress = true;
        }
      }
      if (progress) {
        idle = 0;
        continue;
      }
      // Nothing moved: spin briefly, then yield; now and then check the peers and the deadline.
      if (++idle < 4096) {
        RM_CPU_RELAX();
        continue;
      }
      std::this_thread::yield();
      if (idle % 256 != 0) continue;
      if (!out.done())
        if (auto s = alive(*out_ch, to, sig, "sending"); !s) return s;
      if (!in.done())
        if (auto s = alive(*in_ch, from, sig, "receiving"); !s) return s;
      if (deadline.expired()) return frame::timed_out(rank_, sig, out, to, in, from);
    }
    in.finish();
    return Status::ok();
  }

  static void copy_in(ChannelHeader& h, std::byte* ring, uint64_t at, const std::byte* src, std::size_t n) {
    const std::size_t cap = h.capacity, off = at & (cap - 1), first = std::min(n, cap - off);
    std::memcpy(ring + off, src, first);
    if (first < n) std::memcpy(ring, src + first, n - first);
  }
  static void copy_out(ChannelHeader& h, const std::byte* ring, uint64_t at, std::byte* dst, std::size_t n) {
    const std::size_t cap = h.capacity, off = at & (cap - 1), first = std::min(n, cap - off);
    std::memcpy(dst, ring + off, first);
    if (first < n) std::memcpy(dst + first, ring, n - first);
  }

  Status alive(Channel& c, int peer, const CallSignature& sig, const char* doing) const {
    ChannelHeader& h = c.header();
    const bool incoming = &c != &out_[static_cast<std::size_t>(peer)];
    const int32_t pid = incoming ? h.sender_pid.load() : h.receiver_pid.load();
    // A sender that wrote its last bytes and left is fine as long as those bytes are still to read.
    const bool unread = incoming && h.head.load(std::memory_order_acquire) != h.tail.load(std::memory_order_relaxed);
    if (unread) return Status::ok();
    if (h.closed.load(std::memory_order_acquire))
      return Status(StatusCode::kUnavailable, fmt::format("rank {}: rank {} left the communicator while {} in {}",
                                                          rank_, peer, doing, sig.describe()));
    if (pid > 0 && pid != ::getpid() && process_gone(pid))
      return Status(StatusCode::kUnavailable, fmt::format("rank {}: rank {} (pid {}) died while {} in {}", rank_, peer,
                                                          pid, doing, sig.describe()));
    return Status::ok();
  }

  int rank_;
  std::vector<Channel> out_, in_;  // indexed by peer rank; [rank_] unused
};

Result<Channel> map_segment(int fd, std::size_t bytes, const std::string& name) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return internal_error(fmt::format("mmap of {}: {}", name, std::strerror(errno)));
  return Channel(p, bytes);
}

}  // namespace

std::string host_identity() {
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  struct stat net {}, mnt {};
  ::stat("/proc/self/ns/net", &net);
  ::stat("/proc/self/ns/mnt", &mnt);
  return fmt::format("{}/{}/{}", boot, net.st_ino, mnt.st_ino);
}

Result<std::unique_ptr<Transport>> make_shm_transport(const StoreIdentity& id, const ShmOptions& o, Deadline deadline) {
  const int n = id.world_size, me = id.rank;
  const std::size_t cap = o.channel_bytes;
  if (cap < 4096 || (cap & (cap - 1)) != 0)
    return invalid_argument(fmt::format("shm channel size must be a power of two >= 4096, found {}", cap));
  if (o.name_prefix.empty() || o.name_prefix[0] != '/' || o.name_prefix.find('/', 1) != std::string::npos)
    return invalid_argument(fmt::format("shm name prefix must be \"/name\", found \"{}\"", o.name_prefix));
  const std::size_t bytes = kDataOffset + cap;
  std::vector<Channel> out(static_cast<std::size_t>(n)), in(static_cast<std::size_t>(n));
  // The names go as soon as everyone has mapped them, and on every early return too.
  struct Unlinker {
    std::vector<std::string> names;
    ~Unlinker() {
      for (const auto& name : names) ::shm_unlink(name.c_str());
    }
  } created;
  // Create the incoming channels.
  for (int peer = 0; peer < n; ++peer) {
    if (peer == me) continue;
    const std::string name = channel_name(o.name_prefix, peer, me);
    int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {  // left by a crashed run with the same name: replace it
      ::shm_unlink(name.c_str());
      fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    }
    if (fd < 0) return internal_error(fmt::format("shm_open {}: {}", name, std::strerror(errno)));
    UniqueFd owned(fd);
    created.names.push_back(name);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
      return internal_error(fmt::format("ftruncate {} to {} bytes: {} (is /dev/shm large enough?)", name, bytes,
                                        std::strerror(errno)));
    auto ch = map_segment(fd, bytes, name);
    if (!ch) return ch.status();
    ChannelHeader& h = ch->header();
    h.capacity = cap;
    h.receiver_pid.store(::getpid(), std::memory_order_release);
    in[static_cast<std::size_t>(peer)] = std::move(*ch);
  }
  // Open the outgoing channels (their receivers create them), retrying until they exist.
  for (int peer = 0; peer < n; ++peer) {
    if (peer == me) continue;
    const std::string name = channel_name(o.name_prefix, me, peer);
    for (;;) {
      const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
      if (fd >= 0) {
        UniqueFd owned(fd);
        struct stat st {};
        if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) == bytes) {
          void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
          if (p == MAP_FAILED) return internal_error(fmt::format("mmap of {}: {}", name, std::strerror(errno)));
          auto* h = static_cast<ChannelHeader*>(p);
          if (h->receiver_pid.load(std::memory_order_acquire) != 0) {  // initialized by its receiver
            h->sender_pid.store(::getpid(), std::memory_order_release);
            out[static_cast<std::size_t>(peer)] = Channel(p, bytes);
            break;
          }
          ::munmap(p, bytes);
        }
      }
      if (deadline.expired())
        return Status(StatusCode::kDeadlineExceeded,
                      fmt::format("rank {}: timed out waiting for rank {} to create its shared-memory channel {}", me,
                                  peer, name));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  // Once every sender has mapped our incoming channels, nothing needs the names any more.
  for (int peer = 0; peer < n; ++peer) {
    if (peer == me) continue;
    while (in[static_cast<std::size_t>(peer)].header().sender_pid.load(std::memory_order_acquire) == 0) {
      if (deadline.expired())
        return Status(StatusCode::kDeadlineExceeded,
                      fmt::format("rank {}: timed out waiting for rank {} to attach to shared memory", me, peer));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return std::unique_ptr<Transport>(std::make_unique<ShmTransport>(me, std::move(out), std::move(in)));
}

}  // namespace ringmaster::collectives
