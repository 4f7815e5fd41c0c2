#include "sweep/suggest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "common/strings.h"
#include "common/rng.h"
#include "sweep/nsga2.h"
#include "sweep/pareto.h"
#include "sweep/pbt.h"
#include "sweep/sobol.h"

namespace ringmaster::sweep {
namespace {


constexpr double kPi = 3.14159265358979323846;

double gauss(Rng& rng) { return static_cast<double>(rng.normal()); }
double phi(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * kPi); }
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// ---- settings -----------------------------------------------------------------------------------

class Settings {
 public:
  Settings(const jobs::AlgorithmSpec& a, std::vector<std::string> known, std::string field = "spec.algorithm")
      : a_(a), known_(std::move(known)), field_(std::move(field)) {}

  Status check() const {
    for (std::size_t i = 0; i < a_.settings.size(); ++i)
      if (std::find(known_.begin(), known_.end(), a_.settings[i].first) == known_.end())
        return invalid_argument(fmt::format("{}: expected one of the {} settings ({}), found \"{}\"", where(i),
                                            a_.name, known_.empty() ? "it has none" : fmt::format("{}", fmt::join(known_, ", ")),
                                            a_.settings[i].first));
    return Status::ok();
  }

  std::optional<std::string> text(const std::string& name, std::size_t* at = nullptr) const {
    for (std::size_t i = 0; i < a_.settings.size(); ++i)
      if (a_.settings[i].first == name) {
        if (at) *at = i;
        return a_.settings[i].second;
      }
    return std::nullopt;
  }

  // A number in [lo, hi] (an integer when `integer`), or `fallback` when the setting is absent.
  Result<double> number(const std::string& name, double fallback, double lo, double hi, bool integer = false) const {
    std::size_t i = 0;
    const auto t = text(name, &i);
    if (!t) return fallback;
    const std::optional<double> parsed = parse_double(*t);
    const double v = parsed.value_or(0);
    if (!parsed || v < lo || v > hi || (integer && v != std::floor(v)))
      return invalid_argument(fmt::format("{}: expected {} in [{}, {}], found \"{}\"", where(i),
                                          integer ? "an integer" : "a number", lo, hi, *t));
    return v;
  }

  Status one_of(const std::string& name, const std::vector<std::string>& allowed) const {
    std::size_t i = 0;
    const auto t = text(name, &i);
    if (!t) return Status::ok();
    for (const auto& a : allowed)
      if (a == *t) return Status::ok();
    return invalid_argument(fmt::format("{}: expected one of {}, found \"{}\"", where(i), fmt::join(allowed, ", "), *t));
  }

  std::string where(std::size_t i) const {
    return fmt::format("{}.algorithmSettings[{}] ({})", field_, i, a_.settings[i].first);
  }

 private:
  const jobs::AlgorithmSpec& a_;
  std::vector<std::string> known_;
  std::string field_;
};

// The finished trials as unit-cube points and losses, in creation order.
struct Observed {
  std::vector<std::vector<double>> x;
  std::vector<double> loss;
  std::vector<Objectives> losses;  // multi-objective: each finished trial's, in the order of x
  std::vector<std::vector<double>> running;
};

Observed observe(const SearchSpace& space, const std::vector<TrialView>& trials) {
  Observed o;
  for (const auto& t : trials) {
    if (t.state == TrialView::State::kDone && std::isfinite(t.loss)) {
      o.x.push_back(space.to_unit(t.assignment));
      o.loss.push_back(t.loss);
      o.losses.push_back(t.losses);
    } else if (t.state == TrialView::State::kRunning) {
      o.running.push_back(space.to_unit(t.assignment));
    }
  }
  return o;
}

// ---- random and grid ----------------------------------------------------------------------------

class RandomSearch final : public Suggester {
 public:
  RandomSearch(const SearchSpace& space, uint64_t seed) : space_(space), seed_(seed) {}
  Suggestion next(const std::vector<TrialView>& trials) override {
    Rng rng = Rng::derive(seed_, trials.size());
    return {Suggestion::Kind::kTrial, space_.sample(rng), ""};
  }

 private:
  SearchSpace space_;
  uint64_t seed_;
};

// Katib's sobol (goptuna's sampler): trial k takes point k + 1 of the Sobol sequence (the origin,
// every parameter at its minimum, is skipped), mapped into the space through the unit cube; with
// random_state (ours) the sequence is scrambled by a digital shift and starts at point 0.
class SobolSearch final : public Suggester {
 public:
  SobolSearch(const SearchSpace& space, std::optional<uint64_t> scramble)
      : space_(space), sequence_(space.dimensions().size(), scramble), skip_(scramble ? 0 : 1) {}
  Suggestion next(const std::vector<TrialView>& trials) override {
    return {Suggestion::Kind::kTrial, space_.from_unit(sequence_.point(trials.size() + skip_)), ""};
  }

 private:
  SearchSpace space_;
  SobolSequence sequence_;
  uint64_t skip_;
};

class GridSearch final : public Suggester {
 public:
  explicit GridSearch(std::vector<Assignment> points) : points_(std::move(points)) {}
  Suggestion next(const std::vector<TrialView>& trials) override {
    if (trials.size() >= points_.size()) return {Suggestion::Kind::kEnd, {}, ""};
    return {Suggestion::Kind::kTrial, points_[trials.size()], ""};
  }
  std::size_t limit() const override { return points_.size(); }

