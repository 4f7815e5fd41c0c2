// Elastic membership for data-parallel training (`--elastic MIN:MAX`, issue 25; docs/elastic.md).
//
// The workers of a job meet in generations over a rendezvous Store that outlives any one of them
// (the launcher hosts it; tests use an in-memory one). A generation is a fixed membership with its
// own communicator. It ends when a member fails (the survivors notice it as a failed collective,
// abandon the generation and meet again in the next) or when a worker waits outside it (the
// members see that at a commit point and move to the next generation together).
//
// Store keys, generation g:
//   elastic/generation         the newest generation (a counter: add 0 reads it)
//   elastic/live               workers alive: each holds it from its first join (Store::hold), and
//                              the store lets go when the worker's connection closes
//   elastic/finished           set when a member trained to the end
//   elastic/g<g>/count         workers that arrived (add 1: the arrival order is the rank)
//   elastic/g<g>/id/<slot>     who arrived in that slot
//   elastic/g<g>/world         the members, decided once by the first worker to close the generation
//   elastic/g<g>/late          workers that arrived after it closed and wait for the next
//   elastic/g<g>/next          who opens g+1 (add 1: the first)
//   elastic/g<g>/tcp/<rank>    the members' addresses for the communicator
// A generation closes when MAX workers arrived, or when at least MIN did and they are every worker
// alive (not generation 0, while the job's workers are still starting), or (a live worker that hangs and does not come) at least MIN and no one else arrived for
// `settle`. Below MIN for `wait_for_min`, joining fails (kFailedPrecondition) naming who is
// missing. A lost member shows as kUnavailable or kDeadlineExceeded from a collective (or from
// connecting a generation): is_membership_failure() says which errors mean "meet again".
//
// One thread drives an ElasticGroup.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "collectives/store.h"
#include "common/status.h"

namespace ringmaster::worker {

struct ElasticOptions {
  int min_workers = 1;
  int max_workers = 1;
  std::chrono::milliseconds settle{300};  // quiet time before a generation closes above MIN without a live worker
  std::chrono::milliseconds wait_for_min{60'000};   // how long a generation may stay below MIN
  std::chrono::milliseconds poll{10};                // store polling while waiting
  std::string bind_host = "127.0.0.1";               // where this worker listens for its peers
  collectives::CommunicatorOptions communicator;     // per-call timeout: how soon a hung peer is noticed
  std::string token, job = "ringmaster";             // the job's identity on the store and the mesh
};

// Whether `s` is a member lost (a failed collective or connection), after which the others meet
// again, rather than an error of the training itself.
inline bool is_membership_failure(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

// "MIN:MAX" or "N" (MIN = MAX = N); kInvalidArgument naming --elastic otherwise.
Result<std::pair<int, int>> parse_elastic_range(std::string_view text);

// Who is in the group now, as the store says: the newest generation and its members by rank
// (forming: it has not closed yet, and these are the workers that arrived so far).
struct Membership {
  int generation = -1;
  bool forming = false;
  std::vector<std::string> members;
};
Result<Membership> read_membership(collectives::Store& store);

class ElasticGroup {
 public:
  // `id` names this worker in messages and in the store (a host name and pid, a pod name).
  ElasticGroup(collectives::Store& store, std::string id, ElasticOptions options);
  ~ElasticGroup();

  // Joins the next generation after the last one this worker was in, waits for it to close and
  // connects its members. The communicator is valid until the next join() or abandon().
  Result<collectives::Communicator*> join();
  // Leaves the current generation after a failure: closes the communicator (so members blocked in
  // a collective with this worker fail at once) and makes sure a next generation is opened.
  void abandon();
  // At a commit point, collectively: whether a worker waits outside the generation (then every
  // member should abandon and join again). Fails as a collective fails.
  Result<bool> joiner_waiting();

  // The group trained to the end (a member says so when it has): a worker still waiting to join
  // stops waiting (join() fails with kAborted) and group_finished() is true.
  void mark_finished();
  bool group_finished() const;

  int generation() const { return generation_; }
  const ElasticOptions& options() const { return options_; }
  const std::vector<std::string>& members() const { return members_; }  // by rank

 private:
  Result<int64_t> open_next();
  Result<int> open_generation();
  Result<int64_t> settle(int g, int64_t slot);
  Status wait_for_generation_after(int g);
  std::string key(int g, const std::string& what) const;

  collectives::Store& store_;
  std::string id_;
  ElasticOptions options_;
  int generation_ = -1;  // the last one joined
  std::vector<std::string> members_;
  std::unique_ptr<collectives::Communicator> comm_;
  std::unique_ptr<collectives::Store::Hold> alive_;  // counts this worker in elastic/live from its first join
};

}  // namespace ringmaster::worker
