#include "worker/checkpoint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "common/files.h"

namespace ringmaster::worker {
namespace {

constexpr std::string_view kMagic = "RMCKPT01";
constexpr int kFormatVersion = 1;
constexpr std::size_t kMaxMetadata = 16u << 20;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
void append_floats(std::string& out, std::span<const float> v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

}  // namespace

std::string encode_checkpoint(const Model& model, Optimizer& optimizer, const TrainState& state) {
  nlohmann::json meta;
  meta["format_version"] = kFormatVersion;
  meta["model"] = model.spec();
  nlohmann::json params = nlohmann::json::array();
  for (const ParamInfo& p : model.param_infos()) params.push_back({{"name", p.name}, {"shape", p.shape}});
  meta["params"] = params;
  meta["optimizer"] = optimizer.name();
  meta["optimizer_steps"] = optimizer.step_count();
  meta["epoch"] = state.epoch;
  meta["batch_in_epoch"] = state.batch_in_epoch;
  meta["global_step"] = state.global_step;
  meta["seed"] = state.seed;
  meta["rng"] = state.rng;
  meta["epoch_loss_sum"] = state.epoch_loss_sum;
  meta["epoch_samples"] = state.epoch_samples;
  meta["epoch_correct"] = state.epoch_correct;
  meta["best_accuracy"] = state.best_accuracy;
  nlohmann::json buffers = nlohmann::json::array();
  buffers.push_back({{"name", "params"}, {"floats", model.param_count()}});
  auto opt_state = optimizer.state();
  for (const auto& [name, span] : opt_state) buffers.push_back({{"name", name}, {"floats", span.size()}});
  meta["buffers"] = buffers;
  const std::string json = meta.dump();

  std::string out;
  out.reserve(64 + json.size() + static_cast<std::size_t>(model.param_count()) * 4 * (1 + opt_state.size()));
  out.append(kMagic);
  put_u64(out, json.size());
  out.append(json);
  append_floats(out, model.params());
  for (const auto& entry : opt_state) append_floats(out, entry.second);
  const uint32_t crc = crc32_of(out);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

namespace {

// Whether the metadata's model spec, parameter names and shapes and optimizer are this run's.
// Throws nlohmann::json::exception for a missing field or a wrong type (the caller reports it).
Status check_written_for(const nlohmann::json& meta, const std::string& path, const Model& model,
                         const Optimizer& optimizer) {
  const std::string spec = meta.at("model").get<std::string>();
  if (spec != model.spec())
    return invalid_argument(fmt::format("{}: written for model {}, but this run trains {}", path, spec, model.spec()));
  const auto& params = meta.at("params");
  const auto& infos = model.param_infos();
  if (params.size() != infos.size())
    return invalid_argument(fmt::format("{}: has {} parameter tensors, the model has {}", path, params.size(),
                                        infos.size()));
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const Shape shape = params[i].at("shape").get<Shape>();
    const std::string name = params[i].at("name").get<std::string>();
    if (name != infos[i].name || shape != infos[i].shape)
      return invalid_argument(fmt::format("{}: parameter {} is {} {}, the model expects {} {}", path, i, name,
                                          shape_string(shape), infos[i].name, shape_string(infos[i].shape)));
  }
  const std::string opt = meta.at("optimizer").get<std::string>();
  if (opt != optimizer.name())
    return invalid_argument(fmt::format("{}: holds {} optimizer state, but this run uses --optimizer {}", path, opt,
                                        optimizer.name()));
  return Status::ok();
}

// Where training stood. Throws as check_written_for does.
TrainState read_position(const nlohmann::json& meta) {
  TrainState next;
  next.epoch = meta.at("epoch").get<int64_t>();
  next.batch_in_epoch = meta.at("batch_in_epoch").get<int64_t>();
  next.global_step = meta.at("global_step").get<int64_t>();
  next.seed = meta.at("seed").get<uint64_t>();
  next.rng = meta.at("rng").get<Rng::State>();
  next.epoch_loss_sum = meta.at("epoch_loss_sum").get<double>();
  next.epoch_samples = meta.at("epoch_samples").get<int64_t>();
  next.epoch_correct = meta.at("epoch_correct").get<int64_t>();
  next.best_accuracy = meta.at("best_accuracy").get<double>();
  return next;
}

}  // namespace

Status decode_checkpoint(std::string_view bytes, const std::string& path, Model& model, Optimizer& optimizer,
                         TrainState& state) {
  auto fail = [&](const std::string& msg) { return data_loss(path + ": " + msg); };
  if (bytes.size() < kMagic.size() + 8 + 4 || bytes.substr(0, kMagic.size()) != kMagic)
    return fail("not a ringmaster checkpoint (expected the magic \"RMCKPT01\" and at least 20 bytes)");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  uint32_t stored = 0;
  for (int i = 3; i >= 0; --i) stored = (stored << 8) | static_cast<uint8_t>(bytes[body.size() + static_cast<std::size_t>(i)]);
  if (const uint32_t actual = crc32_of(body); actual != stored)
    return fail(fmt::format("checksum mismatch (stored CRC-32 {:08x}, content has {:08x}): the file is corrupt or "
                            "truncated",
                            stored, actual));
  const uint64_t json_len = get_u64(body.data() + kMagic.size());
  const std::size_t header = kMagic.size() + 8;
  if (json_len > kMaxMetadata || json_len > body.size() - header)
    return fail(fmt::format("metadata length {} exceeds the file", json_len));
  nlohmann::json meta = nlohmann::json::parse(body.substr(header, json_len), nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return fail("metadata is not a JSON object");
  try {
    if (meta.at("format_version").get<int>() != kFormatVersion)
      return fail(fmt::format("format version {} is not supported (expected {})", meta.at("format_version").dump(),
                              kFormatVersion));
    if (Status s = check_written_for(meta, path, model, optimizer); !s) return s;
    auto opt_state = optimizer.state();
    const auto& buffers = meta.at("buffers");
    if (buffers.size() != 1 + opt_state.size())
      return fail(fmt::format("expected {} buffers, found {}", 1 + opt_state.size(), buffers.size()));
    std::vector<std::span<float>> targets = {model.params()};
    for (auto& entry : opt_state) targets.push_back(entry.second);
    std::size_t offset = header + json_len;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto floats = buffers[i].at("floats").get<uint64_t>();
      if (floats != targets[i].size())
        return fail(fmt::format("buffer {} holds {} floats, expected {}", buffers[i].at("name").dump(), floats,
                                targets[i].size()));
      offset += floats * sizeof(float);
    }
    if (offset != body.size())
      return fail(fmt::format("expected {} bytes before the checksum, found {}", offset, body.size()));
    const TrainState next = read_position(meta);
    const auto opt_steps = meta.at("optimizer_steps").get<int64_t>();
    if (next.epoch < 0 || next.batch_in_epoch < 0 || next.global_step < 0 || opt_steps < 0)
      return fail("negative epoch, batch or step in metadata");
    // Everything checked: now overwrite.
    offset = header + json_len;
    for (auto& t : targets) {
      std::memcpy(t.data(), body.data() + offset, t.size() * sizeof(float));
      offset += t.size() * sizeof(float);
    }
    optimizer.set_step_count(opt_steps);
    state = next;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("metadata is missing a field or has a wrong type: ") + e.what());
  }
  return Status::ok();
}

std::string checkpoint_path(const std::string& dir, int64_t global_step) {
  return (std::filesystem::path(dir) / fmt::format("ckpt-{:010d}.rmck", global_step)).string();
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 20 && name.starts_with("ckpt-") && name.ends_with(".rmck") &&
        std::all_of(name.begin() + 5, name.begin() + 15, [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(entry.path().string());
  }
  std::sort(out.rbegin(), out.rend());  // zero-padded steps sort as text
  return out;
}

Status save_checkpoint(const std::string& dir, const Model& model, Optimizer& optimizer, const TrainState& state,
                       int keep) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return invalid_argument(fmt::format("--checkpoint-dir {}: cannot create: {}", dir, ec.message()));
  const std::string path = checkpoint_path(dir, state.global_step);
  if (auto s = write_file_atomic(path, encode_checkpoint(model, optimizer, state)); !s) return s;
  auto all = list_checkpoints(dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < all.size(); ++i)
    std::filesystem::remove(all[i], ec);
  return Status::ok();
}

Result<ResumeResult> resume_from(const std::string& dir, Model& model, Optimizer& optimizer, TrainState& state) {
  ResumeResult r;
  for (const std::string& path : list_checkpoints(dir)) {
    auto bytes = read_file(path, std::size_t{16} << 30);
    Status s = bytes ? decode_checkpoint(*bytes, path, model, optimizer, state) : bytes.status();
    if (s) {
      r.path = path;
      return r;
    }
    r.rejected.push_back(s.message());
  }
  if (!r.rejected.empty()) {
    std::string msg = fmt::format("--resume: no usable checkpoint in {}:", dir);
    for (const auto& why : r.rejected) msg += "\n  " + why;
    return data_loss(msg);
  }
  return r;
}

}  // namespace ringmaster::worker
