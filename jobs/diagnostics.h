// Diagnostics: the errors and warnings found in a job file, each naming the file, line and column,
// the field path (spec.mpiReplicaSpecs.Launcher.replicas) and what was expected and found.
// A loader collects every problem of a file before it reports, so a user fixes them in one pass.
// Not thread-safe; one Diagnostics per load.
#pragma once

#include <string>
#include <vector>

namespace ringmaster::jobs {

struct SourcePos {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  SourcePos pos;
  std::string path;     // field path; empty for file-level problems
  std::string message;  // "expected 1, found 2"

  // "job.yaml:14:7: error: spec.mpiReplicaSpecs.Launcher.replicas: expected 1, found 2"
  std::string to_string() const;
};

class Diagnostics {
 public:
  void error(const std::string& file, SourcePos pos, std::string path, std::string message);
  void warning(const std::string& file, SourcePos pos, std::string path, std::string message);

  bool has_errors() const { return errors_ > 0; }
  int error_count() const { return errors_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  // Items in file/line/column order (the order in which a person reads the file).
  std::vector<Diagnostic> sorted() const;

 private:
  std::vector<Diagnostic> items_;
  int errors_ = 0;
};

}  // namespace ringmaster::jobs
