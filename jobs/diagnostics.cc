#include "jobs/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace ringmaster::jobs {

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void Diagnostics::error(const std::string& file, SourcePos pos, std::string path, std::string message) {
  items_.push_back({Severity::kError, file, pos, std::move(path), std::move(message)});
  ++errors_;
}

void Diagnostics::warning(const std::string& file, SourcePos pos, std::string path, std::string message) {
  items_.push_back({Severity::kWarning, file, pos, std::move(path), std::move(message)});
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.pos.line, a.pos.column) < std::tie(b.file, b.pos.line, b.pos.column);
  });
  return out;
}

}  // namespace ringmaster::jobs
