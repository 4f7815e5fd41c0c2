// The search algorithms: Katib's names and settings, what each suggests, waiting and ending.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "common/rng.h"
#include "sweep/nsga2.h"
#include "sweep/pareto.h"
#include "sweep/pbt.h"
#include "sweep/sobol.h"
#include "sweep/suggest.h"

using namespace ringmaster;
using namespace ringmaster::sweep;

namespace {

jobs::ParameterSpec real(const std::string& name, const char* min, const char* max) {
  jobs::ParameterSpec p;
  p.name = name;
  p.type = jobs::ParameterType::kDouble;
  p.feasible_space.min = min;
  p.feasible_space.max = max;
  return p;
}

jobs::AlgorithmSpec algorithm(const std::string& name, std::vector<std::pair<std::string, std::string>> settings = {}) {
  jobs::AlgorithmSpec a;
  a.name = name;
  a.settings = std::move(settings);
  return a;
}

SearchSpace plane() { return *SearchSpace::from({real("x", "0", "1"), real("y", "0", "1")}); }

double bowl(const Assignment& a) {
  const double x = std::stod(a[0].second), y = std::stod(a[1].second);
  return (x - 0.3) * (x - 0.3) + 4 * (y - 0.7) * (y - 0.7);
}

// The best loss after `budget` trials run one at a time.
double best_after(const std::string& name, int budget, uint64_t seed) {
  const SearchSpace space = plane();
  auto s = make_suggester(algorithm(name), space, seed);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  std::vector<TrialView> trials;
  double best = 1e9;
  for (int i = 0; i < budget; ++i) {
    const Suggestion next = (*s)->next(trials);
    EXPECT_EQ(next.kind, Suggestion::Kind::kTrial);
    TrialView t{next.assignment, TrialView::State::kDone, bowl(next.assignment), {}, {}};
    best = std::min(best, t.loss);
    trials.push_back(t);
  }
  return best;
}

}  // namespace

TEST(SuggestTest, UnsupportedAlgorithmsAreRefusedListingTheSupportedOnes) {
  for (const char* name : {"enas", "darts", "nasrl"}) {
    auto s = make_suggester(algorithm(name), plane(), 1);
    ASSERT_FALSE(s.is_ok()) << name;
    EXPECT_NE(s.status().message().find("spec.algorithm.algorithmName"), std::string::npos);
    EXPECT_NE(s.status().message().find("random, grid, tpe, multivariate-tpe, bayesianoptimization, cmaes, hyperband, sobol, pbt"),
              std::string::npos)
        << s.status().message();
    EXPECT_NE(s.status().message().find(name), std::string::npos);
  }
  auto nas = make_suggester(algorithm("darts"), plane(), 1);
  EXPECT_NE(nas.status().message().find("darts is neural architecture search"), std::string::npos) << nas.status().message();
}

// The published first points of the Joe-Kuo Sobol sequence in Gray-code order (as Joe and Kuo's
// sobol.cc and scipy.stats.qmc.Sobol(scramble=False) give them).
TEST(SobolTest, TheFirstPointsAreTheReferenceSequences) {
  const SobolSequence s(3, std::nullopt);
  const double expected[8][3] = {{0, 0, 0},           {0.5, 0.5, 0.5},       {0.75, 0.25, 0.25},   {0.25, 0.75, 0.75},
                                 {0.375, 0.375, 0.625}, {0.875, 0.875, 0.125}, {0.625, 0.125, 0.875}, {0.125, 0.625, 0.375}};
  for (int i = 0; i < 8; ++i)
    for (int d = 0; d < 3; ++d) EXPECT_EQ(s.point(static_cast<uint64_t>(i))[static_cast<std::size_t>(d)], expected[i][d]) << i << "," << d;
}

