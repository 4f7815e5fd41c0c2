// Tree: a part of a job file kept as the loader normalized it — a pod template, a trial's job, a
// PodGroup — for the modules that write Kubernetes objects (k8s/) or fill trial templates in
// (sweep/). Opaque here, so the typed model (model.h) carries no yaml-cpp type; those modules read
// it through jobs/yaml_tree.h. Copies share the tree, as YAML::Node handles do.
#pragma once

#include <memory>

namespace ringmaster::jobs {

class Tree {
 public:
  Tree();  // no tree: read as a YAML null
  ~Tree();
  Tree(const Tree&);
  Tree& operator=(const Tree&);
  bool present() const;  // a tree that is neither missing nor null
  bool is_map() const;

 private:
  friend struct TreeAccess;
  struct Holder;
  std::shared_ptr<Holder> holder_;
};

}  // namespace ringmaster::jobs