 private:
  std::vector<Assignment> points_;
};

// ---- tpe ----------------------------------------------------------------------------------------

// A Parzen estimator over the unit cube: one component per point plus a broad prior component.
// Continuous coordinates use normals truncated to [0, 1]; discrete and categorical ones a kernel
// that keeps the point's value with probability 1 - eps and spreads eps over the others.
class Parzen {
 public:
  Parzen(const SearchSpace& space, const std::vector<std::vector<double>>& points, double prior_weight,
         bool multivariate)
      : space_(space), multivariate_(multivariate) {
    const std::size_t dims = space.dimensions().size();
    const std::size_t n = points.size();
    mu_ = points;
    mu_.push_back(std::vector<double>(dims, 0.5));  // the prior
    weight_.assign(n, 1.0);
    weight_.push_back(prior_weight);
    const double total = std::accumulate(weight_.begin(), weight_.end(), 0.0);
    for (auto& w : weight_) w = std::log(w / total);
    sigma_.assign(n + 1, std::vector<double>(dims, 1.0));
    const double min_sigma = 1.0 / std::min(100.0, 1.0 + static_cast<double>(n));
    for (std::size_t d = 0; d < dims; ++d) {
      if (space.choices(d)) continue;
      // Each point's bandwidth is the wider gap to its neighbours along the coordinate (the ends
      // of [0, 1] count as neighbours), as hyperopt does; the joint estimator uses the same.
      std::vector<std::pair<double, std::size_t>> sorted;
      for (std::size_t k = 0; k <= n; ++k) sorted.emplace_back(mu_[k][d], k);
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t j = 0; j < sorted.size(); ++j) {
        const double left = sorted[j].first - (j ? sorted[j - 1].first : 0.0);
        const double right = (j + 1 < sorted.size() ? sorted[j + 1].first : 1.0) - sorted[j].first;
        if (sorted[j].second < n) sigma_[sorted[j].second][d] = std::clamp(std::max(left, right), min_sigma, 1.0);
      }
    }
  }

  std::vector<double> sample(Rng& rng) const {
    const std::size_t dims = space_.dimensions().size();
    std::vector<double> x(dims);
    std::size_t k = pick(rng);
    for (std::size_t d = 0; d < dims; ++d) {
      if (!multivariate_) k = pick(rng);
      if (const std::size_t c = space_.choices(d)) {
        const bool prior = k + 1 == mu_.size();
        std::size_t v = bin(mu_[k][d], c);
        if (prior || rng.uniform_double() < eps(c)) v = rng.below(c);
        x[d] = (static_cast<double>(v) + 0.5) / static_cast<double>(c);
        continue;
      }
      double v = 0;
      for (int tries = 0; tries < 64; ++tries) {
        v = mu_[k][d] + sigma_[k][d] * gauss(rng);
        if (v >= 0 && v <= 1) break;
      }
      x[d] = std::clamp(v, 0.0, 1.0);
    }
    return x;
  }

  double log_pdf(const std::vector<double>& x) const {
    const std::size_t dims = space_.dimensions().size();
    if (multivariate_) {
      std::vector<double> terms(mu_.size());
      for (std::size_t k = 0; k < mu_.size(); ++k) {
        double s = weight_[k];
        for (std::size_t d = 0; d < dims; ++d) s += log_kernel(k, d, x[d]);
        terms[k] = s;
      }
      return log_sum_exp(terms);
    }
    double total = 0;
    std::vector<double> terms(mu_.size());
    for (std::size_t d = 0; d < dims; ++d) {
      for (std::size_t k = 0; k < mu_.size(); ++k) terms[k] = weight_[k] + log_kernel(k, d, x[d]);
      total += log_sum_exp(terms);
    }
    return total;
  }

 private:
  static std::size_t bin(double u, std::size_t c) {
    return std::min(c - 1, static_cast<std::size_t>(std::max(0.0, u) * static_cast<double>(c)));
  }
  static double eps(std::size_t c) { return c > 1 ? 0.2 : 0.0; }
  static double log_sum_exp(const std::vector<double>& v) {
    const double m = *std::max_element(v.begin(), v.end());
    double s = 0;
    for (double t : v) s += std::exp(t - m);
    return m + std::log(s);
  }
  std::size_t pick(Rng& rng) const {
    double u = rng.uniform_double();
    for (std::size_t k = 0; k < weight_.size(); ++k) {
      u -= std::exp(weight_[k]);
      if (u < 0) return k;
    }
    return weight_.size() - 1;
  }
  double log_kernel(std::size_t k, std::size_t d, double x) const {
    if (const std::size_t c = space_.choices(d)) {
      if (k + 1 == mu_.size()) return -std::log(static_cast<double>(c));
      const double e = eps(c);
      return bin(mu_[k][d], c) == bin(x, c) ? std::log(1 - e + e / static_cast<double>(c))
                                            : std::log(e / static_cast<double>(c));
    }
    const double m = mu_[k][d], s = sigma_[k][d];
    const double z = (x - m) / s;
    const double mass = Phi((1 - m) / s) - Phi(-m / s);
    return -0.5 * z * z - std::log(s * std::sqrt(2 * kPi) * std::max(mass, 1e-300));
  }

  const SearchSpace& space_;
  bool multivariate_;
  std::vector<std::vector<double>> mu_, sigma_;
  std::vector<double> weight_;  // log, normalized
};

class Tpe final : public Suggester {
 public:
  Tpe(const SearchSpace& space, uint64_t seed, bool multivariate, int startup, int candidates, double gamma,
      double prior_weight)
      : space_(space), seed_(seed), multivariate_(multivariate), startup_(startup), candidates_(candidates),
        gamma_(gamma), prior_weight_(prior_weight) {}