// Every dimension is a (0, m, 1)-net: the first 2^m points put one point in each interval of
// width 2^-m. The first two dimensions are a (0, m, 2)-net: one point in every elementary box of
// area 2^-m. A digital shift keeps both.
TEST(SobolTest, PointsAreStratifiedInEveryDimensionAndInTheFirstPlane) {
  for (std::optional<uint64_t> scramble : {std::optional<uint64_t>(), std::optional<uint64_t>(7)}) {
    const SobolSequence s(SobolSequence::kMaxDimensions, scramble);
    ASSERT_EQ(s.dimensions(), SobolSequence::kMaxDimensions);
    const int m = 9, n = 1 << m;
    std::vector<std::vector<double>> pts;
    for (int i = 0; i < n; ++i) pts.push_back(s.point(static_cast<uint64_t>(i)));
    for (std::size_t d = 0; d < s.dimensions(); ++d) {
      std::set<int> cells;
      for (const auto& p : pts) cells.insert(static_cast<int>(p[d] * n));
      EXPECT_EQ(static_cast<int>(cells.size()), n) << "dimension " << d << (scramble ? " (scrambled)" : "");
    }
    for (int a = 0; a <= m; ++a) {
      std::set<std::pair<int, int>> boxes;
      for (const auto& p : pts) boxes.insert({static_cast<int>(p[0] * (1 << a)), static_cast<int>(p[1] * (1 << (m - a)))});
      EXPECT_EQ(static_cast<int>(boxes.size()), n) << "boxes 2^-" << a << " x 2^-" << (m - a);
    }
  }
  EXPECT_NE(SobolSequence(2, 7).point(3), SobolSequence(2, std::nullopt).point(3));
}

// Low discrepancy: the L2-star discrepancy (Warnock's formula) of 256 Sobol points in 5
// dimensions is well under that of 256 random points.
TEST(SobolTest, DiscrepancyIsLowerThanRandomPoints) {
  auto l2_star = [](const std::vector<std::vector<double>>& x) {
    const double n = static_cast<double>(x.size());
    const std::size_t d = x[0].size();
    double a = 0, b = 0;
    for (const auto& p : x) {
      double prod = 1;
      for (double v : p) prod *= (1 - v * v) / 2;
      a += prod;
      for (const auto& q : x) {
        double pq = 1;
        for (std::size_t k = 0; k < d; ++k) pq *= 1 - std::max(p[k], q[k]);
        b += pq;
      }
    }
    return std::sqrt(std::pow(3.0, -static_cast<double>(d)) - 2 * a / n + b / (n * n));
  };
  const SobolSequence s(5, std::nullopt);
  std::vector<std::vector<double>> sobol, random;
  Rng rng(3);
  for (int i = 1; i <= 256; ++i) {
    sobol.push_back(s.point(static_cast<uint64_t>(i)));
    std::vector<double> r(5);
    for (double& v : r) v = rng.uniform();
    random.push_back(r);
  }
  EXPECT_LT(l2_star(sobol), 0.5 * l2_star(random)) << l2_star(sobol) << " against " << l2_star(random);
}

TEST(SuggestTest, SobolSuggestsTheSequenceFromItsSecondPointUnlessScrambled) {
  const SearchSpace space = plane();
  auto s = make_suggester(algorithm("sobol"), space, 1);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  std::vector<TrialView> trials;
  const double expected[3][2] = {{0.5, 0.5}, {0.75, 0.25}, {0.25, 0.75}};
  for (const auto& e : expected) {
    const Suggestion next = (*s)->next(trials);
    ASSERT_EQ(next.kind, Suggestion::Kind::kTrial);
    EXPECT_EQ(std::stod(next.assignment[0].second), e[0]);
    EXPECT_EQ(std::stod(next.assignment[1].second), e[1]);
    trials.push_back({next.assignment, TrialView::State::kDone, 0, {}, {}});
  }
  auto scrambled = make_suggester(algorithm("sobol", {{"random_state", "5"}}), space, 1);
  ASSERT_TRUE(scrambled.is_ok());
  EXPECT_NE((*scrambled)->next({}).assignment, (*make_suggester(algorithm("sobol"), space, 1))->next({}).assignment);
  auto bad = make_suggester(algorithm("sobol", {{"scramble", "yes"}}), space, 1);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("(scramble)"), std::string::npos) << bad.status().message();
  EXPECT_LT(best_after("sobol", 64, 1), best_after("random", 64, 1) * 4) << "it searches, as random does";
}

