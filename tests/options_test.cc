#include "options.h"

#include <gtest/gtest.h>

namespace dpx {
namespace {

ParseResult parse(std::vector<const char*> args, DpxdOptions* o, std::string* msg) {
  args.insert(args.begin(), "dpxd");
  return parse_dpxd_options(static_cast<int>(args.size()), args.data(), o, msg);
}

TEST(Options, DefaultsStartWithoutArguments) {
  DpxdOptions o;
  std::string msg;
  ASSERT_EQ(parse({}, &o, &msg), ParseResult::kRun) << msg;
  EXPECT_EQ(o.control_socket, "/run/dpx/dpxd.sock");
  EXPECT_EQ(o.flow_limit, 200000u);
  EXPECT_EQ(o.pmd_cores.size(), 1u);
}

TEST(Options, EalArgumentsAfterDoubleDash) {
  DpxdOptions o;
  std::string msg;
  ASSERT_EQ(parse({"--pmd-cores", "2-3", "--", "--vdev", "net_null0"}, &o, &msg),
            ParseResult::kRun);
  EXPECT_EQ(o.pmd_cores, (std::vector<unsigned>{2, 3}));
  EXPECT_EQ(o.eal_args, (std::vector<std::string>{"--vdev", "net_null0"}));
}

TEST(Options, BadValuesAreRejectedWithTheOptionName) {
  struct Case {
    std::vector<const char*> args;
    const char* must_mention;
  } cases[] = {
      {{"--pmd-cores", "1,,2"}, "--pmd-cores"},
      {{"--pmd-cores", "3-1"}, "--pmd-cores"},
      {{"--log-level", "loud"}, "--log-level"},
      {{"--flow-limit", "0"}, "--flow-limit"},
      {{"--flow-limit", "many"}, "flow-limit"},
      {{"--upcall-queue-size", "1000"}, "--upcall-queue-size"},
      {{"--upcall-backlog-kb", "8"}, "--upcall-backlog-kb"},
      {{"--upcall-hold-ms", "0"}, "--upcall-hold-ms"},
      {{"--no-such-option"}, "no-such-option"},
      {{"--config", "/nonexistent/dpxd.conf"}, "--config"},
      {{"--mbufs", "8192", "--upcall-queue-size", "4096"}, "--mbufs"},
  };
  for (const Case& c : cases) {
    DpxdOptions o;
    std::string msg;
    EXPECT_EQ(parse(c.args, &o, &msg), ParseResult::kError) << c.args[0];
    EXPECT_NE(msg.find(c.must_mention), std::string::npos) << msg;
  }
}

// --cpu-isa: auto picks the widest level the CPU has; an explicit level is
// taken if the CPU has it and refused, naming the option, if not.
TEST(Options, CpuIsa) {
  DpxdOptions o;
  std::string msg;
  ASSERT_EQ(parse({}, &o, &msg), ParseResult::kRun) << msg;
  EXPECT_EQ(o.cpu_isa, cpu_isa_best());
  ASSERT_EQ(parse({"--cpu-isa", "sse42"}, &o, &msg), ParseResult::kRun) << msg;
  EXPECT_EQ(o.cpu_isa, CpuIsa::kSse42);
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    const std::string name = cpu_isa_name(isa);
    const auto r = parse({"--cpu-isa", name.c_str()}, &o, &msg);
    if (cpu_isa_supported(isa)) {
      ASSERT_EQ(r, ParseResult::kRun) << msg;
      EXPECT_EQ(o.cpu_isa, isa);
    } else {
      ASSERT_EQ(r, ParseResult::kError);
      EXPECT_NE(msg.find("does not support"), std::string::npos) << msg;
    }
  }
  ASSERT_EQ(parse({"--cpu-isa", "avx"}, &o, &msg), ParseResult::kError);
  EXPECT_NE(msg.find("--cpu-isa"), std::string::npos) << msg;
}

TEST(Options, CoreLists) {
  std::vector<unsigned> v;
  EXPECT_TRUE(parse_core_list("1", &v));
  EXPECT_EQ(v, (std::vector<unsigned>{1}));
  EXPECT_TRUE(parse_core_list("3,1,1-2", &v));
  EXPECT_EQ(v, (std::vector<unsigned>{1, 2, 3}));
  EXPECT_FALSE(parse_core_list("", &v));
  EXPECT_FALSE(parse_core_list("a", &v));
  EXPECT_FALSE(parse_core_list("1-", &v));
  EXPECT_FALSE(parse_core_list("5000", &v));
}

}  // namespace
}  // namespace dpx
