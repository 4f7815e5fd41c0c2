#include <gtest/gtest.h>

#include "common/status.h"

using namespace ringmaster;

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::ok());
  Status s = not_found("no such file").with_context("reading x.yaml");
  EXPECT_FALSE(s);
  EXPECT_EQ(s.to_string(), "NotFound: reading x.yaml: no such file");
}

TEST(Result, ValueOrError) {
  Result<int> good(3);
  EXPECT_TRUE(good);
  EXPECT_EQ(*good, 3);
  Result<int> bad(invalid_argument("nope"));
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.status().message(), "nope");
  EXPECT_THROW(bad.value(), std::logic_error);
  EXPECT_THROW(Result<int>(Status::ok()), std::logic_error);
}