TEST(SuggestTest, SettingsAreCheckedByNameAndValue) {
  auto unknown = make_suggester(algorithm("tpe", {{"n_startup_trials", "5"}, {"bogus", "1"}}), plane(), 1);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("algorithmSettings[1] (bogus)"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("n_ei_candidates"), std::string::npos);
  auto bad = make_suggester(algorithm("tpe", {{"gamma", "1.5"}}), plane(), 1);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("found \"1.5\""), std::string::npos) << bad.status().message();
  auto acq = make_suggester(algorithm("bayesianoptimization", {{"acq_func", "pi"}}), plane(), 1);
  ASSERT_FALSE(acq.is_ok());
  EXPECT_NE(acq.status().message().find("expected one of ei, EI"), std::string::npos) << acq.status().message();
  auto hb = make_suggester(algorithm("hyperband", {{"resource_name", "epochs"}, {"r_l", "9"}}), plane(), 1);
  ASSERT_FALSE(hb.is_ok());
  EXPECT_NE(hb.status().message().find("expected an int or double parameter (x, y), found \"epochs\""),
            std::string::npos)
      << hb.status().message();
  EXPECT_TRUE(make_suggester(algorithm("random", {{"random_state", "42"}}), plane(), 1).is_ok());
}

TEST(SuggestTest, ModelBasedAlgorithmsBeatRandomSearchOnABowl) {
  // Over five seeds, each algorithm's median best loss after 40 trials is well below random's.
  auto median_best = [](const std::string& name) {
    std::vector<double> v;
    for (uint64_t seed = 1; seed <= 5; ++seed) v.push_back(best_after(name, 40, seed));
    std::sort(v.begin(), v.end());
    return v[2];
  };
  const double random = median_best("random");
  EXPECT_GT(random, 1e-4);
  for (const char* name : {"tpe", "multivariate-tpe", "bayesianoptimization", "cmaes"}) {
    const double best = median_best(name);
    EXPECT_LT(best, random / 3) << name << " " << best << " vs random " << random;
  }
  EXPECT_LT(median_best("bayesianoptimization"), 1e-3);
}

TEST(SuggestTest, TheSameTrialsGiveTheSameSuggestion) {
  for (const char* name : {"random", "tpe", "bayesianoptimization", "cmaes"}) {
    const SearchSpace space = plane();
    std::vector<TrialView> trials;
    auto first = make_suggester(algorithm(name), space, 3);
    for (int i = 0; i < 15; ++i) {
      const Suggestion s = (*first)->next(trials);
      trials.push_back({s.assignment, TrialView::State::kDone, bowl(s.assignment), {}, {}});
    }
    // A fresh suggester (a resumed experiment) gives what the first one gives now.
    auto second = make_suggester(algorithm(name), space, 3);
    EXPECT_EQ((*first)->next(trials).assignment, (*second)->next(trials).assignment) << name;
  }
}

TEST(SuggestTest, RunningTrialsAreNotSuggestedAgain) {
  // The constant liar: with the last suggestion still running, the next one is elsewhere.
  for (const char* name : {"tpe", "multivariate-tpe", "bayesianoptimization"}) {
    const SearchSpace space = plane();
    auto s = make_suggester(algorithm(name), space, 5);
    std::vector<TrialView> trials;
    for (int i = 0; i < 20; ++i) {
      const Suggestion next = (*s)->next(trials);
      trials.push_back({next.assignment, TrialView::State::kDone, bowl(next.assignment), {}, {}});
    }
    std::set<Assignment> seen;
    for (int i = 0; i < 3; ++i) {
      const Suggestion next = (*s)->next(trials);
      EXPECT_TRUE(seen.insert(next.assignment).second) << name;
      trials.push_back({next.assignment, TrialView::State::kRunning, 0, {}, {}});
    }
  }
}

TEST(SuggestTest, CategoricalParametersConvergeOnTheBestValue) {
  jobs::ParameterSpec opt;
  opt.name = "optimizer";
  opt.type = jobs::ParameterType::kCategorical;
  opt.feasible_space.list = {"sgd", "adam", "rmsprop", "adagrad"};
  const SearchSpace space = *SearchSpace::from({opt, real("lr", "0", "1")});
  for (const char* name : {"tpe", "multivariate-tpe", "bayesianoptimization"}) {
    auto s = make_suggester(algorithm(name), space, 9);
    std::vector<TrialView> trials;
    int adam_late = 0;
    for (int i = 0; i < 60; ++i) {
      const Suggestion next = (*s)->next(trials);
      const bool adam = next.assignment[0].second == "adam";
      if (i >= 40) adam_late += adam;
      const double lr = std::stod(next.assignment[1].second);
      trials.push_back({next.assignment, TrialView::State::kDone, (adam ? 0.0 : 1.0) + (lr - 0.5) * (lr - 0.5), {}, {}});
    }
    EXPECT_GE(adam_late, 12) << name;  // of the last 20 (random: 5)
  }
}

