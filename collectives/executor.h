// SerialExecutor: runs submitted tasks one after another, in submission order, on its own thread
// (started on first use). The communicators use it for asynchronous collectives, which must run in
// the same order on every rank. submit() is thread-safe. The destructor runs what is queued, then
// joins, unless abandon() was called (a task is stuck in a library call that cannot be
// interrupted; the thread is detached and the process is expected to exit).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "common/status.h"

namespace ringmaster::collectives {

class SerialExecutor {
 public:
  SerialExecutor() = default;
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;
  ~SerialExecutor() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      if (abandoned_) thread_.detach();
      else thread_.join();
    }
  }

  std::shared_future<Status> submit(std::function<Status()> fn) {
    std::packaged_task<Status()> task(std::move(fn));
    auto future = task.get_future().share();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_all();
    return future;
  }
  bool started() const {
    std::lock_guard lock(mutex_);
    return thread_.joinable();
  }
  void abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
  }

 private:
  void loop() {
    for (;;) {
      std::packaged_task<Status()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<Status()>> queue_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;                           // GUARDED_BY(mutex_)
  bool abandoned_ = false;                          // GUARDED_BY(mutex_)
  std::thread thread_;                              // GUARDED_BY(mutex_) for start
};

}  // namespace ringmaster::collectives
