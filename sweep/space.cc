#include "sweep/space.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/strings.h"

namespace ringmaster::sweep {
namespace {

Result<double> number(const std::optional<std::string>& text, const std::string& where) {
  if (!text) return invalid_argument(fmt::format("{}: expected a number, found none", where));
  const std::optional<double> v = parse_double(*text);
  if (!v) return invalid_argument(fmt::format("{}: expected a number, found \"{}\"", where, *text));
  return *v;
}

double snap(double v, const Dimension& d) {
  if (d.step > 0) v = d.min + std::round((v - d.min) / d.step) * d.step;
  return std::clamp(v, d.min, d.max);
}

}  // namespace

std::string format_double(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, ptr) : fmt::format("{}", v);
}

Result<SearchSpace> SearchSpace::from(const std::vector<jobs::ParameterSpec>& parameters) {
  SearchSpace space;
  if (parameters.empty()) return invalid_argument("spec.parameters: expected at least one parameter, found none");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    const std::string where = fmt::format("spec.parameters[{}] ({})", i, p.name);
    Dimension d;
    d.name = p.name;
    d.type = p.type;
    d.distribution = p.feasible_space.distribution;
    if (p.type == jobs::ParameterType::kDouble || p.type == jobs::ParameterType::kInt) {
      auto lo = number(p.feasible_space.min, where + ".feasibleSpace.min");
      if (!lo) return lo.status();
      auto hi = number(p.feasible_space.max, where + ".feasibleSpace.max");
      if (!hi) return hi.status();
      d.min = *lo, d.max = *hi;
      if (d.min > d.max)
        return invalid_argument(fmt::format("{}.feasibleSpace: expected min <= max, found min {} and max {}", where,
                                            *p.feasible_space.min, *p.feasible_space.max));
      if (p.feasible_space.step) {
        auto st = number(p.feasible_space.step, where + ".feasibleSpace.step");
        if (!st) return st.status();
        if (*st <= 0) return invalid_argument(fmt::format("{}.feasibleSpace.step: expected > 0, found {}", where, *st));
        d.step = *st;
      }
      if (p.type == jobs::ParameterType::kInt) {
        if (d.min != std::floor(d.min) || d.max != std::floor(d.max) || d.step != std::floor(d.step))
          return invalid_argument(fmt::format("{}.feasibleSpace: expected integers for an int parameter", where));
        if (d.step == 0) d.step = 1;
      }
      const bool log = d.distribution == jobs::Distribution::kLogUniform || d.distribution == jobs::Distribution::kLogNormal;
      if (log && d.min <= 0)
        return invalid_argument(fmt::format("{}.feasibleSpace.min: expected > 0 for distribution {}, found {}", where,
                                            jobs::distribution_name(d.distribution), d.min));
    } else {
      d.values = p.feasible_space.list;
      if (d.values.empty())
        return invalid_argument(fmt::format("{}.feasibleSpace.list: expected at least one value, found none", where));
    }
    space.dims_.push_back(std::move(d));
  }
  return space;
}

Assignment SearchSpace::sample(Rng& rng) const {
  Assignment out;
  for (const Dimension& d : dims_) {
    std::string value;
    if (!d.values.empty()) {
      value = d.values[rng.below(d.values.size())];
    } else if (d.type == jobs::ParameterType::kInt) {
      const auto points = static_cast<uint64_t>(std::floor((d.max - d.min) / d.step)) + 1;
      value = fmt::format("{}", static_cast<int64_t>(d.min + d.step * static_cast<double>(rng.below(points))));
    } else {
      double v = 0;
      switch (d.distribution) {
        case jobs::Distribution::kUniform: v = d.min + (d.max - d.min) * rng.uniform_double(); break;
        case jobs::Distribution::kLogUniform:
          v = std::exp(std::log(d.min) + (std::log(d.max) - std::log(d.min)) * rng.uniform_double());
          break;
        case jobs::Distribution::kNormal: v = (d.min + d.max) / 2 + (d.max - d.min) / 6 * static_cast<double>(rng.normal()); break;
        case jobs::Distribution::kLogNormal:
          v = std::exp((std::log(d.min) + std::log(d.max)) / 2 + (std::log(d.max) - std::log(d.min)) / 6 * static_cast<double>(rng.normal()));
          break;
      }
      value = format_double(snap(v, d));
    }
    out.emplace_back(d.name, std::move(value));
  }
  return out;
}