TEST(SuggestTest, GridEndsWhenEveryPointWasTried) {
  jobs::ParameterSpec x = real("x", "0", "1");
  x.feasible_space.step = "0.5";
  auto s = make_suggester(algorithm("grid"), *SearchSpace::from({x}), 1);
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ((*s)->limit(), 3u);
  std::vector<TrialView> trials;
  std::vector<std::string> values;
  for (Suggestion next; (next = (*s)->next(trials)).kind == Suggestion::Kind::kTrial;) {
    values.push_back(next.assignment[0].second);
    trials.push_back({next.assignment, TrialView::State::kDone, 0, {}, {}});
  }
  EXPECT_EQ(values, (std::vector<std::string>{"0", "0.5", "1"}));
}

TEST(SuggestTest, HyperbandRunsSuccessiveHalvingBrackets) {
  jobs::ParameterSpec epochs;
  epochs.name = "epochs";
  epochs.type = jobs::ParameterType::kInt;
  epochs.feasible_space.min = "1";
  epochs.feasible_space.max = "9";
  const SearchSpace space = *SearchSpace::from({real("lr", "0", "1"), epochs});
  auto s = make_suggester(algorithm("hyperband", {{"resource_name", "epochs"}, {"r_l", "9"}, {"eta", "3"}}), space, 2);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  // s_max = 2: bracket 2 is 9 trials at 1 epoch, 3 at 3, 1 at 9; bracket 1 is 5 at 3, 1 at 9;
  // bracket 0 is 3 at 9.
  EXPECT_EQ((*s)->limit(), 22u);
  std::vector<TrialView> trials;
  std::vector<std::string> resources;
  auto loss = [](const Assignment& a) { return std::abs(std::stod(a[0].second) - 0.25); };
  while (true) {
    Suggestion next = (*s)->next(trials);
    if (next.kind == Suggestion::Kind::kEnd) break;
    ASSERT_EQ(next.kind, Suggestion::Kind::kTrial);
    resources.push_back(next.assignment[1].second);
    trials.push_back({next.assignment, TrialView::State::kRunning, 0, {}, {}});
    // Rung 1 needs rung 0: with its trials still running, hyperband waits.
    if (trials.size() == 9) {
      EXPECT_EQ((*s)->next(trials).kind, Suggestion::Kind::kWait);
    }
    for (auto& t : trials)
      if (t.state == TrialView::State::kRunning) t = {t.assignment, TrialView::State::kDone, loss(t.assignment), {}, {}};
  }
  EXPECT_EQ(resources, (std::vector<std::string>{"1", "1", "1", "1", "1", "1", "1", "1", "1", "3", "3", "3", "9",
                                                  "3", "3", "3", "3", "3", "9", "9", "9", "9"}));
  // Rung 1 of bracket 2 carries on the three best learning rates of rung 0, best first.
  std::vector<std::pair<double, std::string>> rung0;
  for (int i = 0; i < 9; ++i) rung0.emplace_back(loss(trials[static_cast<std::size_t>(i)].assignment), trials[static_cast<std::size_t>(i)].assignment[0].second);
  std::sort(rung0.begin(), rung0.end());
  for (int j = 0; j < 3; ++j) EXPECT_EQ(trials[static_cast<std::size_t>(9 + j)].assignment[0].second, rung0[static_cast<std::size_t>(j)].second);
  EXPECT_EQ(trials[12].assignment[0].second, rung0[0].second);
}

TEST(SuggestTest, CmaesWaitsForItsGenerationThenMovesTowardTheMinimum) {
  auto s = make_suggester(algorithm("cmaes"), plane(), 4);
  ASSERT_TRUE(s.is_ok());
  std::vector<TrialView> trials;
  // lambda = 4 + floor(3 ln 2) = 6: six suggestions, then a wait while they run.
  for (int i = 0; i < 6; ++i) {
    const Suggestion next = (*s)->next(trials);
    ASSERT_EQ(next.kind, Suggestion::Kind::kTrial) << i;
    trials.push_back({next.assignment, TrialView::State::kRunning, 0, {}, {}});
  }
  EXPECT_EQ((*s)->next(trials).kind, Suggestion::Kind::kWait);
  for (auto& t : trials) t = {t.assignment, TrialView::State::kDone, bowl(t.assignment), {}, {}};
  EXPECT_EQ((*s)->next(trials).kind, Suggestion::Kind::kTrial);
  EXPECT_LT(best_after("cmaes", 120, 4), 1e-3);
}