  Suggestion next(const std::vector<TrialView>& trials) override {
    Rng rng = Rng::derive(seed_, trials.size());
    Observed o = observe(space_, trials);
    // At least two finished trials: one for l(x), one for g(x).
    if (static_cast<int>(o.loss.size()) < std::max(startup_, 2)) return {Suggestion::Kind::kTrial, space_.sample(rng), ""};
    // The finished trials best first: by loss, or, with several objectives (MOTPE), by Pareto
    // rank and then crowding distance (the spread of the front), as NSGA-II ranks.
    std::vector<std::size_t> order(o.loss.size());
    std::iota(order.begin(), order.end(), 0);
    if (o.losses.front().size() > 1)
      order = CrowdedComparison(o.losses).order();
    else
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return o.loss[a] < o.loss[b]; });
    // The constant liar: running trials count as the worst seen (last), so l(x) avoids them.
    for (auto& r : o.running) {
      order.push_back(o.x.size());
      o.x.push_back(std::move(r));
    }
    const std::size_t n = order.size();
    const auto below_count = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil(gamma_ * static_cast<double>(n))), 1, std::min<std::size_t>(25, n - 1));
    std::vector<std::vector<double>> below, above;
    for (std::size_t j = 0; j < n; ++j) (j < below_count ? below : above).push_back(o.x[order[j]]);
    const Parzen l(space_, below, prior_weight_, multivariate_), g(space_, above, prior_weight_, multivariate_);
    std::vector<double> best;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < candidates_; ++c) {
      std::vector<double> x = l.sample(rng);
      const double score = l.log_pdf(x) - g.log_pdf(x);
      if (score > best_score) best_score = score, best = std::move(x);
    }
    return {Suggestion::Kind::kTrial, space_.from_unit(best), ""};
  }

 private:
  SearchSpace space_;
  uint64_t seed_;
  bool multivariate_;
  int startup_, candidates_;
  double gamma_, prior_weight_;
};

// ---- bayesianoptimization -----------------------------------------------------------------------

// A Gaussian process with a Matérn 5/2 kernel, one length scale per coordinate (ARD), fitted by
// maximizing the log marginal likelihood (Adam on the log hyperparameters, analytic gradient),
// and expected improvement maximized by random candidates refined by local search.
class GaussianProcess {
 public:
  // theta: log length scales (dims), log signal variance, log noise variance.
  static double matern(double r) { return (1 + std::sqrt(5.0) * r + 5.0 / 3.0 * r * r) * std::exp(-std::sqrt(5.0) * r); }

  static Eigen::MatrixXd kernel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, const Eigen::VectorXd& theta) {
    const Eigen::Index dims = a.cols();
    const Eigen::ArrayXd inv = (-theta.head(dims)).array().exp();
    const double s2 = std::exp(theta(dims));
    Eigen::MatrixXd k(a.rows(), b.rows());
    for (Eigen::Index i = 0; i < a.rows(); ++i)
      for (Eigen::Index j = 0; j < b.rows(); ++j) {
        const double r = std::sqrt(((a.row(i) - b.row(j)).array() * inv.transpose()).square().sum());
        k(i, j) = s2 * matern(r);
      }
    return k;
  }

  // The negative log marginal likelihood (plus weak log-normal priors on the hyperparameters) and
  // its gradient.
  static double objective(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& theta,
                          Eigen::VectorXd& grad) {
    const Eigen::Index n = x.rows(), dims = x.cols();
    const double s2 = std::exp(theta(dims)), noise = std::exp(theta(dims + 1));
    const Eigen::ArrayXd ls = theta.head(dims).array().exp();
    Eigen::MatrixXd k = kernel(x, x, theta);
    k.diagonal().array() += noise + 1e-9;
    Eigen::LLT<Eigen::MatrixXd> llt(k);
    if (llt.info() != Eigen::Success) {
      grad.setZero(theta.size());
      return std::numeric_limits<double>::infinity();
    }
    const Eigen::VectorXd alpha = llt.solve(y);
    const Eigen::MatrixXd w = alpha * alpha.transpose() - llt.solve(Eigen::MatrixXd::Identity(n, n));
    double value = 0.5 * y.dot(alpha) + Eigen::MatrixXd(llt.matrixL()).diagonal().array().log().sum();
    grad.setZero(theta.size());
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < n; ++j) {
        const Eigen::ArrayXd diff2 = ((x.row(i) - x.row(j)).transpose().array() / ls).square();
        const double r = std::sqrt(diff2.sum());
        const double e = std::exp(-std::sqrt(5.0) * r);
        const double common = s2 * 5.0 / 3.0 * (1 + std::sqrt(5.0) * r) * e;
        grad.head(dims).array() -= 0.5 * w(i, j) * common * diff2;
        grad(dims) -= 0.5 * w(i, j) * s2 * matern(r);
      }
    grad(dims + 1) = -0.5 * noise * w.trace();
    // Priors: length scales around 0.5, signal variance around 1, noise around 1e-4 (log-normal).
    for (Eigen::Index d = 0; d < dims; ++d) {
      const double z = (theta(d) - std::log(0.5)) / 1.5;
      value += 0.5 * z * z;
      grad(d) += z / 1.5;
    }
    const double zs = theta(dims) / 2.0, zn = (theta(dims + 1) - std::log(1e-4)) / 3.0;
    value += 0.5 * zs * zs + 0.5 * zn * zn;
    grad(dims) += zs / 2.0;
    grad(dims + 1) += zn / 3.0;
    return value;
  }

  static void fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, Eigen::VectorXd& theta, int steps) {
    const Eigen::Index dims = x.cols();
    Eigen::VectorXd m = Eigen::VectorXd::Zero(theta.size()), v = Eigen::VectorXd::Zero(theta.size()), grad;
    Eigen::VectorXd best = theta;
    double best_value = std::numeric_limits<double>::infinity();
    const double lr = 0.05, b1 = 0.9, b2 = 0.999;
    for (int t = 1; t <= steps; ++t) {
      const double value = objective(x, y, theta, grad);
      if (value < best_value) best_value = value, best = theta;
      if (!std::isfinite(value)) break;
      m = b1 * m + (1 - b1) * grad;
      v = b2 * v + (1 - b2) * grad.cwiseProduct(grad);
      const Eigen::VectorXd mh = m / (1 - std::pow(b1, t)), vh = v / (1 - std::pow(b2, t));
      theta -= lr * (mh.array() / (vh.array().sqrt() + 1e-8)).matrix();
      for (Eigen::Index d = 0; d < dims; ++d) theta(d) = std::clamp(theta(d), std::log(0.01), std::log(20.0));
      theta(dims) = std::clamp(theta(dims), std::log(0.05), std::log(20.0));
      theta(dims + 1) = std::clamp(theta(dims + 1), std::log(1e-6), std::log(1.0));
    }
    theta = best;
  }
};

