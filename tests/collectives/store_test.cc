// Rendezvous stores: set/get/add semantics, waiting with deadlines, and who may join a TCP store.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "collectives/store.h"

using namespace ringmaster;
using namespace ringmaster::collectives;
using namespace std::chrono_literals;

namespace {

StoreIdentity ident(int rank, int world = 3, std::string token = "s3cret", std::string job = "job-a") {
  return {std::move(token), std::move(job), world, rank};
}

struct Served {
  std::unique_ptr<TcpStoreServer> server;
  Endpoint at;
};

Served serve(int world = 3) {
  auto s = TcpStoreServer::start("127.0.0.1", 0, ident(0, world));
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  Served out{std::move(s.value()), {}};
  out.at = {"127.0.0.1", out.server->port()};
  return out;
}

void exercise(Store& a, Store& b) {
  ASSERT_TRUE(a.set("k", "v1").is_ok());
  auto v = b.get("k", Deadline::after(1s));
  ASSERT_TRUE(v.is_ok()) << v.status().message();
  EXPECT_EQ(*v, "v1");
  std::string binary("\0\1\2\xff", 4);
  ASSERT_TRUE(a.set("bin", binary).is_ok());
  EXPECT_EQ(b.get("bin", Deadline::after(1s)).value(), binary);
  // get waits for a later set.
  std::thread setter([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(a.set("late", "here").is_ok());
  });
  auto late = b.get("late", Deadline::after(5s));
  setter.join();
  ASSERT_TRUE(late.is_ok()) << late.status().message();
  EXPECT_EQ(*late, "here");
  // Deadline.
  const auto start = Deadline::Clock::now();
  auto missing = b.get("never", Deadline::after(100ms));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(missing.status().message().find("\"never\""), std::string::npos);
  EXPECT_LT(Deadline::Clock::now() - start, 3s);
  // add is atomic across clients.
  std::vector<std::thread> adders;
  for (Store* s : {&a, &b, &a, &b})
    adders.emplace_back([s] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->add("counter", 1).is_ok());
    });
  for (auto& t : adders) t.join();
  EXPECT_EQ(a.add("counter", 0).value(), 200);
  EXPECT_EQ(b.add("counter", -200).value(), 0);
  // hold counts its holder until the Hold goes.
  auto held_a = a.hold("live");
  ASSERT_TRUE(held_a.is_ok()) << held_a.status().message();
  {
    auto held_b = b.hold("live");
    ASSERT_TRUE(held_b.is_ok());
    EXPECT_EQ(a.add("live", 0).value(), 2);
  }
  EXPECT_EQ(b.add("live", 0).value(), 1);
  held_a->reset();
  EXPECT_EQ(b.add("live", 0).value(), 0);
}

// Polls key on store until it reads `want` or 5 s pass; returns the last value read.
int64_t wait_for_count(Store& store, const std::string& key, int64_t want) {
  const Deadline deadline = Deadline::after(5s);
  int64_t v = -1;
  for (;;) {
    auto r = store.add(key, 0);
    v = r ? *r : -1;
    if (v == want || deadline.expired()) return v;
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

TEST(InMemoryStore, SetGetWaitAdd) {
  auto s = make_in_memory_store();
  exercise(*s, *s);
}

TEST(TcpStore, SetGetWaitAddAcrossClients) {
  Served srv = serve();
  auto a = connect_tcp_store(srv.at, ident(1), Deadline::after(5s));
  auto b = connect_tcp_store(srv.at, ident(2), Deadline::after(5s));
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  exercise(**a, **b);
}

TEST(TcpStore, AKilledHolderIsNoLongerCounted) {
  // A process that holds a key and is killed with SIGKILL: its connection closes, and the server
  // takes its count back (what elastic/live relies on, worker/elastic.h).
  Served srv = serve(0);
  auto us = connect_tcp_store(srv.at, ident(0, 0), Deadline::after(5s));
  ASSERT_TRUE(us.is_ok()) << us.status().message();
  auto ours = (*us)->hold("live");
  ASSERT_TRUE(ours.is_ok());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto them = connect_tcp_store(srv.at, ident(0, 0), Deadline::after(5s));
    if (!them) ::_exit(1);
    auto theirs = (*them)->hold("live");
    if (!theirs) ::_exit(1);
    [[maybe_unused]] auto n = ::write(ready[1], "x", 1);
    for (;;) ::pause();
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  EXPECT_EQ((*us)->add("live", 0).value(), 2);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(wait_for_count(**us, "live", 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(TcpStore, ClientWaitsForAServerThatStartsLater) {
  // Find a free port, then start the server on it only after the client has begun connecting.
  int port = 0;
  {
    Served probe = serve();
    port = probe.at.port;
  }
  std::unique_ptr<TcpStoreServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(200ms);
    server = std::move(TcpStoreServer::start("127.0.0.1", port, ident(0)).value());
  });
  auto c = connect_tcp_store({"127.0.0.1", port}, ident(1), Deadline::after(10s));
  starter.join();
  ASSERT_TRUE(c.is_ok()) << c.status().message();
}

TEST(TcpStore, WrongTokenIsRefused) {
  Served srv = serve();
  auto c = connect_tcp_store(srv.at, ident(1, 3, "guess"), Deadline::after(5s));
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("refused: the job token does not match the one of job \"job-a\""),
            std::string::npos)
      << c.status().message();
}

TEST(TcpStore, AnotherJobOnTheSamePortIsRefused) {
  Served srv = serve();
  // Same port, different job: its rank 0 cannot bind, its other ranks cannot join.
  auto second = TcpStoreServer::start("127.0.0.1", srv.at.port, ident(0, 3, "other", "job-b"));
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos) << second.status().message();
  auto c = connect_tcp_store(srv.at, ident(1, 3, "s3cret", "job-b"), Deadline::after(5s));
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("this store serves job \"job-a\", not \"job-b\""), std::string::npos)
      << c.status().message();
}

TEST(TcpStore, WrongWorldSizeIsRefused) {
  Served srv = serve(3);
  auto c = connect_tcp_store(srv.at, ident(1, 4), Deadline::after(5s));
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("rank 1 joined with world size 4, but job \"job-a\" has world size 3"),
            std::string::npos)
      << c.status().message();
}

TEST(TcpStore, NoServerTimesOut) {
  int port = 0;
  {
    Served probe = serve();
    port = probe.at.port;
  }
  auto c = connect_tcp_store({"127.0.0.1", port}, ident(1), Deadline::after(300ms));
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(TcpStore, GarbageClientDoesNotDisturbOthers) {
  Served srv = serve();
  auto raw = connect_tcp(srv.at, Deadline::after(5s));
  ASSERT_TRUE(raw.is_ok());
  const char junk[] = "\xff\xff\xff\x7fGET / HTTP/1.0\r\n\r\n";
  ASSERT_TRUE(send_all(raw->get(), junk, sizeof junk, Deadline::after(1s), "server").is_ok());
  auto good = connect_tcp_store(srv.at, ident(1), Deadline::after(5s));
  ASSERT_TRUE(good.is_ok()) << good.status().message();
  EXPECT_TRUE((*good)->set("x", "y").is_ok());
}

TEST(Endpoint, ParsesHostAndPort) {
  auto e = parse_endpoint("10.0.0.1:29500");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->host, "10.0.0.1");
  EXPECT_EQ(e->port, 29500);
  EXPECT_EQ(parse_endpoint("nohost").status().message(), "expected host:port, found \"nohost\"");
  EXPECT_FALSE(parse_endpoint("h:99999").is_ok());
}
