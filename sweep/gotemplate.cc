#include "sweep/gotemplate.h"

#include <fmt/format.h>

#include <cctype>
#include <memory>

namespace ringmaster::sweep {
namespace {

struct Node {
  enum class Kind { kText, kPrint, kRange, kWith, kIf };
  Kind kind = Kind::kText;
  std::string text;  // kText: the text; otherwise the field path ("." or ".A.B")
  int line = 1, column = 1;
  std::vector<Node> body, otherwise;
};

struct Token {
  bool action = false;
  std::string text;
  int line = 1, column = 1;
};

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Result<std::vector<Token>> tokenize(const std::string& s) {
  std::vector<Token> out;
  std::size_t at = 0;
  int line = 1, column = 1;
  auto advance = [&](std::size_t to) {
    for (; at < to; ++at) {
      if (s[at] == '\n') ++line, column = 1;
      else ++column;
    }
  };
  bool trim_next = false;
  while (at < s.size()) {
    const std::size_t open = s.find("{{", at);
    Token text{false, s.substr(at, open == std::string::npos ? std::string::npos : open - at), line, column};
    if (trim_next) {
      std::size_t k = 0;
      while (k < text.text.size() && space(text.text[k])) ++k;
      text.text.erase(0, k);
    }
    advance(open == std::string::npos ? s.size() : open);
    if (open == std::string::npos) {
      out.push_back(std::move(text));
      break;
    }
    const std::size_t close = s.find("}}", open + 2);
    if (close == std::string::npos)
      return invalid_argument(fmt::format("line {} column {}: \"{{{{\" without \"}}}}\"", line, column));
    std::string inner = s.substr(open + 2, close - open - 2);
    if (inner.size() >= 2 && inner[0] == '-' && space(inner[1])) {
      while (!text.text.empty() && space(text.text.back())) text.text.pop_back();
      inner.erase(0, 1);
    }
    trim_next = inner.size() >= 2 && inner.back() == '-' && space(inner[inner.size() - 2]);
    if (trim_next) inner.pop_back();
    out.push_back(std::move(text));
    std::size_t b = 0, e = inner.size();
    while (b < e && space(inner[b])) ++b;
    while (e > b && space(inner[e - 1])) --e;
    out.push_back({true, inner.substr(b, e - b), line, column});
    advance(close + 2);
  }
  return out;
}

bool field_path(const std::string& p) {
  if (p == ".") return true;
  if (p.empty() || p[0] != '.' || p.back() == '.') return false;
  for (std::size_t i = 1; i < p.size(); ++i)
    if (!(std::isalnum(static_cast<unsigned char>(p[i])) || p[i] == '_' || (p[i] == '.' && p[i - 1] != '.'))) return false;
  return true;
}

Status error_at(const Token& t, const std::string& what) {
  return invalid_argument(fmt::format("line {} column {}: {}", t.line, t.column, what));
}

// Parses tokens from `at` into `out` until {{end}} or {{else}} (returned in `stop`) or the end.
Status parse(const std::vector<Token>& tokens, std::size_t& at, std::vector<Node>& out, std::string& stop) {
  while (at < tokens.size()) {
    const Token& t = tokens[at++];
    if (!t.action) {
      if (!t.text.empty()) out.push_back({Node::Kind::kText, t.text, t.line, t.column, {}, {}});
      continue;
    }
    if (t.text.rfind("/*", 0) == 0) continue;  // a comment
    if (t.text == "end" || t.text == "else") {
      stop = t.text;
      return Status::ok();
    }
    const auto blank = t.text.find(' ');
    const std::string word = t.text.substr(0, blank);
    if (word == "range" || word == "with" || word == "if") {
      std::string arg = blank == std::string::npos ? "" : t.text.substr(blank + 1);
      while (!arg.empty() && space(arg.front())) arg.erase(0, 1);
      if (!field_path(arg))
        return error_at(t, fmt::format("{{{{{}}}}}: expected a field such as .HyperParameters, found \"{}\"", word, arg));
      Node n{word == "range" ? Node::Kind::kRange : word == "with" ? Node::Kind::kWith : Node::Kind::kIf, arg, t.line, t.column, {}, {}};
      std::string end;
      if (Status s = parse(tokens, at, n.body, end); !s) return s;
      if (end == "else") {
        end.clear();
        if (Status s = parse(tokens, at, n.otherwise, end); !s) return s;
      }
      if (end != "end") return error_at(t, fmt::format("{{{{{}}}}} without {{{{end}}}}", t.text));
      out.push_back(std::move(n));
      continue;
    }
    if (!field_path(t.text))
      return error_at(t, fmt::format("expected a field ({{{{.Trial}}}}, {{{{.Experiment}}}}, {{{{.NameSpace}}}}, "
                                     "{{{{.HyperParameters}}}} or, in a range, {{{{.Name}}}} and {{{{.Value}}}}), "
                                     "range, with, if, else or end, found {{{{{}}}}}",
                                     t.text));
    out.push_back({Node::Kind::kPrint, t.text, t.line, t.column, {}, {}});
  }
  return Status::ok();
}

Result<const TemplateValue*> lookup(const Node& n, const TemplateValue& dot) {
  const TemplateValue* v = &dot;
  if (n.text == ".") return v;
  std::size_t at = 1;
  while (at <= n.text.size()) {
    const std::size_t end = std::min(n.text.find('.', at), n.text.size());
    const std::string name = n.text.substr(at, end - at);
    const auto it = v->is_map ? v->fields.find(name) : v->fields.end();
    if (!v->is_map || it == v->fields.end()) {
      std::string known;
      for (const auto& [k, _] : v->fields) known += (known.empty() ? "." : ", .") + k;
      return invalid_argument(fmt::format("line {} column {}: {{{{{}}}}}: no field {} here{}", n.line, n.column, n.text,
                                          name, known.empty() ? "" : " (there are " + known + ")"));
    }
    v = &it->second;
    at = end + 1;
  }
  return v;
}

bool truthy(const TemplateValue& v) { return v.is_list ? !v.list.empty() : v.is_map ? !v.fields.empty() : !v.text.empty(); }

Status execute(const std::vector<Node>& nodes, const TemplateValue& dot, std::string& out) {
  for (const Node& n : nodes) {
    if (n.kind == Node::Kind::kText) {
      out += n.text;
      continue;
    }
    auto v = lookup(n, dot);
    if (!v) return v.status();
    const TemplateValue& value = **v;
    switch (n.kind) {
      case Node::Kind::kPrint:
        if (value.is_list || value.is_map)
          return invalid_argument(fmt::format("line {} column {}: {{{{{}}}}} is a {}, not a value: use range", n.line,
                                              n.column, n.text, value.is_list ? "list" : "map"));
        out += value.text;
        break;
      case Node::Kind::kRange:
        if (!value.is_list)
          return invalid_argument(fmt::format("line {} column {}: range {}: expected a list", n.line, n.column, n.text));
        if (value.list.empty()) {
          if (Status s = execute(n.otherwise, dot, out); !s) return s;
        }
        for (const TemplateValue& item : value.list)
          if (Status s = execute(n.body, item, out); !s) return s;
        break;
      case Node::Kind::kWith:
      case Node::Kind::kIf:
        if (Status s = execute(truthy(value) ? n.body : n.otherwise, truthy(value) && n.kind == Node::Kind::kWith ? value : dot, out); !s)
          return s;
        break;
      case Node::Kind::kText: break;
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::string> render_go_template(const std::string& text, const TemplateValue& data) {
  auto tokens = tokenize(text);
  if (!tokens) return tokens.status();
  std::vector<Node> nodes;
  std::size_t at = 0;
  std::string stop;
  if (Status s = parse(*tokens, at, nodes, stop); !s) return s;
  if (!stop.empty()) return error_at((*tokens)[at - 1], fmt::format("{{{{{}}}}} without a range, with or if", stop));
  std::string out;
  if (Status s = execute(nodes, data, out); !s) return s;
  return out;
}

}  // namespace ringmaster::sweep