class BayesianOptimization final : public Suggester {
 public:
  BayesianOptimization(const SearchSpace& space, uint64_t seed, int initial) : space_(space), seed_(seed), initial_(initial) {}

  Suggestion next(const std::vector<TrialView>& trials) override {
    Rng rng = Rng::derive(seed_, trials.size());
    Observed o = observe(space_, trials);
    if (static_cast<int>(o.loss.size()) < initial_) return {Suggestion::Kind::kTrial, space_.sample(rng), ""};
    const auto dims = static_cast<Eigen::Index>(space_.dimensions().size());
    const auto done = static_cast<Eigen::Index>(o.loss.size());
    const auto n = done + static_cast<Eigen::Index>(o.running.size());
    Eigen::MatrixXd x(n, dims);
    Eigen::VectorXd y(n);
    const double mean = std::accumulate(o.loss.begin(), o.loss.end(), 0.0) / static_cast<double>(done);
    double var = 0;
    for (double l : o.loss) var += (l - mean) * (l - mean);
    const double sd = var > 0 ? std::sqrt(var / static_cast<double>(done)) : 1.0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const auto& p = i < done ? o.x[static_cast<std::size_t>(i)] : o.running[static_cast<std::size_t>(i - done)];
      for (Eigen::Index d = 0; d < dims; ++d) x(i, d) = p[static_cast<std::size_t>(d)];
      y(i) = i < done ? (o.loss[static_cast<std::size_t>(i)] - mean) / sd : 0.0;  // running: the mean (constant liar)
    }
    // Hyperparameters from at most 128 finished points (the best 64 and the most recent), fitted
    // from the same start every time, so that the suggestion depends on the trials only.
    std::vector<Eigen::Index> fit_rows;
    if (done <= 128) {
      for (Eigen::Index i = 0; i < done; ++i) fit_rows.push_back(i);
    } else {
      std::vector<Eigen::Index> order(static_cast<std::size_t>(done));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return y(a) < y(b); });
      std::vector<bool> taken(static_cast<std::size_t>(done), false);
      for (std::size_t j = 0; j < 64; ++j) taken[static_cast<std::size_t>(order[j])] = true;
      for (Eigen::Index i = done - 1; i >= 0 && std::count(taken.begin(), taken.end(), true) < 128; --i)
        taken[static_cast<std::size_t>(i)] = true;
      for (Eigen::Index i = 0; i < done; ++i)
        if (taken[static_cast<std::size_t>(i)]) fit_rows.push_back(i);
    }
    Eigen::MatrixXd fx(static_cast<Eigen::Index>(fit_rows.size()), dims);
    Eigen::VectorXd fy(static_cast<Eigen::Index>(fit_rows.size()));
    for (std::size_t j = 0; j < fit_rows.size(); ++j) {
      fx.row(static_cast<Eigen::Index>(j)) = x.row(fit_rows[j]);
      fy(static_cast<Eigen::Index>(j)) = y(fit_rows[j]);
    }
    Eigen::VectorXd theta = Eigen::VectorXd::Constant(dims + 2, std::log(0.3));
    theta(dims) = 0;
    theta(dims + 1) = std::log(1e-4);
    GaussianProcess::fit(fx, fy, theta, 100);

    Eigen::MatrixXd k = GaussianProcess::kernel(x, x, theta);
    k.diagonal().array() += std::exp(theta(dims + 1)) + 1e-9;
    Eigen::LLT<Eigen::MatrixXd> llt(k);
    if (llt.info() != Eigen::Success) return {Suggestion::Kind::kTrial, space_.sample(rng), "gp: kernel not positive definite"};
    const Eigen::VectorXd alpha = llt.solve(y);
    const double s2 = std::exp(theta(dims));
    const double best = y.head(done).minCoeff();

    // Expected improvement at a batch of points (rows), with discrete coordinates at bin centres.
    auto ei = [&](Eigen::MatrixXd& c) {
      for (Eigen::Index d = 0; d < dims; ++d)
        if (const std::size_t ch = space_.choices(static_cast<std::size_t>(d)))
          for (Eigen::Index i = 0; i < c.rows(); ++i)
            c(i, d) = (std::min<double>(static_cast<double>(ch) - 1, std::floor(std::clamp(c(i, d), 0.0, 1.0) * static_cast<double>(ch))) + 0.5) /
                      static_cast<double>(ch);
      const Eigen::MatrixXd ks = GaussianProcess::kernel(c, x, theta);
      const Eigen::VectorXd mu = ks * alpha;
      const Eigen::MatrixXd v = llt.matrixL().solve(ks.transpose());
      Eigen::VectorXd out(c.rows());
      for (Eigen::Index i = 0; i < c.rows(); ++i) {
        const double sigma = std::sqrt(std::max(1e-12, s2 - v.col(i).squaredNorm()));
        const double z = (best - mu(i)) / sigma;
        out(i) = (best - mu(i)) * Phi(z) + sigma * phi(z);
      }
      return out;
    };
    const Eigen::Index random_count = n > 300 ? 1000 : 2000;
    Eigen::MatrixXd cand(random_count + 100, dims);
    for (Eigen::Index i = 0; i < random_count; ++i)
      for (Eigen::Index d = 0; d < dims; ++d) cand(i, d) = rng.uniform_double();
    // Around the five best points.
    std::vector<Eigen::Index> order(static_cast<std::size_t>(done));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return y(a) < y(b); });
    for (Eigen::Index i = 0; i < 100; ++i)
      for (Eigen::Index d = 0; d < dims; ++d)
        cand(random_count + i, d) =
            std::clamp(x(order[static_cast<std::size_t>(i % std::min<Eigen::Index>(5, done))], d) + 0.05 * gauss(rng), 0.0, 1.0);
    Eigen::VectorXd score = ei(cand);
    // Local search from the three best candidates: shrinking Gaussian steps, kept when EI grows.
    std::array<Eigen::Index, 3> top = {-1, -1, -1};  // best first
    for (Eigen::Index i = 0; i < cand.rows(); ++i)
      for (std::size_t slot = 0; slot < top.size(); ++slot)
        if (top[slot] < 0 || score(i) > score(top[slot])) {
          for (std::size_t j = top.size() - 1; j > slot; --j) top[j] = top[j - 1];
          top[slot] = i;
          break;
        }
    Eigen::RowVectorXd winner = cand.row(top[0]);
    double winner_score = score(top[0]);
    for (int s = 0; s < 3; ++s) {
      Eigen::MatrixXd at = cand.row(top[static_cast<std::size_t>(s)]);
      double at_score = score(top[static_cast<std::size_t>(s)]);
      double step = 0.05;
      for (int round = 0; round < 6; ++round, step *= 0.5) {
        Eigen::MatrixXd trial(16, dims);
        for (Eigen::Index i = 0; i < 16; ++i)
          for (Eigen::Index d = 0; d < dims; ++d) trial(i, d) = std::clamp(at(0, d) + step * gauss(rng), 0.0, 1.0);
        const Eigen::VectorXd ts = ei(trial);
        Eigen::Index arg = 0;
        if (ts.maxCoeff(&arg) > at_score) at_score = ts(arg), at = trial.row(arg);
      }
      if (at_score > winner_score) winner_score = at_score, winner = at.row(0);
    }
    std::vector<double> u(static_cast<std::size_t>(dims));
    for (Eigen::Index d = 0; d < dims; ++d) u[static_cast<std::size_t>(d)] = winner(d);
    return {Suggestion::Kind::kTrial, space_.from_unit(u), ""};
  }

 private:
  SearchSpace space_;
  uint64_t seed_;
  int initial_;
};

