// Data sets and the batch loader.
//
// A Dataset keeps images as uint8 (the IDX pixels, 1 byte per value) and labels as uint8; the
// loader normalizes into float batches on a background thread, so the data set costs 1/4 of its
// float size in memory and the train step never waits for data preparation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "worker/tensor.h"

namespace ringmaster::worker {

struct Dataset {
  std::string name;  // "fashion-mnist/train", "synthetic"
  int64_t count = 0;
  Shape sample_shape;  // {1, 28, 28}
  int64_t num_classes = 10;
  std::vector<uint8_t> pixels;  // count * shape_size(sample_shape)
  std::vector<uint8_t> labels;  // count, each < num_classes
  float mean = 0.0f, stddev = 1.0f;  // normalization: (pixel/255 - mean) / stddev

  int64_t sample_size() const { return shape_size(sample_shape); }
  std::size_t bytes() const { return pixels.size() + labels.size(); }
};

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads an IDX image file (magic 0x00000803) and its label file (0x00000801), gzip or plain.
// Detects missing files, bad magic numbers, absurd dimensions, truncated data, trailing bytes,
// count mismatches and out-of-range labels, naming the file and what was expected and found.
// `limit` > 0 keeps only the first `limit` samples.
Result<Dataset> read_idx(const std::string& images_path, const std::string& labels_path, int64_t limit = 0);

enum class Split { kTrain, kTest };
// Fashion-MNIST from `dir` (train-images-idx3-ubyte.gz, ... or the uncompressed names). A missing
// directory or file says to run `apt-get install dataset-fashion-mnist` or pass --data-dir.
Result<Dataset> load_fashion_mnist(const std::string& dir, Split split, int64_t limit = 0);

// Random 28x28 images with labels that depend on the pixels (a learnable task), from a seed.
Dataset make_synthetic(int64_t count, uint64_t seed);

struct Batch {
  Tensor images;                // [n, sample_shape...], normalized
  std::vector<int32_t> labels;  // n
  int64_t index = 0;            // batch number within the epoch
  // Samples in this step's batches over all shards (labels.size() x shards when sharded evenly):
  // a shard's gradient weighs labels.size() / global_count of the step's update.
  int64_t global_count = 0;
};

// Delivers the batches of one epoch in an order that is a pure function of (seed, epoch), so a
// resumed run replays exactly. A background thread fills up to `depth` batches ahead.
// Thread-safe only in the sense that its worker thread is internal: call it from one thread.
class BatchLoader {
 public:
  struct Options {
    int64_t batch_size = 128;
    bool shuffle = true;
    uint64_t seed = 0;
    int depth = 3;  // batches in flight (>= 2)
    // Data-parallel sharding, as PyTorch's DistributedSampler: every shard sees the same epoch
    // permutation and takes positions shard, shard + shards, ... of it. With pad_shards the
    // permutation is first extended by its own beginning to a multiple of `shards`, so every shard
    // has the same number of samples (and batches); without it shards differ by at most one
    // sample and no sample is seen twice (evaluation).
    int shard = 0;
    int shards = 1;
    bool pad_shards = true;
  };
  BatchLoader(const Dataset& data, Options options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Samples of this shard per epoch.
  int64_t samples_per_epoch() const;
  // Batches per epoch (the last may be short).
  int64_t batches_per_epoch() const;
  // Starts epoch `epoch` at batch `first_batch` (0 normally, later when resuming mid-epoch).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Unequal shards (--balance, with pad_shards): shard s takes batches[s] samples of each global
  // batch, a contiguous block of sum(batches) samples of the padded permutation (the same block
  // that even sharding spreads over the shards), and the last, shorter block is split in the same
  // proportions. Empty (the default): even sharding by batch_size. Takes effect at the next
  // start_epoch, which may restart the epoch in progress at its next batch.
  void set_shard_batches(std::vector<int64_t> batches);
  // The next batch of the epoch, or nullptr after the last. Valid until the next call.
  const Batch* next();

 private:
  bool uneven() const { return options_.shards > 1 && options_.pad_shards && !shard_batches_.empty(); }
  struct Shared;
  void stop();
  const Dataset& data_;
  Options options_;
  std::vector<int64_t> shard_batches_;
  std::unique_ptr<Shared> shared_;
  std::jthread worker_;
};

}  // namespace ringmaster::worker