// ---- multi-objective: Pareto utilities and NSGA-II ----------------------------------------------

TEST(ParetoTest, RanksFrontsCrowdingAndHypervolume) {
  const std::vector<Objectives> p = {{1, 3}, {2, 2}, {3, 1}, {2, 3}, {3, 3}, {1, 3}};
  EXPECT_TRUE(dominates(p[1], p[3]));
  EXPECT_FALSE(dominates(p[0], p[5])) << "equal points do not dominate each other";
  EXPECT_FALSE(dominates(p[0], p[2]));
  EXPECT_EQ(pareto_ranks(p), (std::vector<int>{0, 0, 0, 1, 2, 0}));
  EXPECT_EQ(pareto_front(p), (std::vector<std::size_t>{0, 1, 2, 5}));
  const auto crowd = crowding_distances(p, pareto_ranks(p));
  EXPECT_TRUE(std::isinf(crowd[2])) << "a front's ends are kept first";
  EXPECT_DOUBLE_EQ(hypervolume_2d(p, {4, 4}), 3 * 1 + 2 * 1 + 1 * 1);
  EXPECT_DOUBLE_EQ(hypervolume_2d({{5, 0}}, {4, 4}), 0.0) << "a point beyond the reference counts nothing";
  EXPECT_DOUBLE_EQ(hypervolume_2d({}, {4, 4}), 0.0);
}

namespace {

// ZDT1 (Zitzler, Deb and Thiele, 2000) in d dimensions: its Pareto front is f2 = 1 - sqrt(f1).
Objectives zdt1(const Assignment& a) {
  const double f1 = std::stod(a.at(0).second);
  double g = 0;
  for (std::size_t i = 1; i < a.size(); ++i) g += std::stod(a[i].second);
  g = 1 + 9 * g / static_cast<double>(a.size() - 1);
  return {f1, g * (1 - std::sqrt(f1 / g))};
}

SearchSpace cube(int d) {
  std::vector<jobs::ParameterSpec> ps;
  for (int i = 0; i < d; ++i) ps.push_back(real("x" + std::to_string(i), "0", "1"));
  return *SearchSpace::from(ps);
}

double zdt1_hypervolume(Suggester& s, int budget) {
  std::vector<TrialView> trials;
  std::vector<Objectives> seen;
  while (static_cast<int>(trials.size()) < budget) {
    const Suggestion next = s.next(trials);
    EXPECT_EQ(next.kind, Suggestion::Kind::kTrial);
    TrialView t{next.assignment, TrialView::State::kDone, 0, zdt1(next.assignment), {}};
    seen.push_back(t.losses);
    trials.push_back(std::move(t));
  }
  return hypervolume_2d(seen, {1.1, 1.1});
}

}  // namespace

TEST(Nsga2Test, BeatsRandomSearchOnZdt1AndWaitsForItsGeneration) {
  const SearchSpace space = cube(6);
  int wins = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto nsga = make_nsga2(space, {20, 0.9, seed});
    auto random = make_suggester(algorithm("random"), space, seed);
    ASSERT_TRUE(random.is_ok());
    wins += zdt1_hypervolume(*nsga, 1000) > zdt1_hypervolume(**random, 1000);
  }
  // At 1000 trials (50 generations) NSGA-II's front dominates several times the area of random
  // search's; at 200 it does not yet (noted in issue 28's closing note: MOTPE is for small budgets).
  EXPECT_GE(wins, 4) << "NSGA-II's front dominates more of the space than random search's in most seeds";
  // The second generation waits for the first to end, and is the same for the same trials.
  auto nsga = make_nsga2(space, {4, 0.9, 9});
  std::vector<TrialView> trials;
  for (int i = 0; i < 4; ++i) {
    const Suggestion next = nsga->next(trials);
    trials.push_back({next.assignment, TrialView::State::kRunning, 0, {}, {}});
  }
  EXPECT_EQ(nsga->next(trials).kind, Suggestion::Kind::kWait);
  for (auto& t : trials) t.state = TrialView::State::kDone, t.losses = zdt1(t.assignment);
  trials[2].state = TrialView::State::kFailed, trials[2].losses.clear();
  const Suggestion bred = nsga->next(trials);
  ASSERT_EQ(bred.kind, Suggestion::Kind::kTrial);
  EXPECT_EQ(bred.note, "generation 1");
  EXPECT_EQ(make_nsga2(space, {4, 0.9, 9})->next(trials).assignment, bred.assignment) << "a function of the trials";
}