// ---- cmaes --------------------------------------------------------------------------------------

// (mu/mu_w, lambda)-CMA-ES in the unit cube. A generation's lambda points are drawn from a stream
// of the seed numbered by the generation, handed out in order; the distribution is updated when
// all of them have finished (a failed one ranks last). The points evaluated are the draws clipped
// to the cube, and the update uses them. ipop restarts with twice the population when the step
// size collapses.
class Cmaes final : public Suggester {
 public:
  Cmaes(const SearchSpace& space, uint64_t seed, double sigma0, bool ipop)
      : space_(space), seed_(seed), sigma0_(sigma0), ipop_(ipop), n_(static_cast<int>(space.dimensions().size())) {
    restart(4 + static_cast<int>(std::floor(3 * std::log(static_cast<double>(n_)))));
  }

  Suggestion next(const std::vector<TrialView>& trials) override {
    while (true) {
      Generation& g = gens_.back();
      const std::size_t index = trials.size();
      if (index < g.start + g.points.size())
        return {Suggestion::Kind::kTrial, space_.from_unit(g.points[index - g.start]),
                fmt::format("generation {}", gens_.size())};
      for (std::size_t i = g.start; i < g.start + g.points.size(); ++i)
        if (trials[i].state == TrialView::State::kRunning) return {Suggestion::Kind::kWait, {}, ""};
      update(trials);
    }
  }

 private:
  struct Generation {
    std::size_t start = 0;
    std::vector<std::vector<double>> points;
    std::vector<Eigen::VectorXd> steps;  // (point - mean) / sigma
  };

  void restart(int lambda) {
    lambda_ = lambda;
    mu_ = lambda_ / 2;
    weights_.resize(mu_);
    for (int i = 0; i < mu_; ++i) weights_(i) = std::log(mu_ + 0.5) - std::log(i + 1.0);
    weights_ /= weights_.sum();
    mueff_ = 1.0 / weights_.squaredNorm();
    const double n = n_;
    cc_ = (4 + mueff_ / n) / (n + 4 + 2 * mueff_ / n);
    cs_ = (mueff_ + 2) / (n + mueff_ + 5);
    c1_ = 2 / ((n + 1.3) * (n + 1.3) + mueff_);
    cmu_ = std::min(1 - c1_, 2 * (mueff_ - 2 + 1 / mueff_) / ((n + 2) * (n + 2) + mueff_));
    damps_ = 1 + 2 * std::max(0.0, std::sqrt((mueff_ - 1) / (n + 1)) - 1) + cs_;
    chin_ = std::sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
    mean_ = Eigen::VectorXd::Constant(n_, 0.5);
    sigma_ = sigma0_;
    c_ = Eigen::MatrixXd::Identity(n_, n_);
    b_ = c_;
    d_ = Eigen::VectorXd::Ones(n_);
    pc_ = ps_ = Eigen::VectorXd::Zero(n_);
    draw(gens_.empty() ? 0 : gens_.back().start + gens_.back().points.size());
  }

