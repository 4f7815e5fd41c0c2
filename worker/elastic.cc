#include "worker/elastic.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "collectives/transport.h"
#include "common/deadline.h"
#include "common/strings.h"

namespace ringmaster::worker {

using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr const char* kGenerationKey = "elastic/generation";  // the newest generation
constexpr const char* kLiveKey = "elastic/live";              // workers alive (Store::hold)
// The store's key for `what` of generation g (the layout is in elastic.h).
std::string generation_key(int64_t g, std::string_view what) { return fmt::format("elastic/g{}/{}", g, what); }
}  // namespace

Result<std::pair<int, int>> parse_elastic_range(std::string_view text) {
  if (auto range = parse_min_max(text)) return *range;
  return invalid_argument(
      fmt::format("--elastic: expected MIN:MAX with 1 <= MIN <= MAX (or one count), found \"{}\"", text));
}

Result<Membership> read_membership(collectives::Store& store) {
  Membership m;
  auto g = store.add(kGenerationKey, 0);
  if (!g) return g.status();
  m.generation = static_cast<int>(*g);
  const auto now = Deadline::after(std::chrono::milliseconds(0));
  auto world = store.get(generation_key(*g, "world"), now);
  int64_t size = world ? parse_int<int64_t>(*world).value_or(0) : 0;
  if (!world) {
    m.forming = true;
    auto count = store.add(generation_key(*g, "count"), 0);
    if (!count) return count.status();
    size = *count;
  }
  for (int64_t r = 0; r < size; ++r)
    if (auto id = store.get(generation_key(*g, fmt::format("id/{}", r)), now)) m.members.push_back(*id);
  return m;
}

ElasticGroup::ElasticGroup(collectives::Store& store, std::string id, ElasticOptions options)
    : store_(store), id_(std::move(id)), options_(std::move(options)) {}

ElasticGroup::~ElasticGroup() = default;

std::string ElasticGroup::key(int g, const std::string& what) const { return generation_key(g, what); }

// Opens generation_ + 1 unless a newer one exists: the first worker to claim "next" moves the
// counter. Returns the newest generation then (still generation_ while another worker opens it).
Result<int64_t> ElasticGroup::open_next() {
  auto newest = store_.add(kGenerationKey, 0);
  if (!newest || *newest > generation_) return newest;
  auto first = store_.add(key(generation_, "next"), 1);
  if (!first) return first.status();
  if (*first != 1) return newest;
  return store_.add(kGenerationKey, 1);
}

// The generation to join: the newest, or (when this worker was in the newest) the next one.
Result<int> ElasticGroup::open_generation() {
  auto newest = open_next();
  if (!newest) return newest.status().with_context("reading the elastic generation");
  if (*newest > generation_) return static_cast<int>(*newest);
  if (Status s = wait_for_generation_after(generation_); !s) return s;
  newest = store_.add(kGenerationKey, 0);
  if (!newest) return newest.status();
  return static_cast<int>(*newest);
}

// Waits until generation g closes and returns its size: MAX arrivals, or MIN and every live worker
// (elastic/live), or MIN and `settle` without a new one (a live worker that does not come: hung).
// Generation 0 does not count live workers: the job's workers are still starting and connecting.
// The first worker to see it closable writes the size; every worker reads that one.
Result<int64_t> ElasticGroup::settle(int g, int64_t slot) {
  const auto start = SteadyClock::now();
  int64_t last_count = -1;
  auto last_change = start;
  for (;;) {
    if (auto world = store_.get(key(g, "world"), Deadline::after(options_.poll)))
      return parse_int<int64_t>(*world).value_or(0);
    auto count = store_.add(key(g, "count"), 0);
    if (!count) return count.status();
    const auto now = SteadyClock::now();
    if (*count != last_count) last_count = *count, last_change = now;
    bool closable = *count >= options_.max_workers ||
                    (*count >= options_.min_workers && now - last_change >= options_.settle);
    if (!closable && g > 0 && *count >= options_.min_workers) {  // every live worker here?
      auto live = store_.add(kLiveKey, 0);
      if (!live) return live.status();
      closable = *count >= *live;
    }
    if (closable) {
      auto closer = store_.add(key(g, "closer"), 1);
      if (!closer) return closer.status();
      if (*closer == 1)
        if (Status s = store_.set(key(g, "world"), std::to_string(std::min<int64_t>(*count, options_.max_workers))); !s)
          return s;
      continue;
    }
    if (*count < options_.min_workers && now - start >= options_.wait_for_min) {
      std::vector<std::string> missing;
      for (const auto& m : members_)
        if (m != id_) missing.push_back(m);
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("elastic generation {}: {} of at least {} workers after {} s{}", g, *count,
                                options_.min_workers, options_.wait_for_min.count() / 1000,
                                missing.empty() ? std::string()
                                                : fmt::format("; missing from the last generation: {} (this "
                                                              "worker was slot {})",
                                                              fmt::join(missing, ", "), slot)));
    }
  }
}

