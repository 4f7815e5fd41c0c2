#include "worker/timeline.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "common/files.h"

namespace ringmaster::worker {

namespace {

const char* row_name(Timeline::Row row) {
  switch (row) {
    case Timeline::Row::kData: return "data";
    case Timeline::Row::kCompute: return "compute";
    case Timeline::Row::kAllreduce: return "allreduce";
    case Timeline::Row::kWait: return "wait";
  }
  return "?";
}

}  // namespace

Timeline::Timeline(int rank, TimePoint origin, int64_t max_events)
    : rank_(rank), origin_(origin), max_events_(max_events) {
  json_ += fmt::format(R"({{"name":"process_name","ph":"M","pid":{0},"args":{{"name":"rank {0}"}}}})", rank_);
  json_ += fmt::format(R"(,{{"name":"process_sort_index","ph":"M","pid":{0},"args":{{"sort_index":{0}}}}})", rank_);
  for (Row r : {Row::kData, Row::kCompute, Row::kAllreduce, Row::kWait}) {
    json_ += fmt::format(R"(,{{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"{}"}}}})", rank_,
                         static_cast<int>(r), row_name(r));
    json_ += fmt::format(R"(,{{"name":"thread_sort_index","ph":"M","pid":{},"tid":{},"args":{{"sort_index":{}}}}})",
                         rank_, static_cast<int>(r), static_cast<int>(r));
  }
}

void Timeline::span(Row row, const char* name, TimePoint start, TimePoint end, const std::string& args) {
  if (events_ >= max_events_) {
    if (!truncated_) {
      truncated_ = true;
      json_ += fmt::format(R"(,{{"name":"timeline truncated after {} events","ph":"i","s":"p","pid":{},"tid":1,"ts":{:.3f}}})",
                           max_events_, rank_, std::chrono::duration<double, std::micro>(start - origin_).count());
    }
    return;
  }
  ++events_;
  const double ts = std::chrono::duration<double, std::micro>(start - origin_).count();
  const double dur = std::chrono::duration<double, std::micro>(end - start).count();
  json_ += fmt::format(R"(,{{"name":"{}","ph":"X","pid":{},"tid":{},"ts":{:.3f},"dur":{:.3f}{}}})", name, rank_,
                       static_cast<int>(row), ts, dur < 0 ? 0.0 : dur, args.empty() ? "" : ",\"args\":{" + args + "}");
}

Status Timeline::write(const std::string& path, collectives::Communicator* comm) const {
  std::string all = json_;
  if (comm != nullptr && comm->size() > 1) {
    // Sizes first, then every rank's text padded to the longest (allgather moves equal blocks; the
    // bytes travel as int32 words and are only copied).
    const int world = comm->size();
    int64_t mine = static_cast<int64_t>(json_.size());
    std::vector<int64_t> sizes(static_cast<std::size_t>(world));
    if (Status s = comm->allgather(&mine, sizes.data(), 1, collectives::DataType::kInt64); !s)
      return s.with_context("gathering the timeline's sizes");
    int64_t longest = 0;
    for (int64_t n : sizes) longest = std::max(longest, n);
    const std::size_t words = static_cast<std::size_t>((longest + 3) / 4);
    std::vector<int32_t> block(words, 0), gathered(words * static_cast<std::size_t>(world));
    std::memcpy(block.data(), json_.data(), json_.size());
    if (Status s = comm->allgather(block.data(), gathered.data(), words, collectives::DataType::kInt32); !s)
      return s.with_context("gathering the timeline's events");
    if (comm->rank() != 0) return Status::ok();
    all.clear();
    for (int r = 0; r < world; ++r) {
      if (r) all += ',';
      all.append(reinterpret_cast<const char*>(gathered.data() + static_cast<std::size_t>(r) * words),
                 static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]));
    }
  }
  return write_file_atomic(path, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[" + all + "]}\n");
}

}  // namespace ringmaster::worker
