#include "worker/model.h"

#include <fmt/format.h>

#include <charconv>

#include "common/strings.h"

namespace ringmaster::worker {
namespace {

Result<std::vector<int64_t>> parse_widths(const std::string& spec, const std::string& text) {
  std::vector<int64_t> out;
  for (const std::string& part : split(text, '-')) {
    const int64_t v = parse_int<int64_t>(part).value_or(0);
    if (v <= 0 || v > (1 << 20))
      return invalid_argument(fmt::format("--model {}: expected positive integers separated by '-', found {}", spec,
                                          quote(part)));
    out.push_back(v);
  }
  return out;
}

}  // namespace

// The layers of `mlp` or `mlp:W0-W1-...-Wn` (args: the part after the colon); returns the
// normalized spec.
Result<std::string> Model::add_mlp(const std::string& spec, const std::string& args, int64_t features,
                                   int64_t num_classes, float dropout) {
  std::vector<int64_t> widths = {features, 512, 256, num_classes};
  if (!args.empty()) {
    auto w = parse_widths(spec, args);
    if (!w) return w.status();
    widths = *w;
  }
  if (widths.size() < 2)
    return invalid_argument(fmt::format("--model {}: expected at least two widths (input-output), found {}", spec,
                                        widths.size()));
  if (widths.front() != features)
    return invalid_argument(fmt::format("--model {}: the first width must be the input size {}, found {}", spec,
                                        features, widths.front()));
  if (widths.back() != num_classes)
    return invalid_argument(fmt::format("--model {}: the last width must be the class count {}, found {}", spec,
                                        num_classes, widths.back()));
  add("flatten", make_flatten());
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const bool last = i + 2 == widths.size();
    add(fmt::format("fc{}", i + 1), make_linear(widths[i], widths[i + 1], last ? Init::kGlorot : Init::kHe));
    if (!last) {
      add(fmt::format("relu{}", i + 1), make_relu());
      if (dropout > 0.0f) add(fmt::format("dropout{}", i + 1), make_dropout(dropout));
    }
  }
  std::vector<std::string> parts;
  for (int64_t w : widths) parts.push_back(std::to_string(w));
  return "mlp:" + join(parts, "-");
}

// The layers of `cnn` or `cnn:C1-C2-F`: two 5x5 convolutions with ReLU and 2x2 pooling, then two
// fully connected layers.
Result<std::string> Model::add_cnn(const std::string& spec, const std::string& args, int64_t num_classes,
                                   float dropout) {
  std::vector<int64_t> c = {32, 64, 128};
  if (!args.empty()) {
    auto w = parse_widths(spec, args);
    if (!w) return w.status();
    c = *w;
  }
  if (c.size() != 3)
    return invalid_argument(fmt::format("--model {}: expected cnn:C1-C2-F (two channel counts and a hidden width), "
                                        "found {} numbers", spec, c.size()));
  const Shape& s = sample_shape_;
  if (s.size() != 3 || s[1] < 4 || s[2] < 4)
    return invalid_argument(fmt::format("--model {}: expects image samples [C, H, W] of at least 4x4, found {}", spec,
                                        shape_string(s)));
  const int64_t flat = c[1] * (s[1] / 2 / 2) * (s[2] / 2 / 2);
  add("conv1", make_conv2d(s[0], c[0], 5, 2, Init::kHe));
  add("relu1", make_relu());
  add("pool1", make_maxpool2d(2));
  add("conv2", make_conv2d(c[0], c[1], 5, 2, Init::kHe));
  add("relu2", make_relu());
  add("pool2", make_maxpool2d(2));
  add("flatten", make_flatten());
  add("fc1", make_linear(flat, c[2], Init::kHe));
  add("relu3", make_relu());
  if (dropout > 0.0f) add("dropout3", make_dropout(dropout));
  add("fc2", make_linear(c[2], num_classes, Init::kGlorot));
  return fmt::format("cnn:{}-{}-{}", c[0], c[1], c[2]);
}

void Model::add(std::string name, std::unique_ptr<Layer> layer) {
  layer_names_.push_back(std::move(name));
  layers_.push_back(std::move(layer));
}