TEST(MotpeTest, TpeWithTwoObjectivesSpreadsAlongTheFrontBetterThanRandom) {
  // A front from (0, 1) to (1, 0): f1 = x, f2 = 1 - sqrt(x) + 4 (y - 0.5)^2.
  auto f = [](const Assignment& a) {
    const double x = std::stod(a[0].second), y = std::stod(a[1].second);
    return Objectives{x, 1 - std::sqrt(x) + 4 * (y - 0.5) * (y - 0.5)};
  };
  auto hypervolume_after = [&](const std::string& name, uint64_t seed) {
    auto s = make_suggester(algorithm(name), plane(), seed, 2);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    std::vector<TrialView> trials;
    std::vector<Objectives> seen;
    for (int i = 0; i < 60; ++i) {
      TrialView t;
      t.assignment = (*s)->next(trials).assignment;
      t.state = TrialView::State::kDone;
      t.losses = f(t.assignment);
      t.loss = t.losses[0];
      seen.push_back(t.losses);
      trials.push_back(t);
    }
    return hypervolume_2d(seen, {1.1, 1.1});
  };
  int wins = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) wins += hypervolume_after("tpe", seed) > hypervolume_after("random", seed);
  EXPECT_GE(wins, 4);
  auto cmaes = make_suggester(algorithm("cmaes"), plane(), 1, 2);
  ASSERT_FALSE(cmaes.is_ok());
  EXPECT_NE(cmaes.status().message().find("cmaes searches one objective"), std::string::npos) << cmaes.status().message();
}

// ---- pbt ----------------------------------------------------------------------------------------

namespace {

std::unique_ptr<Suggester> pbt(std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> settings = {
      {"suggestion_trial_dir", "/var/log/katib/checkpoints/"}, {"n_population", "5"}, {"truncation_threshold", "0.4"}};
  settings.insert(settings.end(), extra.begin(), extra.end());
  auto s = make_suggester(algorithm("pbt", settings), plane(), 3);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  return std::move(*s);
}

TrialView view(const Suggestion& s, TrialView::State state, double loss) {
  TrialView t;
  t.assignment = s.assignment;
  t.state = state;
  t.loss = loss;
  t.lineage = *s.lineage;
  return t;
}

}  // namespace

TEST(PbtTest, SettingsAreKatibs) {
  const SearchSpace space = plane();
  auto missing = make_suggester(algorithm("pbt", {{"n_population", "8"}, {"truncation_threshold", "0.2"}}), space, 1);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("suggestion_trial_dir"), std::string::npos) << missing.status().message();
  auto small = make_suggester(algorithm("pbt", {{"suggestion_trial_dir", "/ckpt"}, {"n_population", "4"},
                                                {"truncation_threshold", "0.2"}}),
                              space, 1);
  ASSERT_FALSE(small.is_ok());
  EXPECT_NE(small.status().message().find("algorithmSettings[1] (n_population): expected an integer in [5"),
            std::string::npos)
      << small.status().message();
  auto threshold = make_suggester(algorithm("pbt", {{"suggestion_trial_dir", "/ckpt"}, {"n_population", "8"},
                                                    {"truncation_threshold", "1.5"}}),
                                  space, 1);
  ASSERT_FALSE(threshold.is_ok());
  EXPECT_NE(threshold.status().message().find("found \"1.5\""), std::string::npos) << threshold.status().message();
}

