#include "worker/dataset.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "worker/balance.h"
#include "common/rng.h"

namespace ringmaster::worker {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes (or fewer at end of data); fails on a corrupt stream.
Result<std::size_t> read_some(gzFile f, uint8_t* dst, std::size_t n, const std::string& path) {
  std::size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      return data_loss(fmt::format("{}: corrupt gzip data: {}", path, msg ? msg : "read error"));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Opens an IDX file and checks the magic number and dimensions; returns the dimensions.
Result<std::vector<uint32_t>> open_idx(const std::string& path, uint32_t rank, GzFile& out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found(fmt::format("{}: no such file", path));
  out.reset(gzopen(path.c_str(), "rb"));
  if (!out) return not_found(fmt::format("{}: cannot open", path));
  std::array<uint8_t, 4 + 4 * 3> header{};
  const std::size_t want = 4 + 4 * rank;
  auto got = read_some(out.get(), header.data(), want, path);
  if (!got) return got.status();
  if (*got < want)
    return data_loss(fmt::format("{}: truncated IDX header: expected {} bytes, found {}", path, want, *got));
  const uint32_t magic = be32(header.data()), expected = 0x0800u | rank;
  if (magic != expected)
    return data_loss(fmt::format("{}: not an IDX file of unsigned bytes with {} dimensions: expected magic "
                                 "0x{:08x}, found 0x{:08x}",
                                 path, rank, expected, magic));
  std::vector<uint32_t> dims;
  for (uint32_t i = 0; i < rank; ++i) dims.push_back(be32(header.data() + 4 + 4 * i));
  return dims;
}

Status read_body(GzFile& f, const std::string& path, std::vector<uint8_t>& dst, std::size_t bytes) {
  dst.resize(bytes);
  auto got = read_some(f.get(), dst.data(), bytes, path);
  if (!got) return got.status();
  if (*got < bytes)
    return data_loss(fmt::format("{}: truncated: the header promises {} bytes of data, found {}", path, bytes, *got));
  uint8_t extra = 0;
  auto more = read_some(f.get(), &extra, 1, path);
  if (!more) return more.status();
  if (*more != 0)
    return data_loss(fmt::format("{}: {} bytes of data expected after the header, found more (trailing data)", path,
                                 bytes));
  return Status::ok();
}

}  // namespace

Result<Dataset> read_idx(const std::string& images_path, const std::string& labels_path, int64_t limit) {
  GzFile images, labels;
  auto idims = open_idx(images_path, 3, images);
  if (!idims) return idims.status();
  auto ldims = open_idx(labels_path, 1, labels);
  if (!ldims) return ldims.status();
  const uint32_t n = (*idims)[0], rows = (*idims)[1], cols = (*idims)[2];
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || n > 100'000'000)
    return data_loss(fmt::format("{}: implausible dimensions {} x {} x {} (expected at most 1e8 images of at most "
                                 "4096x4096)",
                                 images_path, n, rows, cols));
  if ((*ldims)[0] != n)
    return data_loss(fmt::format("{}: expected {} labels to match {}, found {}", labels_path, n, images_path,
                                 (*ldims)[0]));
  Dataset d;
  d.sample_shape = {1, rows, cols};
  d.count = n;
  if (auto s = read_body(images, images_path, d.pixels, std::size_t{n} * rows * cols); !s) return s;
  if (auto s = read_body(labels, labels_path, d.labels, n); !s) return s;
  for (std::size_t i = 0; i < d.labels.size(); ++i)
    if (d.labels[i] >= d.num_classes)
      return data_loss(fmt::format("{}: label {} is {}, expected a class in [0, {})", labels_path, i, d.labels[i],
                                   d.num_classes));
  if (limit > 0 && limit < d.count) {
    d.count = limit;
    d.pixels.resize(static_cast<std::size_t>(limit) * rows * cols);
    d.pixels.shrink_to_fit();
    d.labels.resize(static_cast<std::size_t>(limit));
  }
  return d;
}

Result<Dataset> load_fashion_mnist(const std::string& dir, Split split, int64_t limit) {
  const std::string stem = split == Split::kTrain ? "train" : "t10k";
  auto find = [&](const std::string& base) -> std::string {
    std::error_code ec;
    for (const std::string& name : {base + ".gz", base})
      if (std::filesystem::exists(std::filesystem::path(dir) / name, ec))
        return (std::filesystem::path(dir) / name).string();
    return "";
  };
  const std::string images = find(stem + "-images-idx3-ubyte"), labels = find(stem + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty())
    return not_found(fmt::format("Fashion-MNIST not found: {} has no {}-{}-idx{}-ubyte.gz; install it with "
                                 "`apt-get install dataset-fashion-mnist` or pass --data-dir DIR",
                                 dir, stem, images.empty() ? "images" : "labels", images.empty() ? 3 : 1));
  auto d = read_idx(images, labels, limit);
  if (!d) return d.status();
  d->name = "fashion-mnist/" + std::string(split == Split::kTrain ? "train" : "test");
  d->mean = 0.2860f;  // the training set's pixel mean and standard deviation
  d->stddev = 0.3530f;
  return d;
}