  void draw(std::size_t start) {
    Generation g;
    g.start = start;
    Rng rng = Rng::derive(seed_, 1'000'000 + gens_.size());
    for (int k = 0; k < lambda_; ++k) {
      Eigen::VectorXd z(n_);
      for (int d = 0; d < n_; ++d) z(d) = gauss(rng);
      Eigen::VectorXd x = mean_ + sigma_ * (b_ * (d_.asDiagonal() * z));
      x = x.cwiseMax(0.0).cwiseMin(1.0);
      g.points.emplace_back(x.data(), x.data() + n_);
      g.steps.push_back((x - mean_) / sigma_);
    }
    gens_.push_back(std::move(g));
  }

  void update(const std::vector<TrialView>& trials) {
    const Generation& g = gens_.back();
    std::vector<std::size_t> order(g.points.size());
    std::iota(order.begin(), order.end(), 0);
    auto loss = [&](std::size_t k) {
      const auto& t = trials[g.start + k];
      return t.state == TrialView::State::kDone && std::isfinite(t.loss) ? t.loss : std::numeric_limits<double>::infinity();
    };
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return loss(a) < loss(b); });
    Eigen::VectorXd step = Eigen::VectorXd::Zero(n_);
    for (int i = 0; i < mu_; ++i) step += weights_(i) * g.steps[order[static_cast<std::size_t>(i)]];
    mean_ += sigma_ * step;
    const Eigen::MatrixXd inv_sqrt = b_ * d_.cwiseInverse().asDiagonal() * b_.transpose();
    ps_ = (1 - cs_) * ps_ + std::sqrt(cs_ * (2 - cs_) * mueff_) * inv_sqrt * step;
    const double generations = static_cast<double>(gens_.size());
    const bool hsig = ps_.norm() / std::sqrt(1 - std::pow(1 - cs_, 2 * generations)) / chin_ < 1.4 + 2 / (n_ + 1.0);
    pc_ = (1 - cc_) * pc_ + (hsig ? std::sqrt(cc_ * (2 - cc_) * mueff_) : 0.0) * step;
    Eigen::MatrixXd rank_mu = Eigen::MatrixXd::Zero(n_, n_);
    for (int i = 0; i < mu_; ++i) {
      const Eigen::VectorXd& y = g.steps[order[static_cast<std::size_t>(i)]];
      rank_mu += weights_(i) * y * y.transpose();
    }
    c_ = (1 - c1_ - cmu_) * c_ + c1_ * (pc_ * pc_.transpose() + (hsig ? 0.0 : cc_ * (2 - cc_)) * c_) + cmu_ * rank_mu;
    sigma_ *= std::exp((cs_ / damps_) * (ps_.norm() / chin_ - 1));
    sigma_ = std::min(sigma_, 1.0);
    c_ = 0.5 * (c_ + c_.transpose());
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(c_);
    b_ = eig.eigenvectors();
    d_ = eig.eigenvalues().cwiseMax(1e-20).cwiseSqrt();
    const std::size_t next = g.start + g.points.size();
    if (ipop_ && (sigma_ * d_.maxCoeff() < 1e-6 || d_.maxCoeff() > 1e7 * d_.minCoeff())) {
      restart(lambda_ * 2);
      gens_.back().start = next;
      return;
    }
    draw(next);
  }

  SearchSpace space_;
  uint64_t seed_;
  double sigma0_;
  bool ipop_;
  int n_, lambda_ = 0, mu_ = 0;
  Eigen::VectorXd weights_, mean_, pc_, ps_, d_;
  Eigen::MatrixXd c_, b_;
  double mueff_ = 0, cc_ = 0, cs_ = 0, c1_ = 0, cmu_ = 0, damps_ = 0, chin_ = 0, sigma_ = 0;
  std::vector<Generation> gens_;
};

// ---- hyperband ----------------------------------------------------------------------------------

// Brackets s = s_max .. 0 with s_max = floor(log_eta(r_l)); bracket s starts
// n = ceil((s_max + 1) * eta^s / (s + 1)) random configurations with resource r_l * eta^-s, and each
// rung keeps the best 1/eta of the last with eta times the resource (successive halving). The
// resource parameter's value is set by the schedule; the others come from the configuration.
class Hyperband final : public Suggester {
 public:
  Hyperband(const SearchSpace& space, uint64_t seed, std::size_t resource, double r_l, double eta)
      : space_(space), seed_(seed), resource_(resource) {
    const int s_max = static_cast<int>(std::floor(std::log(r_l) / std::log(eta) + 1e-9));
    for (int s = s_max; s >= 0; --s) {
      const auto n = static_cast<std::size_t>(std::ceil((s_max + 1) * std::pow(eta, s) / (s + 1) - 1e-9));
      const double r = r_l * std::pow(eta, -s);
      std::size_t previous = slots_.size(), previous_count = 0;
      for (int i = 0; i <= s; ++i) {
        const auto count = static_cast<std::size_t>(std::floor(static_cast<double>(n) * std::pow(eta, -i) + 1e-9));
        if (count == 0) break;
        const std::size_t rung_start = slots_.size();
        for (std::size_t j = 0; j < count; ++j)
          slots_.push_back({s, i, j, r * std::pow(eta, i), i == 0 ? 0 : previous, i == 0 ? 0 : previous_count});
        previous = rung_start;
        previous_count = count;
      }
    }
  }