// Checks the shapes end to end and lays the parameters and their gradients out in one arena each.
Status Model::lay_out() {
  Shape shape = batch_shape(1, sample_shape_);
  int64_t total = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (Status s = layers_[i]->accepts(shape); !s) return invalid_argument(fmt::format("--model {}: {}", spec_, s.message()));
    shape = layers_[i]->output_shape(shape);
    layer_param_begin_.push_back(total);
    for (const ParamSpec& p : layers_[i]->param_specs()) {
      infos_.push_back({layer_names_[i] + "." + p.name, p.shape, total});
      total += shape_size(p.shape);
    }
  }
  params_ = AlignedBuffer(static_cast<std::size_t>(total));
  grads_ = AlignedBuffer(static_cast<std::size_t>(total));
  std::size_t info = 0;
  for (auto& layer : layers_) {
    std::vector<std::span<float>> values, grads;
    for (std::size_t k = layer->param_specs().size(); k > 0; --k) {
      const ParamInfo& pi = infos_[info++];
      const auto n = static_cast<std::size_t>(shape_size(pi.shape));
      values.push_back(params_.span().subspan(static_cast<std::size_t>(pi.offset), n));
      grads.push_back(grads_.span().subspan(static_cast<std::size_t>(pi.offset), n));
    }
    layer->bind(std::move(values), std::move(grads));
  }
  acts_.resize(layers_.size());
  // No layer below the first one with parameters needs its input gradient.
  while (first_trainable_ < layers_.size() && layers_[first_trainable_]->param_specs().empty()) ++first_trainable_;
  return Status::ok();
}

Result<std::unique_ptr<Model>> Model::create(const std::string& spec, const Shape& sample_shape, int64_t num_classes,
                                             float dropout) {
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return invalid_argument(fmt::format("--dropout: expected a probability in [0, 1), found {}", dropout));
  std::unique_ptr<Model> m(new Model());
  m->sample_shape_ = sample_shape;
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string args = colon == std::string::npos ? "" : spec.substr(colon + 1);
  Result<std::string> normalized = invalid_argument(fmt::format(
      "--model {}: expected mlp, mlp:W0-W1-...-Wn, cnn or cnn:C1-C2-F, found {}", spec, quote(kind)));
  if (kind == "mlp") normalized = m->add_mlp(spec, args, shape_size(sample_shape), num_classes, dropout);
  if (kind == "cnn") normalized = m->add_cnn(spec, args, num_classes, dropout);
  if (!normalized) return normalized.status();
  m->spec_ = *normalized;
  if (Status s = m->lay_out(); !s) return s;
  return m;
}

std::string Model::describe() const {
  std::string out = spec_ + "\n";
  Shape shape = batch_shape(1, sample_shape_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    shape = layers_[i]->output_shape(shape);
    int64_t n = 0;
    for (const ParamSpec& p : layers_[i]->param_specs()) n += shape_size(p.shape);
    Shape per_sample(shape.begin() + 1, shape.end());
    out += fmt::format("  {:<10} {:<28} out {:<16} params {}\n", layer_names_[i], layers_[i]->describe(),
                       shape_string(per_sample), n);
  }
  out += fmt::format("  total parameters: {}", param_count());
  return out;
}

void Model::init(uint64_t seed) {
  Rng rng(seed);
  for (auto& layer : layers_) layer->init(rng);
}

const Tensor& Model::forward(const Tensor& x, Context& ctx) {
  const Tensor* in = &x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(*in, acts_[i], ctx);
    in = &acts_[i];
  }
  return *in;
}

void Model::backward(const Tensor& x, const Tensor& grad_logits, Context& ctx, const GradsReady& ready) {
  const std::size_t first_trainable = first_trainable_;
  const Tensor* grad_out = &grad_logits;
  for (std::size_t i = layers_.size(); i-- > first_trainable;) {
    const Tensor& in = i == 0 ? x : acts_[i - 1];
    Tensor* grad_in = i == first_trainable ? nullptr : &grad_buf_[i % 2];
    layers_[i]->backward(in, acts_[i], *grad_out, grad_in, ctx);
    grad_out = grad_in;
    if (ready && !layers_[i]->param_specs().empty()) ready(layer_param_begin_[i]);
  }
}

int64_t Model::activation_floats(int64_t batch) const {
  Shape shape = batch_shape(batch, sample_shape_);
  int64_t total = 0, widest = 0;
  for (const auto& layer : layers_) {
    shape = layer->output_shape(shape);
    total += shape_size(shape);
    widest = std::max(widest, shape_size(shape));
  }
  return total + 2 * widest;
}

}  // namespace ringmaster::worker