Result<std::vector<Assignment>> SearchSpace::grid(std::size_t max_points) const {
  std::vector<std::vector<std::string>> axes;
  std::size_t total = 1;
  for (const Dimension& d : dims_) {
    std::vector<std::string> axis;
    if (!d.values.empty()) {
      axis = d.values;
    } else if (d.step <= 0) {
      return invalid_argument(fmt::format("parameter {}: the grid algorithm needs feasibleSpace.step for a double",
                                          d.name));
    } else {
      const auto points = static_cast<std::size_t>(std::floor((d.max - d.min) / d.step + 1e-9)) + 1;
      if (points > max_points) return invalid_argument(fmt::format("parameter {}: {} grid points, more than {}", d.name, points, max_points));
      for (std::size_t k = 0; k < points; ++k) {
        const double v = d.min + d.step * static_cast<double>(k);
        axis.push_back(d.type == jobs::ParameterType::kInt ? fmt::format("{}", static_cast<int64_t>(std::llround(v)))
                                                           : format_double(v));
      }
    }
    total *= axis.size();
    if (total > max_points) return invalid_argument(fmt::format("the grid has more than {} points", max_points));
    axes.push_back(std::move(axis));
  }
  std::vector<Assignment> out;
  out.reserve(total);
  std::vector<std::size_t> at(axes.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    Assignment a;
    for (std::size_t i = 0; i < axes.size(); ++i) a.emplace_back(dims_[i].name, axes[i][at[i]]);
    out.push_back(std::move(a));
    for (std::size_t i = axes.size(); i-- > 0;) {  // the last parameter varies fastest
      if (++at[i] < axes[i].size()) break;
      at[i] = 0;
    }
  }
  return out;
}

namespace {
bool log_scale(const Dimension& d) {
  return d.distribution == jobs::Distribution::kLogUniform || d.distribution == jobs::Distribution::kLogNormal;
}
double forward(const Dimension& d, double v) { return log_scale(d) ? std::log(v) : v; }
double backward(const Dimension& d, double t) { return log_scale(d) ? std::exp(t) : t; }
}  // namespace

std::vector<double> SearchSpace::to_unit(const Assignment& a) const {
  std::vector<double> u(dims_.size(), 0.5);
  for (std::size_t i = 0; i < dims_.size() && i < a.size(); ++i) {
    const Dimension& d = dims_[i];
    const std::string& text = a[i].second;
    if (!d.values.empty()) {
      const auto it = std::find(d.values.begin(), d.values.end(), text);
      if (it != d.values.end())
        u[i] = (static_cast<double>(it - d.values.begin()) + 0.5) / static_cast<double>(d.values.size());
      continue;
    }
    const std::optional<double> v = parse_double(text);
    if (!v || d.max <= d.min) continue;
    const double lo = forward(d, d.min), hi = forward(d, d.max);
    u[i] = std::clamp((forward(d, std::clamp(*v, d.min, d.max)) - lo) / (hi - lo), 0.0, 1.0);
  }
  return u;
}

Assignment SearchSpace::from_unit(const std::vector<double>& u) const {
  Assignment out;
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    const Dimension& d = dims_[i];
    const double x = std::clamp(i < u.size() && std::isfinite(u[i]) ? u[i] : 0.5, 0.0, 1.0);
    if (!d.values.empty()) {
      const auto k = std::min(d.values.size() - 1, static_cast<std::size_t>(x * static_cast<double>(d.values.size())));
      out.emplace_back(d.name, d.values[k]);
      continue;
    }
    const double lo = forward(d, d.min), hi = forward(d, d.max);
    // The ends are the bounds exactly (exp(log(max)) need not be max), and values are kept to 12
    // significant digits, so trials see 0.2 rather than 0.19999999999999998.
    double v = x <= 0 ? d.min : x >= 1 ? d.max : std::stod(fmt::format("{:.12g}", backward(d, lo + (hi - lo) * x)));
    v = snap(v, d);
    out.emplace_back(d.name, d.type == jobs::ParameterType::kInt ? fmt::format("{}", static_cast<int64_t>(std::llround(v)))
                                                                 : format_double(v));
  }
  return out;
}

}  // namespace ringmaster::sweep