  Suggestion next(const std::vector<TrialView>& trials) override {
    const std::size_t index = trials.size();
    if (index >= slots_.size()) return {Suggestion::Kind::kEnd, {}, ""};
    const Slot& slot = slots_[index];
    Assignment a;
    if (slot.rung == 0) {
      Rng rng = Rng::derive(seed_, index);
      a = space_.sample(rng);
    } else {
      std::vector<std::size_t> order;
      for (std::size_t k = slot.from; k < slot.from + slot.from_count; ++k) {
        if (trials[k].state == TrialView::State::kRunning) return {Suggestion::Kind::kWait, {}, ""};
        order.push_back(k);
      }
      auto loss = [&](std::size_t k) {
        return trials[k].state == TrialView::State::kDone ? trials[k].loss : std::numeric_limits<double>::infinity();
      };
      std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) { return loss(x) < loss(y); });
      a = trials[order[slot.slot]].assignment;
    }
    const auto& dim = space_.dimensions()[resource_];
    a[resource_].second = dim.type == jobs::ParameterType::kInt
                              ? fmt::format("{}", std::max<long long>(1, std::llround(slot.resource)))
                              : format_double(slot.resource);
    return {Suggestion::Kind::kTrial, std::move(a), fmt::format("bracket {} rung {}", slot.bracket, slot.rung)};
  }
  std::size_t limit() const override { return slots_.size(); }

 private:
  struct Slot {
    int bracket, rung;
    std::size_t slot;
    double resource;
    std::size_t from, from_count;  // the previous rung's trials
  };
  SearchSpace space_;
  uint64_t seed_;
  std::size_t resource_;
  std::vector<Slot> slots_;
};

Result<uint64_t> seed_of(const Settings& s, uint64_t fallback) {
  auto v = s.number("random_state", static_cast<double>(fallback % (1ULL << 53)), 0, 9007199254740992.0, true);
  if (!v) return v.status();
  return s.text("random_state") ? static_cast<uint64_t>(*v) : fallback;
}

}  // namespace

const std::vector<std::string>& supported_algorithms() {
  static const std::vector<std::string> names = {"random", "grid", "tpe", "multivariate-tpe",
                                                 "bayesianoptimization", "cmaes", "hyperband", "sobol", "pbt",
                                                 "nsga2"};
  return names;
}

