#include "jobs/schema.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/strings.h"
#include "jobs/yaml_util.h"

namespace ringmaster::jobs {

namespace {

enum class TypeKind { kAny, kObject, kMap, kArray, kString, kInteger, kNumber, kBoolean, kIntOrString, kQuantity };

struct FieldRow {
  std::string_view name;
  int type;
  bool required;
};
struct TypeRow {
  TypeKind kind;
  bool open;  // object that also allows unknown fields (x-kubernetes-preserve-unknown-fields)
  int elem;   // element type of a Map or Array
  int first_field, num_fields;
  int first_enum, num_enums;
};
struct RootRow {
  std::string_view api_version, kind;
  int type;
};

#include "jobs/schema_table.inc"

constexpr int kNumTypes = static_cast<int>(sizeof(kTypeRows) / sizeof(kTypeRows[0]));

bool has_placeholder(const YAML::Node& node) {
  if (!node.IsScalar()) return false;
  const std::string& s = node.Scalar();
  return s.find("${") != std::string::npos || s.find("{{") != std::string::npos;
}

class Checker {
 public:
  Checker(const std::string& file, const SchemaCheckOptions& options, Diagnostics& diags)
      : file_(file), options_(options), diags_(diags) {}

  void check(const YAML::Node& node, int type, const std::string& path) {
    if (type < 0 || type >= kNumTypes) return;
    const TypeRow& t = kTypeRows[type];
    // A null value means "unset", as the API server treats `field: null`.
    if (t.kind == TypeKind::kAny || is_null(node)) return;
    if (options_.allow_placeholders && has_placeholder(node)) return;
    switch (t.kind) {
      case TypeKind::kObject: check_object(node, t, path); return;
      case TypeKind::kMap:
        if (!node.IsMap()) return mismatch(node, path, "a mapping");
        check_duplicates(node, path);
        for (auto it = node.begin(); it != node.end(); ++it) {
          check(it->second, t.elem, child_path(path, it->first.Scalar()));
        }
        return;
      case TypeKind::kArray: {
        if (!node.IsSequence()) return mismatch(node, path, "a list");
        std::size_t i = 0;
        for (auto it = node.begin(); it != node.end(); ++it, ++i) check(*it, t.elem, index_path(path, i));
        return;
      }
      case TypeKind::kString:
        if (!node.IsScalar() || scalar_type(node) != ScalarType::kString) {
          if (node.IsScalar()) {
            return mismatch(node, path, "a string", " (quote the value: \"" + node.Scalar() + "\")");
          }
          return mismatch(node, path, "a string");
        }
        if (t.num_enums > 0) check_enum(node, t, path);
        return;
      case TypeKind::kInteger:
        if (!as_int(node)) {
          if (node.IsScalar() && scalar_type(node) == ScalarType::kInt)
            return mismatch(node, path, "an integer that fits in 64 bits");
          return mismatch(node, path, "an integer");
        }
        return;
      case TypeKind::kNumber:
        if (!node.IsScalar() || !as_number(node)) return mismatch(node, path, "a number");
        return;
      case TypeKind::kBoolean:
        if (!as_bool(node)) return mismatch(node, path, "true or false");
        return;
      case TypeKind::kIntOrString:
        if (!node.IsScalar() || (scalar_type(node) != ScalarType::kString && scalar_type(node) != ScalarType::kInt))
          return mismatch(node, path, "an integer or a string");
        return;
      case TypeKind::kQuantity:
        if (!node.IsScalar() || scalar_type(node) == ScalarType::kBool)
          return mismatch(node, path, "a quantity such as 1, 500m or 2Gi");
        return;
      case TypeKind::kAny: return;
    }
  }

 private:
  void mismatch(const YAML::Node& node, const std::string& path, const std::string& expected,
                const std::string& hint = "") {
    diags_.error(file_, pos_of(node), path, "expected " + expected + ", found " + describe(node) + hint);
  }

  void check_enum(const YAML::Node& node, const TypeRow& t, const std::string& path) {
    std::vector<std::string_view> values(kEnumRows + t.first_enum, kEnumRows + t.first_enum + t.num_enums);
    if (std::find(values.begin(), values.end(), node.Scalar()) != values.end()) return;
    diags_.error(file_, pos_of(node), path,
                 "expected one of " + join(values, ", ") + ", found " + quote(node.Scalar()));
  }

  void check_duplicates(const YAML::Node& node, const std::string& path) {
    std::map<std::string, SourcePos> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        diags_.error(file_, pos_of(it->first), path, "expected a string key, found " + describe(it->first));
        continue;
      }
      auto [where, fresh] = seen.emplace(it->first.Scalar(), pos_of(it->first));
      if (!fresh) {
        diags_.error(file_, pos_of(it->first), child_path(path, it->first.Scalar()),
                     "duplicate key (first defined at line " + std::to_string(where->second.line) + ")");
      }
    }
  }

  void check_object(const YAML::Node& node, const TypeRow& t, const std::string& path) {
    if (!node.IsMap()) return mismatch(node, path, "a mapping");
    check_duplicates(node, path);
    const FieldRow* begin = kFieldRows + t.first_field;
    const FieldRow* end = begin + t.num_fields;
    std::set<std::string_view> present;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      const FieldRow* f = std::find_if(begin, end, [&](const FieldRow& r) { return r.name == key; });
      if (f == end) {
        if (t.open) continue;
        report_unknown(it->first, begin, end, path);
        continue;
      }
      if (!is_null(it->second)) present.insert(f->name);
      check(it->second, f->type, child_path(path, key));
    }
    for (const FieldRow* f = begin; f != end; ++f) {
      if (f->required && !present.count(f->name)) {
        diags_.error(file_, pos_of(node), child_path(path, std::string(f->name)), "required field is missing");
      }
    }
  }

  void report_unknown(const YAML::Node& key, const FieldRow* begin, const FieldRow* end, const std::string& path) {
    std::vector<std::string_view> names;
    for (const FieldRow* f = begin; f != end; ++f) names.push_back(f->name);
    std::string msg = "unknown field " + quote(key.Scalar());
    if (auto best = closest_match(key.Scalar(), names)) {
      msg += ", did you mean " + quote(*best) + "?";
    } else {
      msg += "; known fields: " + join(names, ", ");
    }
    std::string field_path = child_path(path, key.Scalar());
    if (options_.unknown_fields_are_errors) {
      diags_.error(file_, pos_of(key), field_path, msg);
    } else {
      diags_.warning(file_, pos_of(key), field_path, msg);
    }
  }

  const std::string& file_;
  const SchemaCheckOptions& options_;
  Diagnostics& diags_;
};

}  // namespace

std::optional<SchemaType> root_schema(std::string_view api_version, std::string_view kind) {
  for (const RootRow& r : kRootRows)
    if (r.api_version == api_version && r.kind == kind) return r.type;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> known_kinds() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const RootRow& r : kRootRows) out.emplace_back(r.api_version, r.kind);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<SchemaType> field_schema(SchemaType object, std::string_view field) {
  if (object < 0 || object >= kNumTypes) return std::nullopt;
  const TypeRow& t = kTypeRows[object];
  for (int i = 0; i < t.num_fields; ++i)
    if (kFieldRows[t.first_field + i].name == field) return kFieldRows[t.first_field + i].type;
  return std::nullopt;
}

void check_schema(const YAML::Node& node, SchemaType type, const std::string& path, const std::string& file,
                  const SchemaCheckOptions& options, Diagnostics& diags) {
  Checker(file, options, diags).check(node, type, path);
}

}  // namespace ringmaster::jobs
