#include <gtest/gtest.h>

#include "common/strings.h"

using namespace ringmaster;

TEST(Strings, EditDistance) {
  EXPECT_EQ(edit_distance("replica", "replicas"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("Worker", "worker"), 0u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Strings, ClosestMatchOnlyForPlausibleTypos) {
  std::vector<std::string_view> c{"replicas", "restartPolicy", "template"};
  EXPECT_EQ(closest_match("replica", c), "replicas");
  EXPECT_EQ(closest_match("restartpolicy", c), "restartPolicy");
  EXPECT_EQ(closest_match("image", c), std::nullopt);
}

TEST(Strings, QuoteEscapesAndTruncates) {
  EXPECT_EQ(quote("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(quote(std::string(100, 'x'), 4), "\"xxxx...\"");
  EXPECT_EQ(quote(std::string("\x01", 1)), "\"\\x01\"");
}

TEST(Strings, SplitJoin) {
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  std::vector<std::string> p{"x", "y"};
  EXPECT_EQ(join(p, ", "), "x, y");
  EXPECT_TRUE(iequals("PS", "ps"));
}

TEST(Strings, ParseDoubleTakesTheWholeTextAndOnlyFiniteValues) {
  EXPECT_EQ(ringmaster::parse_double("0.25"), 0.25);
  EXPECT_EQ(ringmaster::parse_double("-1e-3"), -1e-3);
  for (const char* bad : {"", "1x", " 1", "inf", "nan", "0x10", "1e999"})
    EXPECT_FALSE(ringmaster::parse_double(bad).has_value()) << bad;
}

TEST(Strings, ParseIntTakesTheWholeTextWithinTheTypesRange) {
  EXPECT_EQ(ringmaster::parse_int<int>("42"), 42);
  EXPECT_EQ(ringmaster::parse_int<int>("-3"), -3);
  EXPECT_EQ(ringmaster::parse_int<int64_t>("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ringmaster::parse_int<uint16_t>("65535"), 65535);
  for (const char* bad : {"", "1x", " 1", "1 ", "+1", "0x10", "1.0", "99999999999"})
    EXPECT_FALSE(ringmaster::parse_int<int>(bad).has_value()) << bad;
  EXPECT_FALSE(ringmaster::parse_int<uint16_t>("65536").has_value());
  EXPECT_FALSE(ringmaster::parse_int<unsigned>("-1").has_value());
}

TEST(Strings, Median) {
  EXPECT_EQ(ringmaster::median({}), 0.0);
  EXPECT_EQ(ringmaster::median({3, 1, 2}), 2.0);
  EXPECT_EQ(ringmaster::median({4, 1, 3, 2}), 2.5);
}
