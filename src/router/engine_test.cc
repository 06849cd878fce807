#include "router/engine.h"

#include <gtest/gtest.h>

namespace tw::router {
namespace {

TEST(EngineSpec, ParsesUrlAndOptions) {
  auto s = ParseEngineSpec("http://127.0.0.1:8001,events=tcp://127.0.0.1:5557,topic=kv,name=a,warehouse=tw://n1:7700");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 8001);
  EXPECT_EQ(s->events, "tcp://127.0.0.1:5557");
  EXPECT_EQ(s->topic, "kv");
  EXPECT_EQ(s->name, "a");
  EXPECT_EQ(s->warehouse, "tw://n1:7700");
  auto plain = ParseEngineSpec("http://gpu-3:8000/");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name, "gpu-3:8000");
  EXPECT_TRUE(plain->events.empty());
  EXPECT_FALSE(ParseEngineSpec("https://a:1").ok());
  EXPECT_FALSE(ParseEngineSpec("http://a").ok());
  EXPECT_FALSE(ParseEngineSpec("http://a:0").ok());
  EXPECT_FALSE(ParseEngineSpec("http://a:1,colour=red").ok());
}

TEST(VllmLoad, SumsRunningAndWaiting) {
  const char* page =
      "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{engine=\"0\",model_name=\"tiny\"} 2.0\n"
      "vllm:num_requests_waiting{engine=\"0\",model_name=\"tiny\"} 3.0\n"
      "vllm:num_requests_waiting_by_reason{engine=\"0\",reason=\"capacity\"} 3.0\n"
      "vllm:kv_cache_usage_perc{engine=\"0\"} 0.5\n";
  auto load = ParseVllmLoad(page);
  ASSERT_TRUE(load.ok());
  EXPECT_DOUBLE_EQ(*load, 5.0);
  EXPECT_TRUE(ParseVllmLoad("# nothing\nfoo 1\n").status().IsNotFound());
}

TEST(Engine, LoadIsOurRequestsInFlightPlusTheEnginesOthers) {
  Engine e(*ParseEngineSpec("http://127.0.0.1:1"));
  EXPECT_FALSE(e.up());
  EXPECT_TRUE(e.MarkUp(0, 0));
  EXPECT_FALSE(e.MarkUp(0, 0));
  // Two of ours in flight, seen by the poll along with one another client sent.
  e.BeginRequest();
  e.BeginRequest();
  EXPECT_FALSE(e.MarkUp(3, 2));
  EXPECT_EQ(e.load(), 3);
  // Ours end: they stop counting at once, before the next poll (whose figure is stale by then).
  e.EndRequest();
  e.EndRequest();
  EXPECT_EQ(e.load(), 1);
  // A poll taken while ours ran but answered with fewer (the engine had not queued them yet).
  e.BeginRequest();
  EXPECT_FALSE(e.MarkUp(0, 1));
  EXPECT_EQ(e.load(), 1);
  e.EndRequest();
  EXPECT_TRUE(e.MarkDown());
  EXPECT_FALSE(e.MarkDown());
}

}  // namespace
}  // namespace tw::router
