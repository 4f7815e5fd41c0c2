#include "common/strings.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ringmaster {

namespace {
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  std::optional<std::string> best;
  std::size_t best_d = std::max<std::size_t>(1, word.size() / 3) + 1;
  for (auto c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

template <typename S>
static std::string join_impl(std::span<const S> parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}
std::string join(std::span<const std::string> parts, std::string_view sep) { return join_impl(parts, sep); }
std::string join(std::span<const std::string_view> parts, std::string_view sep) { return join_impl(parts, sep); }

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

std::string trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  return std::string(s);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string quote(std::string_view s, std::size_t max_len) {
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : s) {
    if (++n > max_len) {
      out += "...";
      break;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<double> parse_quantity(const std::string& q, bool* binary) {
  static const std::pair<const char*, double> kSuffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
      {"Ei", 1152921504606846976.0}, {"n", 1e-9}, {"u", 1e-6}, {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9},
      {"T", 1e12}, {"P", 1e15}, {"E", 1e18}};
  auto bad = [&] {
    return invalid_argument(fmt::format("expected a quantity such as \"2\", \"500m\" or \"4Gi\", found \"{}\"", q));
  };
  std::string number = q;
  double scale = 1.0;
  bool is_binary = false;
  for (const auto& [suffix, factor] : kSuffixes) {
    const std::size_t n = std::strlen(suffix);
    if (q.size() > n && q.compare(q.size() - n, n, suffix) == 0) {
      number = q.substr(0, q.size() - n);
      scale = factor;
      is_binary = n == 2;
      break;
    }
  }
  if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos ||
      std::count(number.begin(), number.end(), '.') > 1 || number == ".")
    return bad();
  if (binary != nullptr) *binary = is_binary;
  return std::stod(number) * scale;
}

std::string format_quantity(double value, bool binary) {
  if (binary) {
    static const char* kBinary[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    double factor = 1152921504606846976.0;
    for (const char* suffix : kBinary) {
      const double units = value / factor;
      if (units >= 1 && std::fabs(units - std::round(units)) < 1e-9) return fmt::format("{}{}", std::llround(units), suffix);
      factor /= 1024.0;
    }
  }
  if (std::fabs(value - std::round(value)) < 1e-9) return fmt::format("{}", std::llround(value));
  return fmt::format("{}m", std::llround(value * 1000.0));
}

Result<double> parse_cpu_quantity(const std::string& q) {
  // CPU is written in cores or millicores; the other suffixes are not CPU amounts.
  if (!q.empty() && q.find_first_not_of("0123456789.m") == std::string::npos && q.find('m') >= q.size() - 1) {
    auto v = parse_quantity(q);
    if (v) return v;
  }
  return invalid_argument(fmt::format("expected a CPU quantity such as \"2\", \"1.5\" or \"500m\", found \"{}\"", q));
}

bool same_secret(std::string_view sent, std::string_view expected) {
  unsigned char diff = sent.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i] ^ (i < sent.size() ? sent[i] : 0));
  return diff == 0;
}

std::optional<std::pair<int, int>> parse_min_max(std::string_view s) {
  const auto colon = s.find(':');
  const auto min = parse_int<int>(s.substr(0, colon));
  const auto max = colon == std::string_view::npos ? min : parse_int<int>(s.substr(colon + 1));
  if (!min || !max || *min < 1 || *max < *min) return std::nullopt;
  return std::pair{*min, *max};
}

}  // namespace ringmaster