Dataset make_synthetic(int64_t count, uint64_t seed) {
  Dataset d;
  d.name = "synthetic";
  d.count = count;
  d.sample_shape = {1, 28, 28};
  d.mean = 0.5f;
  d.stddev = 0.29f;
  const int64_t size = d.sample_size();
  d.pixels.resize(static_cast<std::size_t>(count * size));
  d.labels.resize(static_cast<std::size_t>(count));
  Rng rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    // Class c brightens row band c, so the labels are learnable.
    const auto c = static_cast<uint8_t>(rng.below(10));
    d.labels[static_cast<std::size_t>(i)] = c;
    uint8_t* p = d.pixels.data() + i * size;
    for (int64_t j = 0; j < size; ++j) {
      const int64_t band = (j / 28) * 10 / 28;
      p[j] = static_cast<uint8_t>(rng.below(band == c ? 128 : 96) + (band == c ? 128 : 0));
    }
  }
  return d;
}

// ---- BatchLoader ----

struct BatchLoader::Shared {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::vector<Batch> slots;
  std::vector<uint32_t> order;  // sample indices for the epoch
  int64_t first = 0, end = 0;   // batch range of the epoch being produced
  int64_t produced = 0;         // batches filled (relative to first)
  int64_t released = 0;         // batches handed back by the consumer (relative to first)
  bool holding = false;         // consumer holds slot (released % depth)
  // Uneven shards: where batch i of this shard begins in `order` (one past the last at the end)
  // and the size of its global batch.
  std::vector<int64_t> begins, globals;
  std::array<float, 256> lut{};
};

BatchLoader::BatchLoader(const Dataset& data, Options options)
    : data_(data), options_(options), shared_(std::make_unique<Shared>()) {
  options_.depth = std::max(2, options_.depth);
  options_.batch_size = std::max<int64_t>(1, options_.batch_size);
  options_.shards = std::max(1, options_.shards);
  options_.shard = std::clamp(options_.shard, 0, options_.shards - 1);
  shared_->slots.resize(static_cast<std::size_t>(options_.depth));
  for (int v = 0; v < 256; ++v)
    shared_->lut[static_cast<std::size_t>(v)] = (static_cast<float>(v) / 255.0f - data.mean) / data.stddev;
}

BatchLoader::~BatchLoader() { stop(); }

void BatchLoader::stop() {
  if (worker_.joinable()) {
    worker_.request_stop();
    shared_->cv.notify_all();
    worker_.join();
  }
}

namespace {
// The padded permutation's length when sharding n samples over k shards.
int64_t padded_total(int64_t n, int64_t k) { return k <= 1 ? n : (n + k - 1) / k * k; }
}  // namespace

void BatchLoader::set_shard_batches(std::vector<int64_t> batches) { shard_batches_ = std::move(batches); }

// The sizes of global batch `index` on every shard (unequal sharding).
static std::vector<int64_t> block_split(const std::vector<int64_t>& batches, int64_t total, int64_t index) {
  int64_t global = 0;
  for (int64_t b : batches) global += b;
  const int64_t length = std::min(global, total - index * global);
  if (length == global) return batches;
  std::vector<double> weights(batches.begin(), batches.end());
  return split_proportionally(length, weights, length >= static_cast<int64_t>(batches.size()) ? 1 : 0);
}

int64_t BatchLoader::samples_per_epoch() const {
  const int64_t n = data_.count, k = options_.shards;
  if (k <= 1) return n;
  if (uneven()) {
    int64_t mine = 0;
    for (int64_t i = 0; i < batches_per_epoch(); ++i)
      mine += block_split(shard_batches_, padded_total(n, k), i)[static_cast<std::size_t>(options_.shard)];
    return mine;
  }
  if (options_.pad_shards) return (n + k - 1) / k;
  return n / k + (options_.shard < n % k ? 1 : 0);
}

