#include "jobs/tree.h"

#include "jobs/yaml_tree.h"

namespace ringmaster::jobs {

struct Tree::Holder {
  YAML::Node node;
};

struct TreeAccess {
  static const std::shared_ptr<Tree::Holder>& holder(const Tree& t) { return t.holder_; }
  static Tree make(YAML::Node node) {
    Tree t;
    t.holder_ = std::make_shared<Tree::Holder>(Tree::Holder{std::move(node)});
    return t;
  }
};

Tree::Tree() = default;
Tree::~Tree() = default;
Tree::Tree(const Tree&) = default;
Tree& Tree::operator=(const Tree&) = default;

bool Tree::present() const { return holder_ && holder_->node.IsDefined() && !holder_->node.IsNull(); }
bool Tree::is_map() const { return holder_ && holder_->node.IsMap(); }

YAML::Node yaml(const Tree& t) {
  const auto& h = TreeAccess::holder(t);
  return h ? h->node : YAML::Node();
}

Tree tree(YAML::Node node) { return TreeAccess::make(std::move(node)); }

}  // namespace ringmaster::jobs
