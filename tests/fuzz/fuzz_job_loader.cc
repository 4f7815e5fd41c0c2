// libFuzzer target for the job loader: any bytes in, diagnostics out; never a crash, a hang, an
// uncaught exception or unbounded memory. Build and run with `make fuzz` (clang's -fsanitize=fuzzer).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jobs/emit.h"
#include "jobs/loader.h"
#include "jobs/trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ringmaster::jobs::LoadResult r = ringmaster::jobs::load_string(text, "fuzz.yaml");
  for (const auto& d : r.diagnostics.items()) {
    // The loader turns a defaulting exception into this message only where no schema error explains it.
    if (d.message.rfind("internal error while applying defaults: ", 0) == 0) __builtin_trap();
  }
  std::vector<std::string> problems;
  const auto runtimes = ringmaster::jobs::collect_runtimes(r.documents, {}, problems);
  for (const auto& doc : r.documents) {
    (void)ringmaster::jobs::to_yaml(doc.normalized);
    (void)ringmaster::jobs::to_json(doc.normalized).dump();
    // A TrainJob that loaded resolves to a JobSet, and that to a local job, or says why: no throw.
    if (const auto* tj = std::get_if<ringmaster::jobs::TrainJob>(&doc.object)) {
      if (auto resolved = ringmaster::jobs::resolve_trainjob(*tj, runtimes))
        (void)ringmaster::jobs::trainjob_as_job(*tj, *resolved);
    }
  }
  return 0;
}