int64_t BatchLoader::batches_per_epoch() const {
  if (uneven()) {
    int64_t global = 0;
    for (int64_t b : shard_batches_) global += b;
    return (padded_total(data_.count, options_.shards) + global - 1) / global;
  }
  return (samples_per_epoch() + options_.batch_size - 1) / options_.batch_size;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  Shared& s = *shared_;
  s.order.resize(static_cast<std::size_t>(data_.count));
  for (std::size_t i = 0; i < s.order.size(); ++i) s.order[i] = static_cast<uint32_t>(i);
  if (options_.shuffle) {
    Rng rng = Rng::derive(options_.seed, static_cast<uint64_t>(epoch));
    for (std::size_t i = s.order.size(); i > 1; --i) std::swap(s.order[i - 1], s.order[rng.below(i)]);
  }
  if (options_.shards > 1 && !s.order.empty() && uneven()) {
    // Lay out this shard's parts of every global block one after another, and remember where
    // each batch begins and how large its global block is.
    const int64_t total = padded_total(data_.count, options_.shards);
    int64_t global = 0;
    for (int64_t b : shard_batches_) global += b;
    std::vector<uint32_t> mine;
    s.begins.clear();
    s.globals.clear();
    for (int64_t i = 0; i < batches_per_epoch(); ++i) {
      const std::vector<int64_t> split = block_split(shard_batches_, total, i);
      int64_t at = i * global;
      for (int r = 0; r < options_.shard; ++r) at += split[static_cast<std::size_t>(r)];
      s.begins.push_back(static_cast<int64_t>(mine.size()));
      s.globals.push_back(std::min(global, total - i * global));
      for (int64_t j = 0; j < split[static_cast<std::size_t>(options_.shard)]; ++j)
        mine.push_back(s.order[static_cast<std::size_t>(at + j) % s.order.size()]);
    }
    s.begins.push_back(static_cast<int64_t>(mine.size()));
    s.order = std::move(mine);
  } else if (options_.shards > 1 && !s.order.empty()) {
    std::vector<uint32_t> mine(static_cast<std::size_t>(samples_per_epoch()));
    for (std::size_t k = 0; k < mine.size(); ++k) {
      const std::size_t position = static_cast<std::size_t>(options_.shard) + k * static_cast<std::size_t>(options_.shards);
      mine[k] = s.order[position % s.order.size()];  // past the end: the padding, from the beginning
    }
    s.order = std::move(mine);
  }
  s.first = std::min(first_batch, batches_per_epoch());
  s.end = batches_per_epoch();
  s.produced = s.released = 0;
  s.holding = false;
  const int64_t depth = options_.depth, bs = options_.batch_size, size = data_.sample_size();
  const auto samples = static_cast<int64_t>(s.order.size());
  const bool even = !uneven();
  const int64_t shards = options_.pad_shards ? options_.shards : 1;
  Shape shape = data_.sample_shape;
  worker_ = std::jthread([this, &s, depth, bs, size, samples, shape, even, shards](std::stop_token stop) {
    for (int64_t r = 0; s.first + r < s.end; ++r) {
      {
        std::unique_lock lock(s.mutex);
        if (!s.cv.wait(lock, stop, [&] { return r < s.released + depth; })) return;
      }
      // The slot is ours until `produced` says otherwise; no lock needed while filling it.
      Batch& b = s.slots[static_cast<std::size_t>(r % depth)];
      const int64_t index = s.first + r;
      const auto at = static_cast<std::size_t>(index);
      const int64_t begin = even ? index * bs : s.begins[at];
      const int64_t n = even ? std::min(bs, samples - begin) : s.begins[at + 1] - begin;
      b.images.resize(batch_shape(n, shape));
      b.labels.resize(static_cast<std::size_t>(n));
      b.index = index;
      b.global_count = even ? n * shards : s.globals[at];
      float* dst = b.images.data();
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t k = s.order[static_cast<std::size_t>(begin + i)];
        const uint8_t* src = data_.pixels.data() + static_cast<int64_t>(k) * size;
        for (int64_t j = 0; j < size; ++j) dst[j] = s.lut[src[j]];
        dst += size;
        b.labels[static_cast<std::size_t>(i)] = data_.labels[k];
      }
      {
        std::lock_guard lock(s.mutex);
        s.produced = r + 1;
      }
      s.cv.notify_all();
    }
  });
}

const Batch* BatchLoader::next() {
  Shared& s = *shared_;
  std::unique_lock lock(s.mutex);
  if (s.holding) {
    ++s.released;
    s.holding = false;
    s.cv.notify_all();
  }
  if (s.first + s.released >= s.end) return nullptr;
  s.cv.wait(lock, [&] { return s.produced > s.released; });
  s.holding = true;
  return &s.slots[static_cast<std::size_t>(s.released % options_.depth)];
}

}  // namespace ringmaster::worker
