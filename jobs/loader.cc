#include "jobs/loader.h"

#include <yaml-cpp/exceptions.h>

#include <cstdint>
#include <string_view>

#include "common/files.h"
#include "common/strings.h"
#include "jobs/kinds.h"
#include "jobs/load_context.h"
#include "jobs/schema.h"
#include "jobs/yaml_syntax.h"

namespace ringmaster::jobs {

namespace {

// Counts nodes as a reader would see them (aliases expanded) and the nesting depth, stopping at the
// limits, so a billion-laughs document or a 10,000-deep nesting is refused before anything recurses.
struct SizeGuard {
  std::size_t max_nodes, max_depth;
  std::size_t nodes = 0;
  bool too_deep = false;

  bool walk(const YAML::Node& n, std::size_t depth) {
    if (++nodes > max_nodes) return false;
    if (depth > max_depth) {
      too_deep = true;
      return false;
    }
    if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it)
        if (!walk(it->first, depth + 1) || !walk(it->second, depth + 1)) return false;
    } else if (n.IsSequence()) {
      for (auto it = n.begin(); it != n.end(); ++it)
        if (!walk(*it, depth + 1)) return false;
    }
    return true;
  }
};

// Offset of the first byte that is not part of valid UTF-8 (overlong forms, surrogates and code points
// past U+10FFFF are invalid too), or npos. Kubernetes objects are UTF-8 text.
std::size_t invalid_utf8_offset(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

SourcePos pos_at_offset(std::string_view s, std::size_t offset) {
  SourcePos p{1, 1};
  for (std::size_t i = 0; i < offset && i < s.size(); ++i) {
    if (s[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else {
      ++p.column;
    }
  }
  return p;
}

// A known kind to suggest for an unknown apiVersion/kind: only in the same API group, and only when
// the kind's name is the same up to case and a typo (a fifth of its letters, at least one), so
// JAXJob is not "MPIJob?" and kubeflow.org/v1beta2 TFJob is "kubeflow.org/v1 TFJob?".
std::optional<std::string> kind_hint(const std::string& api, const std::string& kind) {
  const auto group = [](const std::string& a) { return a.substr(0, a.find('/')); };
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& [a, k] : known_kinds()) {
    if (group(a) != group(api)) continue;
    const std::size_t d = edit_distance(kind, k);  // compares ignoring case
    if (d > std::max<std::size_t>(1, k.size() / 5)) continue;
    if (!best || d < best_distance) {
      best = a + " " + k;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace

std::optional<Document> load_object(const YAML::Node& node, const std::string& file, const LoadOptions& options,
                                    Diagnostics& diags) {
  SizeGuard guard{options.max_nodes, options.max_depth};
  if (!guard.walk(node, 0)) {
    diags.error(file, pos_of(node), "",
                guard.too_deep ? "expected a document nested at most " + std::to_string(options.max_depth) + " levels deep, found deeper nesting"
                               : "expected at most " + std::to_string(options.max_nodes) +
                                     " YAML nodes (aliases expanded), found more");
    return std::nullopt;
  }
  if (!node.IsMap()) {
    diags.error(file, pos_of(node), "", "expected a Kubernetes object (a mapping with apiVersion and kind), found " + describe(node));
    return std::nullopt;
  }
  LoadContext ctx{file, options, diags, ""};
  auto api = ctx.get_string(node, "apiVersion");
  auto kind = ctx.get_string(node, "kind");
  if (!api || !kind) {
    ctx.error(node, !api ? "apiVersion" : "kind",
              std::string("expected ") + (!api ? "an apiVersion" : "a kind") + ", found none");
    return std::nullopt;
  }
  auto root = root_schema(*api, *kind);
  if (!root) {
    std::vector<std::string> known;
    for (const auto& [a, k] : known_kinds()) known.push_back(a + " " + k);
    std::string found = *api + " " + *kind;
    std::string msg = "expected one of " + join(known, ", ") + "; found " + found;
    if (auto best = kind_hint(*api, *kind)) msg += " (did you mean " + *best + "?)";
    ctx.error(get(node, "kind"), "kind", msg);
    return std::nullopt;
  }
  int errors_before = diags.error_count();
  check_schema(node, *root, "", file, SchemaCheckOptions{options.strict, false}, diags);
  bool schema_ok = diags.error_count() == errors_before;
  Document doc;
  doc.file = file;
  doc.pos = pos_of(node);
  doc.api_version = *api;
  doc.kind = *kind;
  // Defaults are written into a clone as they are decided. Where the schema check already found a value
  // of the wrong shape (a scalar where a mapping belongs), writing there can throw; the clone is then
  // useless anyway, and the schema check has reported the cause. Anywhere else it would be our bug.
  try {
    doc.normalized = YAML::Clone(node);
    YAML::Node meta = doc.normalized["metadata"];
    if (meta.IsMap() && is_null(get(meta, "namespace"))) meta["namespace"] = "default";
    if (*kind == "Experiment") {
      auto exp = load_experiment(ctx, node, doc.normalized, *api);
      if (!exp) return std::nullopt;
      doc.object = std::move(*exp);
    } else if (*kind == "OptimizationJob") {
      auto opt = load_optimization_job(ctx, node, doc.normalized, *api);
      if (!opt) return std::nullopt;
      doc.object = std::move(*opt);
    } else if (*kind == "TrainJob") {
      auto job = load_train_job(ctx, node, doc.normalized, *api);
      if (!job) return std::nullopt;
      doc.object = std::move(*job);
    } else if (*kind == "TrainingRuntime" || *kind == "ClusterTrainingRuntime") {
      auto runtime = load_training_runtime(ctx, node, doc.normalized, *kind);
      if (!runtime) return std::nullopt;
      doc.object = std::move(*runtime);
    } else {
      auto job = load_training_job(ctx, node, doc.normalized, *api, *kind, false);
      if (!job) return std::nullopt;
      doc.object = std::move(*job);
    }
  } catch (const YAML::Exception& e) {
    if (schema_ok) diags.error(file, pos_of(node), "", std::string("internal error while applying defaults: ") + e.what());
    return std::nullopt;
  }
  if (diags.error_count() > errors_before) return std::nullopt;
  return doc;
}

LoadResult load_string(std::string_view text, const std::string& file_name, const LoadOptions& options) {
  LoadResult result;
  if (text.size() > options.max_file_bytes) {
    result.diagnostics.error(file_name, {}, "", "expected at most " + std::to_string(options.max_file_bytes) +
                                                    " bytes, found " + std::to_string(text.size()));
    return result;
  }
  if (text.find('\0') != std::string_view::npos) {
    result.diagnostics.error(file_name, {}, "", "expected YAML text, found binary data (a NUL byte)");
    return result;
  }
  if (auto bad = invalid_utf8_offset(text); bad != std::string_view::npos) {
    result.diagnostics.error(file_name, pos_at_offset(text, bad), "", "expected UTF-8 text, found an invalid byte");
    return result;
  }
  // YAML treats CR LF and a lone CR as line breaks, and so does libyaml; yaml-cpp 0.7 does not take
  // a lone CR as one (found by the fuzzer: "#\rp\n\"\"," is a comment and a plain scalar to
  // libyaml, and yaml-cpp then loops forever on what it reads as `"",`). Both parsers get the text
  // with its line breaks normalized to LF, as the spec normalizes them in scalars anyway.
  std::string normalized;
  if (text.find('\r') != std::string_view::npos) {
    normalized.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '\r') normalized += text[i];
      else if (i + 1 >= text.size() || text[i + 1] != '\n') normalized += '\n';
    }
    text = normalized;
  }
  if (auto syntax = check_yaml_syntax(text, options.max_depth)) {
    result.diagnostics.error(file_name, syntax->pos, "",
                             syntax->too_deep ? syntax->message
                                              : "expected valid YAML, found a syntax error: " + syntax->message);
    return result;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    SourcePos pos = e.mark.is_null() ? SourcePos{} : SourcePos{e.mark.line + 1, e.mark.column + 1};
    result.diagnostics.error(file_name, pos, "", "expected valid YAML, found a syntax error: " + e.msg);
    return result;
  }
  bool any = false;
  for (const auto& node : docs) {
    if (is_null(node)) continue;  // an empty document between two ---
    any = true;
    if (auto doc = load_object(node, file_name, options, result.diagnostics)) result.documents.push_back(std::move(*doc));
  }
  if (!any) result.diagnostics.error(file_name, {}, "", "expected at least one object, found an empty file");
  return result;
}

LoadResult load_file(const std::string& path, const LoadOptions& options) {
  auto text = read_file(path, options.max_file_bytes);
  if (!text) {
    LoadResult result;
    if (text.status().code() == StatusCode::kOutOfRange) {  // bad input, not an unreadable file
      result.diagnostics.error(path, {}, "", "expected at most " + std::to_string(options.max_file_bytes) +
                                                 " bytes (the loader's limit for one file), found more");
      return result;
    }
    result.file_unreadable = true;
    std::string message = text.status().message();
    if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);  // the diagnostic names the file
    result.diagnostics.error(path, {}, "", message);
    return result;
  }
  return load_string(*text, path, options);
}

}  // namespace ringmaster::jobs