Result<std::unique_ptr<Suggester>> make_suggester(const jobs::AlgorithmSpec& a, const SearchSpace& space, uint64_t seed,
                                                  std::size_t objectives) {
  const std::string& name = a.name;
  static const std::vector<std::string> multi = {"random", "grid", "sobol", "tpe", "multivariate-tpe", "nsga2"};
  if (objectives > 1 && std::find(supported_algorithms().begin(), supported_algorithms().end(), name) !=
                            supported_algorithms().end() &&
      std::find(multi.begin(), multi.end(), name) == multi.end())
    return invalid_argument(fmt::format("spec.algorithm.algorithmName: {} searches one objective; with {} objectives "
                                        "(metadata.annotations[{}]) expected one of {}, found \"{}\"",
                                        name, objectives, jobs::kObjectivesAnnotation, fmt::join(multi, ", "), name));
  if (name == "nsga2") {
    Settings s(a, {"population_size", "crossover_prob", "random_state"});
    if (Status st = s.check(); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    auto population = s.number("population_size", 20, 2, 100000, true);
    if (!population) return population.status();
    auto crossover = s.number("crossover_prob", 0.9, 0, 1);
    if (!crossover) return crossover.status();
    return make_nsga2(space, {static_cast<int>(*population), *crossover, *sd});
  }
  if (name == "random") {
    Settings s(a, {"random_state"});
    if (Status st = s.check(); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    return std::unique_ptr<Suggester>(new RandomSearch(space, *sd));
  }
  if (name == "sobol") {
    Settings s(a, {"random_state"});
    if (Status st = s.check(); !st) return st;
    if (space.dimensions().size() > SobolSequence::kMaxDimensions)
      return invalid_argument(fmt::format("spec.parameters: sobol supports at most {} parameters, found {}",
                                          SobolSequence::kMaxDimensions, space.dimensions().size()));
    std::optional<uint64_t> scramble;
    if (s.text("random_state")) {
      auto sd = seed_of(s, seed);
      if (!sd) return sd.status();
      scramble = *sd;
    }
    return std::unique_ptr<Suggester>(new SobolSearch(space, scramble));
  }
  if (name == "grid") {
    Settings s(a, {});
    if (Status st = s.check(); !st) return st;
    auto points = space.grid();
    if (!points) return points.status();
    return std::unique_ptr<Suggester>(new GridSearch(std::move(*points)));
  }
  if (name == "tpe" || name == "multivariate-tpe") {
    Settings s(a, {"n_startup_trials", "n_ei_candidates", "gamma", "prior_weight", "random_state"});
    if (Status st = s.check(); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    auto startup = s.number("n_startup_trials", 10, 0, 1e6, true);
    if (!startup) return startup.status();
    auto candidates = s.number("n_ei_candidates", 24, 1, 1e5, true);
    if (!candidates) return candidates.status();
    auto gamma = s.number("gamma", 0.25, 1e-6, 1);
    if (!gamma) return gamma.status();
    auto prior = s.number("prior_weight", 1.0, 1e-6, 1e6);
    if (!prior) return prior.status();
    return std::unique_ptr<Suggester>(new Tpe(space, *sd, name == "multivariate-tpe", static_cast<int>(*startup),
                                              static_cast<int>(*candidates), *gamma, *prior));
  }
  if (name == "bayesianoptimization") {
    Settings s(a, {"base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "random_state"});
    if (Status st = s.check(); !st) return st;
    if (Status st = s.one_of("base_estimator", {"GP"}); !st) return st;
    if (Status st = s.one_of("acq_func", {"ei", "EI"}); !st) return st;
    if (Status st = s.one_of("acq_optimizer", {"auto", "sampling"}); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    auto initial = s.number("n_initial_points", 10, 1, 1e6, true);
    if (!initial) return initial.status();
    return std::unique_ptr<Suggester>(new BayesianOptimization(space, *sd, static_cast<int>(*initial)));
  }
  if (name == "cmaes") {
    Settings s(a, {"sigma", "restart_strategy", "random_state"});
    if (Status st = s.check(); !st) return st;
    if (Status st = s.one_of("restart_strategy", {"none", "ipop"}); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    auto sigma = s.number("sigma", 0.25, 1e-6, 1);
    if (!sigma) return sigma.status();
    return std::unique_ptr<Suggester>(new Cmaes(space, *sd, *sigma, s.text("restart_strategy").value_or("none") == "ipop"));
  }
  if (name == "hyperband") {
    Settings s(a, {"resource_name", "r_l", "eta", "random_state"});
    if (Status st = s.check(); !st) return st;
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    std::size_t at = 0;
    const auto resource = s.text("resource_name", &at);
    if (!resource) return invalid_argument("spec.algorithm.algorithmSettings: hyperband expects resource_name (the parameter that sets a trial's budget), found none");
    std::optional<std::size_t> dim;
    std::vector<std::string> numeric;
    for (std::size_t d = 0; d < space.dimensions().size(); ++d)
      if (!space.choices(d)) {
        numeric.push_back(space.dimensions()[d].name);
        if (space.dimensions()[d].name == *resource) dim = d;
      }
    if (!dim)
      return invalid_argument(fmt::format("{}: expected an int or double parameter ({}), found \"{}\"", s.where(at),
                                          numeric.empty() ? "there is none" : fmt::format("{}", fmt::join(numeric, ", ")), *resource));
    if (!s.text("r_l"))
      return invalid_argument("spec.algorithm.algorithmSettings: hyperband expects r_l (the most resource a trial gets), found none");
    auto r_l = s.number("r_l", 0, 1, 1e9);
    if (!r_l) return r_l.status();
    auto eta = s.number("eta", 3, 1.01, 1e6);
    if (!eta) return eta.status();
    return std::unique_ptr<Suggester>(new Hyperband(space, *sd, *dim, *r_l, *eta));
  }
  if (name == "pbt") {
    Settings s(a, {"suggestion_trial_dir", "n_population", "truncation_threshold", "resample_probability",
                   "random_state"});
    if (Status st = s.check(); !st) return st;
    for (const char* required : {"suggestion_trial_dir", "n_population", "truncation_threshold"})  // Katib's
      if (!s.text(required))
        return invalid_argument(fmt::format("spec.algorithm.algorithmSettings: pbt expects {}, found none", required));
    std::size_t at = 0;
    if (s.text("suggestion_trial_dir", &at)->empty())
      return invalid_argument(fmt::format("{}: expected the directory trials keep their checkpoints in, found \"\"",
                                          s.where(at)));
    auto sd = seed_of(s, seed);
    if (!sd) return sd.status();
    PbtOptions o;
    o.seed = *sd;
    auto population = s.number("n_population", 40, 5, 100000, true);
    if (!population) return population.status();
    o.population = static_cast<int>(*population);
    auto truncation = s.number("truncation_threshold", 0.2, 0, 1);
    if (!truncation) return truncation.status();
    o.truncation_threshold = *truncation;
    if (s.text("resample_probability")) {
      auto p = s.number("resample_probability", 0, 0, 1);
      if (!p) return p.status();
      o.resample_probability = *p;
    }
    return make_pbt(space, o);
  }
  if (name == "enas" || name == "darts")  // Katib's neural architecture search (nasConfig)
    return invalid_argument(fmt::format("spec.algorithm.algorithmName: expected one of {}, found \"{}\": {} is neural "
                                        "architecture search, which ringmaster does not run (Kubeflow Trainer's "
                                        "OptimizationJob, Katib's successor, drops it too)",
                                        fmt::join(supported_algorithms(), ", "), name, name));
  return invalid_argument(fmt::format("spec.algorithm.algorithmName: expected one of {}, found \"{}\"",
                                      fmt::join(supported_algorithms(), ", "), name));
}

bool MedianStop::should_stop(const std::vector<double>& series, const std::vector<std::vector<double>>& completed) const {
  const std::size_t step = series.size();
  if (step == 0 || static_cast<int>(step) < start_step) return false;
  std::vector<double> averages;
  for (const auto& c : completed) {
    if (c.empty()) continue;
    const std::size_t k = std::min(step, c.size());
    averages.push_back(std::accumulate(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), 0.0) / static_cast<double>(k));
  }
  if (static_cast<int>(averages.size()) < min_trials_required || averages.empty()) return false;
  return *std::min_element(series.begin(), series.end()) > median(std::move(averages));
}

Result<MedianStop> make_median_stop(const jobs::AlgorithmSpec& e) {
  if (e.name != "medianstop")
    return invalid_argument(fmt::format("spec.earlyStopping.algorithmName: expected medianstop, found \"{}\"", e.name));
  Settings s(e, {"min_trials_required", "start_step"}, "spec.earlyStopping");
  if (Status st = s.check(); !st) return st;
  MedianStop m;
  auto min_trials = s.number("min_trials_required", 3, 1, 1e6, true);
  if (!min_trials) return min_trials.status();
  auto start = s.number("start_step", 4, 1, 1e9, true);
  if (!start) return start.status();
  m.min_trials_required = static_cast<int>(*min_trials);
  m.start_step = static_cast<int>(*start);
  return m;
}

}  // namespace ringmaster::sweep