Result<collectives::Communicator*> ElasticGroup::join() {
  comm_.reset();
  if (!alive_) {
    auto held = store_.hold(kLiveKey);
    if (!held) return held.status().with_context("elastic: counting this worker in");
    alive_ = std::move(*held);
  }
  for (;;) {
    auto g = open_generation();
    if (!g) return g.status();
    auto arrived = store_.add(key(*g, "count"), 1);
    if (!arrived) return arrived.status();
    const int64_t slot = *arrived - 1;
    if (Status s = store_.set(key(*g, fmt::format("id/{}", slot)), id_); !s) return s;
    auto world = settle(*g, slot);
    if (!world) return world.status();
    generation_ = *g;
    if (slot >= *world) {
      // Late for this one: its members open the next at their next commit point (joiner_waiting).
      if (auto late = store_.add(key(*g, "late"), 1); !late) return late.status();
      spdlog::info("elastic: {} waits for the generation after {} ({} members)", id_, *g, *world);
      if (Status s = wait_for_generation_after(*g); !s) return s;
      continue;
    }
    const Deadline deadline = Deadline::after(options_.communicator.timeout);
    members_.clear();
    for (int64_t r = 0; r < *world; ++r) {
      auto who = store_.get(key(*g, fmt::format("id/{}", r)), deadline);
      if (!who) return who.status();
      members_.push_back(*who);
    }
    const int rank = static_cast<int>(slot), size = static_cast<int>(*world);
    collectives::StoreIdentity identity{options_.token, options_.job, size, rank};
    collectives::TcpOptions tcp{options_.bind_host, "", key(*g, "tcp")};
    auto transport = collectives::make_tcp_transport(store_, identity, tcp, deadline);
    if (!transport) return transport.status().with_context(fmt::format("elastic generation {}: connecting", *g));
    comm_ = collectives::make_communicator(std::move(*transport), options_.communicator);
    return comm_.get();
  }
}

void ElasticGroup::mark_finished() {
  if (Status s = store_.set("elastic/finished", "1"); !s) spdlog::warn("elastic: {}", s.message());
}

bool ElasticGroup::group_finished() const {
  return store_.get("elastic/finished", Deadline::after(std::chrono::milliseconds(0))).is_ok();
}

Status ElasticGroup::wait_for_generation_after(int g) {
  const Deadline deadline = Deadline::after(options_.wait_for_min);
  for (;;) {
    if (group_finished())
      return Status(StatusCode::kAborted, fmt::format("elastic: the group finished training before {} could join", id_));
    auto newest = store_.add(kGenerationKey, 0);
    if (!newest) return newest.status();
    if (*newest > g) return Status::ok();
    if (deadline.expired())
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("elastic: {} waited {} s for the members of generation {} to take it in", id_,
                                options_.wait_for_min.count() / 1000, g));
    std::this_thread::sleep_for(options_.poll);
  }
}

void ElasticGroup::abandon() {
  comm_.reset();
  // Opens the next generation now, so members that are not yet in a collective with this worker
  // find it without waiting for their own failure.
  // Best effort: a store that cannot be reached now fails the join() that follows, with its reason.
  if (auto opened = open_next(); !opened)
    spdlog::warn("elastic: opening generation {}: {}", generation_ + 1, opened.status().message());
}

Result<bool> ElasticGroup::joiner_waiting() {
  auto late = store_.add(key(generation_, "late"), 0);
  if (!late) return late.status();
  int64_t any = *late;
  if (Status s = comm_->allreduce(&any, &any, 1, collectives::DataType::kInt64, collectives::ReduceOp::kMax); !s)
    return s;
  return any > 0;
}

}  // namespace ringmaster::worker
