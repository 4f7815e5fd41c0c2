#include "sweep/metrics.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ringmaster::sweep {

Result<MetricsParser> MetricsParser::create(const std::vector<std::string>& formats, std::vector<std::string> names) {
  MetricsParser p;
  p.names_ = std::move(names);
  const std::vector<std::string> use = formats.empty() ? std::vector<std::string>{kDefaultMetricsFormat} : formats;
  for (const std::string& f : use) {
    auto re = jobs::MetricsRegex::compile(f);
    if (!re) return invalid_argument(fmt::format("metricsFormat \"{}\": {}", f, re.status().message()));
    p.formats_.push_back(std::move(*re));
  }
  return p;
}

MetricsParser MetricsParser::json(std::vector<std::string> names) {
  MetricsParser p;
  p.json_ = true;
  p.names_ = std::move(names);
  return p;
}

void MetricsParser::add(const std::string& name, std::string_view text) {
  if (std::find(names_.begin(), names_.end(), name) == names_.end() || text.empty()) return;
  const std::string s(text);
  char* stop = nullptr;
  const double v = std::strtod(s.c_str(), &stop);
  if (stop == s.c_str() || *stop != '\0' || !std::isfinite(v)) return;
  values_[name].push_back(v);
}

void MetricsParser::feed(std::string_view line) {
  if (json_) {
    const nlohmann::json record = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (!record.is_object()) return;
    for (const std::string& name : names_) {
      const auto it = record.find(name);
      if (it == record.end()) continue;
      if (it->is_number()) add(name, fmt::format("{}", it->get<double>()));
      else if (it->is_string()) add(name, it->get<std::string>());
    }
    return;
  }
  for (const jobs::MetricsRegex& re : formats_)
    for (const auto& [name, value] : re.find_all(line)) add(std::string(name), value);
}

const std::vector<double>& MetricsParser::values(const std::string& name) const {
  static const std::vector<double> none;
  auto it = values_.find(name);
  return it == values_.end() ? none : it->second;
}

std::optional<double> MetricsParser::observe(const std::string& name, jobs::MetricStrategy strategy) const {
  const auto& v = values(name);
  if (v.empty()) return std::nullopt;
  switch (strategy) {
    case jobs::MetricStrategy::kMin: return *std::min_element(v.begin(), v.end());
    case jobs::MetricStrategy::kMax: return *std::max_element(v.begin(), v.end());
    case jobs::MetricStrategy::kLatest: return v.back();
  }
  return v.back();
}

}  // namespace ringmaster::sweep
