// `ringmaster initialize --storage-uri URI --output DIR`: the local stand-in for Kubeflow Trainer's
// dataset and model initializer images (cmd/initializers in kubeflow/trainer), which a TrainJob's
// initializer step without a command runs here (launcher/plan.h). A plain path or file:// URI is
// brought into DIR: a directory's contents (hard-linked where the filesystem allows, else copied),
// or a file as DIR/<name>. hf:// and s3:// (and any other scheme) need the network and Trainer's
// images: a clear error, exit 1. `render` and `submit` leave the initializer as the runtime wrote it.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"

namespace ringmaster::cli {
namespace fs = std::filesystem;

void add_initialize_command(CLI::App& app, InitializeOptions& o) {
  auto* cmd = app.add_subcommand("initialize",
                                 "Bring a TrainJob initializer's storageUri (a path or file:// URI) into a directory: "
                                 "what Trainer's dataset/model initializer does, locally");
  cmd->add_option("--storage-uri", o.storage_uri, "the initializer's STORAGE_URI")->required();
  cmd->add_option("--output", o.output, "where it goes (the step's /workspace/dataset or /workspace/model)")->required();
}

int run_initialize(const InitializeOptions& o) {
  std::string source = o.storage_uri;
  if (source.rfind("file://", 0) == 0) source = source.substr(7);
  const auto scheme = o.storage_uri.find("://");
  if (source.empty() || (scheme != std::string::npos && o.storage_uri.rfind("file://", 0) != 0)) {
    std::cerr << "ringmaster initialize: STORAGE_URI " << (o.storage_uri.empty() ? "is empty" : "\"" + o.storage_uri + "\"")
              << ": a local run initializes from a path or a file:// URI; "
              << (scheme != std::string::npos ? o.storage_uri.substr(0, scheme + 3) + " needs the network and Trainer's "
                                                "initializer image (download it first and give its path)"
                                              : std::string("give spec.initializer.dataset (or model).storageUri"))
              << "\n";
    return 1;
  }
  std::error_code ec;
  if (!fs::exists(source, ec)) {
    std::cerr << "ringmaster initialize: " << o.storage_uri << ": no such file or directory\n";
    return 1;
  }
  fs::create_directories(o.output, ec);
  if (ec) {
    std::cerr << "ringmaster initialize: " << o.output << ": " << ec.message() << "\n";
    return 1;
  }
  const fs::path target = fs::is_directory(source) ? fs::path(o.output) : fs::path(o.output) / fs::path(source).filename();
  const auto options = fs::copy_options::recursive | fs::copy_options::overwrite_existing;
  fs::copy(source, target, options | fs::copy_options::create_hard_links, ec);
  const char* how = "linked";
  if (ec) {  // another filesystem, or links not allowed: copy
    ec.clear();
    fs::copy(source, target, options, ec);
    how = "copied";
  }
  if (ec) {
    std::cerr << "ringmaster initialize: copying " << source << " to " << target.string() << ": " << ec.message() << "\n";
    return 1;
  }
  std::size_t files = 0;
  if (fs::is_directory(target))
    for (const auto& e : fs::recursive_directory_iterator(target, ec)) files += e.is_regular_file();
  else
    files = 1;
  fmt::print("initialized {} from {} ({} files, {})\n", o.output, o.storage_uri, files, how);
  return 0;
}

}  // namespace ringmaster::cli
