// yaml-cpp's view of a jobs::Tree (tree.h), for the modules whose job is YAML: rendering Kubernetes
// objects (k8s/), filling in and writing trial jobs (sweep/driver.cc), the loader itself.
#pragma once

#include <yaml-cpp/yaml.h>

#include "jobs/tree.h"

namespace ringmaster::jobs {

// The node itself (a handle: changes through it change the tree); a null node for an empty Tree.
YAML::Node yaml(const Tree& tree);
// A Tree holding `node` (the handle, not a clone).
Tree tree(YAML::Node node);

}  // namespace ringmaster::jobs
