// How a server command ends (`ringmaster ps`, `rendezvous`, `dashboard`): SIGTERM (the launcher's
// stop, a pod's deletion) or SIGINT (Ctrl-C), blocked before the server starts its threads (which
// inherit the mask) and then waited for, so that no thread of the server is interrupted by them.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace ringmaster {

class StopSignals {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread: construct it before starting the server.
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  // Waits for one of them and returns it.
  int wait() {
    int got = 0;
    sigwait(&set_, &got);
    return got;
  }
  static const char* name(int signal) { return signal == SIGTERM ? "SIGTERM" : "SIGINT"; }

 private:
  sigset_t set_;
};

}  // namespace ringmaster
