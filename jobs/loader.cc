#include "jobs/loader.h"

#include <yaml-cpp/exceptions.h>

#include <string_view>

#include "common/files.h"
#include "common/strings.h"
#include "jobs/kinds.h"
#include "jobs/load_context.h"
#include "jobs/schema.h"

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
    std::vector<std::string_view> kinds;
    for (const auto& [a, k] : known_kinds()) known.push_back(a + " " + k);
    for (const auto& s : known) kinds.push_back(s);
    std::string found = *api + " " + *kind;
    std::string msg = "expected one of " + join(known, ", ") + "; found " + found;
    if (auto best = closest_match(found, kinds)) msg += " (did you mean " + *best + "?)";
    ctx.error(get(node, "kind"), "kind", msg);
    return std::nullopt;
  }
  int errors_before = diags.error_count();
  check_schema(node, *root, "", file, SchemaCheckOptions{options.strict, false}, diags);
  Document doc;
  doc.file = file;
  doc.pos = pos_of(node);
  doc.api_version = *api;
  doc.kind = *kind;
  doc.normalized = YAML::Clone(node);
  if (!doc.normalized["metadata"]["namespace"].IsDefined() || is_null(doc.normalized["metadata"]["namespace"])) {
    doc.normalized["metadata"]["namespace"] = "default";
  }
  if (*kind == "Experiment") {
    auto exp = load_experiment(ctx, node, doc.normalized, *api);
    if (!exp) return std::nullopt;
    doc.object = std::move(*exp);
  } else {
    auto job = load_training_job(ctx, node, doc.normalized, *api, *kind, false);
    if (!job) return std::nullopt;
    doc.object = std::move(*job);
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
    result.file_unreadable = true;
    result.diagnostics.error(path, {}, "", text.status().message());
    return result;
  }
  return load_string(*text, path, options);
}

}  // namespace ringmaster::jobs