TEST(PbtTest, WeakestMembersExploitTheStrongestAndTheRestContinue) {
  auto s = pbt();
  std::vector<TrialView> trials;
  for (int m = 0; m < 5; ++m) {
    const Suggestion next = s->next(trials);
    ASSERT_EQ(next.kind, Suggestion::Kind::kTrial);
    ASSERT_TRUE(next.lineage);
    EXPECT_EQ(next.lineage->generation, 0);
    EXPECT_EQ(next.lineage->member, m);
    EXPECT_FALSE(next.lineage->parent);
    trials.push_back(view(next, TrialView::State::kRunning, 0));
  }
  EXPECT_EQ(s->next(trials).kind, Suggestion::Kind::kWait);  // the generation has not ended
  // Losses 4, 0, 3, 1, 2: members 1 and 3 are the strongest two, 0 and 2 the weakest.
  const double losses[] = {4, 0, 3, 1, 2};
  for (int m = 0; m < 5; ++m) {
    trials[static_cast<std::size_t>(m)].state = TrialView::State::kDone;
    trials[static_cast<std::size_t>(m)].loss = losses[m];
  }
  for (int m = 0; m < 5; ++m) {
    const Suggestion next = s->next(trials);
    ASSERT_EQ(next.kind, Suggestion::Kind::kTrial);
    EXPECT_EQ(next.lineage->generation, 1);
    EXPECT_EQ(next.lineage->member, m);
    ASSERT_TRUE(next.lineage->parent);
    const std::size_t parent = *next.lineage->parent;
    if (m == 0 || m == 2) {
      EXPECT_TRUE(parent == 1 || parent == 3) << "member " << m << " exploits " << parent;
      for (std::size_t d = 0; d < 2; ++d) {  // explored: 0.8 or 1.2 times the parent's, within [0, 1]
        const double from = std::stod(trials[parent].assignment[d].second);
        const double to = std::stod(next.assignment[d].second);
        EXPECT_TRUE(std::abs(to - from * 0.8) < 1e-9 || std::abs(to - std::min(1.0, from * 1.2)) < 1e-9)
            << from << " -> " << to;
      }
    } else {
      EXPECT_EQ(parent, static_cast<std::size_t>(m));
      EXPECT_EQ(next.assignment, trials[static_cast<std::size_t>(m)].assignment);
    }
    trials.push_back(view(next, TrialView::State::kRunning, 0));
  }
  // A member of generation 1 fails: it runs again with the same values and parent.
  trials[7].state = TrialView::State::kFailed;
  const Suggestion again = s->next(trials);
  ASSERT_EQ(again.kind, Suggestion::Kind::kTrial);
  EXPECT_EQ(again.lineage->generation, 1);
  EXPECT_EQ(again.lineage->member, 2);
  EXPECT_EQ(again.lineage->parent, trials[7].lineage.parent);
  EXPECT_EQ(again.assignment, trials[7].assignment);
  // The same trial list gives the same suggestion (a resumed experiment goes on the same way).
  EXPECT_EQ(pbt()->next(trials).assignment, again.assignment);
}

TEST(PbtTest, ExploreResamplesOrMovesListValuesToANeighbour) {
  jobs::ParameterSpec choice;
  choice.name = "width";
  choice.type = jobs::ParameterType::kCategorical;
  choice.feasible_space.list = {"128", "256", "512"};
  const SearchSpace space = *SearchSpace::from({real("lr", "0.01", "0.1"), choice});
  const Assignment start = {{"lr", "0.05"}, {"width", "512"}};
  PbtOptions o;
  std::set<std::string> widths;
  for (uint64_t k = 0; k < 50; ++k) {
    Rng rng(k);
    const Assignment a = pbt_explore(space, start, o, rng);
    widths.insert(a[1].second);
    const double lr = std::stod(a[0].second);
    EXPECT_TRUE(std::abs(lr - 0.04) < 1e-12 || std::abs(lr - 0.06) < 1e-12) << lr;
  }
  EXPECT_EQ(widths, (std::set<std::string>{"256", "128"}));  // 512's neighbours: 256, and 128 by wrapping
  o.resample_probability = 0.0;
  Rng keep(1);
  EXPECT_EQ(pbt_explore(space, start, o, keep), start);
  o.resample_probability = 1.0;
  int changed = 0;
  for (uint64_t k = 0; k < 20; ++k) {
    Rng rng(k);
    changed += pbt_explore(space, start, o, rng)[0].second != "0.05";
  }
  EXPECT_EQ(changed, 20);
}
