#include "sweep/pareto.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace ringmaster::sweep {

bool dominates(const Objectives& a, const Objectives& b) {
  bool better = false;
  for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
    if (a[k] > b[k]) return false;
    better |= a[k] < b[k];
  }
  return better;
}

std::vector<int> pareto_ranks(const std::vector<Objectives>& p) {
  const std::size_t n = p.size();
  std::vector<int> rank(n, -1), dominated_by(n, 0);
  std::vector<std::vector<std::size_t>> dominating(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      if (dominates(p[i], p[j])) {
        dominating[i].push_back(j);
        ++dominated_by[j];
      } else if (dominates(p[j], p[i])) {
        dominating[j].push_back(i);
        ++dominated_by[i];
      }
    }
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < n; ++i)
    if (dominated_by[i] == 0) front.push_back(i);
  for (int r = 0; !front.empty(); ++r) {
    std::vector<std::size_t> next;
    for (std::size_t i : front) {
      rank[i] = r;
      for (std::size_t j : dominating[i])
        if (--dominated_by[j] == 0) next.push_back(j);
    }
    front = std::move(next);
  }
  return rank;
}

std::vector<std::size_t> pareto_front(const std::vector<Objectives>& points) {
  const auto ranks = pareto_ranks(points);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < points.size(); ++i)
    if (ranks[i] == 0) out.push_back(i);
  return out;
}

std::vector<double> crowding_distances(const std::vector<Objectives>& p, const std::vector<int>& ranks) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> d(p.size(), 0.0);
  const int fronts = ranks.empty() ? 0 : *std::max_element(ranks.begin(), ranks.end()) + 1;
  for (int r = 0; r < fronts; ++r) {
    std::vector<std::size_t> f;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (ranks[i] == r) f.push_back(i);
    if (f.empty()) continue;
    for (std::size_t k = 0; k < p[f[0]].size(); ++k) {
      std::sort(f.begin(), f.end(), [&](std::size_t a, std::size_t b) { return p[a][k] < p[b][k]; });
      const double span = p[f.back()][k] - p[f.front()][k];
      d[f.front()] = d[f.back()] = inf;
      if (span <= 0) continue;
      for (std::size_t j = 1; j + 1 < f.size(); ++j) d[f[j]] += (p[f[j + 1]][k] - p[f[j - 1]][k]) / span;
    }
  }
  return d;
}

CrowdedComparison::CrowdedComparison(const std::vector<Objectives>& points)
    : ranks_(pareto_ranks(points)), crowd_(crowding_distances(points, ranks_)) {}

std::vector<std::size_t> CrowdedComparison::order() const {
  std::vector<std::size_t> out(ranks_.size());
  std::iota(out.begin(), out.end(), 0);
  std::stable_sort(out.begin(), out.end(), *this);
  return out;
}

double hypervolume_2d(const std::vector<Objectives>& points, const Objectives& ref) {
  std::vector<Objectives> in;
  for (const auto& q : points)
    if (q.size() >= 2 && q[0] < ref[0] && q[1] < ref[1]) in.push_back(q);
  std::vector<Objectives> front;
  for (std::size_t i : pareto_front(in)) front.push_back(in[i]);
  std::sort(front.begin(), front.end());
  double area = 0, last_y = ref[1];
  for (const auto& q : front) {  // by the first objective ascending: the second descends
    if (q[1] >= last_y) continue;
    area += (ref[0] - q[0]) * (last_y - q[1]);
    last_y = q[1];
  }
  return area;
}

}  // namespace ringmaster::sweep
