#include <gtest/gtest.h>

#include "jobs/emit.h"

using namespace ringmaster::jobs;

TEST(Emit, YamlKeepsStringTypes) {
  YAML::Node n = YAML::Load("a: \"64\"\nb: 64\nc: \"true\"\nd: plain\ne: \"\"\nf: \"line1\\nline2\\n\"\ng: \"x\\ny\"\n");
  std::string y = to_yaml(n);
  EXPECT_EQ(y, "a: \"64\"\nb: 64\nc: \"true\"\nd: plain\ne: \"\"\nf: |\n  line1\n  line2\n\ng: \"x\\ny\"\n");
  // Round trip: what we print reads back with the same types.
  EXPECT_EQ(to_json(YAML::Load(y)), to_json(n));
}

TEST(Emit, JsonTypesFollowYamlResolution) {
  auto j = to_json(YAML::Load("i: 3\nf: 0.5\nb: true\nn: ~\ns: \"3\"\nl: [1, x]\n"));
  EXPECT_EQ(j.dump(), R"({"i":3,"f":0.5,"b":true,"n":null,"s":"3","l":[1,"x"]})");
}

// Found by rendering training-operator's elastic examples: PET_NNODES "1:2" printed plain is the
// base-60 integer 62 to a YAML 1.1 reader (PyYAML, go-yaml v2), and "yes"/"off" are booleans there.
TEST(Emit, StringsThatYaml11ReadsAsOtherTypesAreQuoted) {
  YAML::Node n = YAML::Load("a: \"1:2\"\nb: \"yes\"\nc: \"off\"\nd: \"10:30:59.5\"\ne: \"1:2:x\"\nf: \"a:b\"\n");
  EXPECT_EQ(to_yaml(n), "a: \"1:2\"\nb: \"yes\"\nc: \"off\"\nd: \"10:30:59.5\"\ne: 1:2:x\nf: a:b\n");
}
