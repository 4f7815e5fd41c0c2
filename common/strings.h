// Small string utilities shared by every module. Pure functions; thread-safe.
#pragma once

#include <charconv>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ringmaster {

// Levenshtein distance (insert, delete, substitute each cost 1), compared case-insensitively.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if one is close enough to be a plausible typo:
// distance <= max(1, len/3), or equal ignoring case. Used for "did you mean" hints.
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates);

bool iequals(std::string_view a, std::string_view b);
// Whether a secret someone sent equals the expected one, in time that depends only on the
// expected one's length (so timing does not reveal a matching prefix).
bool same_secret(std::string_view sent, std::string_view expected);
std::string to_lower(std::string_view s);
std::string join(std::span<const std::string> parts, std::string_view sep);
std::string join(std::span<const std::string_view> parts, std::string_view sep);
std::vector<std::string> split(std::string_view s, char sep);
// `s` without leading and trailing spaces, tabs, carriage returns and newlines.
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);

// The one number parser of ringmaster for flags, YAML values, annotations and text from other
// programs: the whole of `s` or nothing (nullopt for empty, leading or trailing text, a sign on
// an unsigned type, out of range). No locale, no exceptions; callers say what they expected.
// "MIN:MAX" with 1 <= MIN <= MAX, or one count N (N:N): an elastic group's size as torchrun's
// --nnodes and PET_NNODES write it. nullopt for anything else.
std::optional<std::pair<int, int>> parse_min_max(std::string_view s);
// The whole of `s` as a finite double ("1e-3", "-2"); nullopt also for inf and nan.
std::optional<double> parse_double(std::string_view s);
// The whole of `s` as an integer of type T ("42", "-3"), in base 10.
template <class T>
std::optional<T> parse_int(std::string_view s) {
  static_assert(std::is_integral_v<T>);
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}
// A Kubernetes CPU quantity ("2", "1.5", "500m") in cores; kInvalidArgument when it is not one.
Result<double> parse_cpu_quantity(const std::string& quantity);
// Any Kubernetes resource quantity (k8s.io/apimachinery resource.Quantity): a non-negative decimal
// with an optional suffix, binary (Ki Mi Gi Ti Pi Ei) or decimal (n u m k M G T P E), in base
// units ("4Gi" -> 4294967296, "500m" -> 0.5). `binary` (when given) says which family it used.
Result<double> parse_quantity(const std::string& quantity, bool* binary = nullptr);
// `value` written as Kubernetes writes a quantity of that family: binary with the largest suffix
// that keeps it whole ("8Gi"), decimal as a whole number or in milli-units ("4", "1500m").
std::string format_quantity(double value, bool binary);

// The median of `v` (the mean of the two middle values for an even count); 0 for none.
double median(std::vector<double> v);

// `when` as "2026-11-30T08:54:22Z" (UTC, seconds): the time stamps of events and job state.
std::string utc_timestamp(std::chrono::system_clock::time_point when);

// `s` quoted for a message: "abc", with control characters escaped and long values cut to max_len.
std::string quote(std::string_view s, std::size_t max_len = 80);

}  // namespace ringmaster
