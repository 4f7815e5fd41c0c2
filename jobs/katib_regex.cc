#include "jobs/katib_regex.h"

#include <re2/re2.h>

namespace ringmaster::jobs {
namespace {

// Go's regexp/syntax error texts (syntax.ErrorCode) for RE2's codes.
const char* go_error_text(RE2::ErrorCode code) {
  switch (code) {
    case RE2::ErrorBadEscape: return "invalid escape sequence";
    case RE2::ErrorBadCharClass: return "invalid character class";
    case RE2::ErrorBadCharRange: return "invalid character class range";
    case RE2::ErrorMissingBracket: return "missing closing ]";
    case RE2::ErrorMissingParen: return "missing closing )";
    case RE2::ErrorUnexpectedParen: return "unexpected )";
    case RE2::ErrorTrailingBackslash: return "trailing backslash at end of expression";
    case RE2::ErrorRepeatArgument: return "missing argument to repetition operator";
    case RE2::ErrorRepeatSize: return "invalid repeat count";
    case RE2::ErrorRepeatOp: return "invalid nested repetition operator";
    case RE2::ErrorBadPerlOp: return "invalid or unsupported Perl syntax";
    case RE2::ErrorBadUTF8: return "invalid UTF-8";
    case RE2::ErrorBadNamedCapture: return "invalid named capture";
    case RE2::ErrorPatternTooLarge: return "expression too large";
    default: return "invalid regular expression";
  }
}

}  // namespace

Result<MetricsRegex> MetricsRegex::compile(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(pattern, options);
  if (!re->ok()) {
    const std::string& arg = re->error_arg();
    // Go names the offending part (the whole expression for a missing parenthesis); where it is a
    // part, where it starts as well.
    const auto at = arg.empty() || arg == pattern ? std::string::npos : pattern.find(arg);
    std::string message = std::string("error parsing regexp: ") + go_error_text(re->error_code()) + ": `" + arg + "`";
    if (at != std::string::npos) message += " (at character " + std::to_string(at + 1) + ")";
    return invalid_argument(message);
  }
  if (re->NumberOfCapturingGroups() < 2)
    return invalid_argument("it has " + std::to_string(re->NumberOfCapturingGroups()) +
                            " capture group(s), where two (name and value) are needed");
  MetricsRegex r;
  r.re_ = std::move(re);
  return r;
}

std::vector<std::pair<std::string_view, std::string_view>> MetricsRegex::find_all(std::string_view line) const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  re2::StringPiece m[3];
  const re2::StringPiece text(line.data(), line.size());
  std::size_t pos = 0;
  while (pos <= line.size() && re_->Match(text, pos, line.size(), RE2::UNANCHORED, m, 3)) {
    out.emplace_back(std::string_view(m[1].data() ? m[1].data() : "", m[1].size()),
                     std::string_view(m[2].data() ? m[2].data() : "", m[2].size()));
    const std::size_t end = static_cast<std::size_t>(m[0].data() - line.data()) + m[0].size();
    pos = m[0].empty() ? end + 1 : end;  // an empty match moves on, as Go's does
  }
  return out;
}

}  // namespace ringmaster::jobs
