// dpx-latgen: one-way latency through a switch, measured with timestamped
// packets between two DPDK ports of ours (normally two net_virtio_user ports
// on two vhost-user ports of the switch, which forwards port A to port B).
//
// Usage: dpx-latgen [EAL options] -- [options]; see kUsage. The program
// sends 64-byte (by default) UDP frames on the tx port, each carrying a
// sequence number and the TSC at the moment of the tx burst, paced by the
// TSC at the rates asked for, receives them on the rx port, and records
// rdtsc at the rx burst minus the stamp, in ns, in a log-bucket histogram.
// Both ports are driven from one lcore (the EAL's main lcore), so sender and
// receiver read the same TSC; the TSC must be invariant (constant_tsc and
// nonstop_tsc), which is checked, for cycles to convert to time. One JSON
// document on stdout reports every phase: sent, received, lost, duplicates,
// reordered and p50/p90/p99/p99.9/max latency.
//
// A phase runs at one rate: "max" (as fast as the tx ring takes packets:
// the path's throughput, which later phases may use), an absolute rate in
// packets per second, or a percentage of the throughput of the latest "max"
// phase (or of --max-pps). Each phase first sends --warmup seconds of
// unmeasured packets at its rate, then measures for --duration seconds (or
// --packets packets), then waits for the last packets to come back.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_parse.h"
#include "latency_histogram.h"

namespace po = boost::program_options;

namespace dpx {
namespace {

const char kUsage[] =
    R"(Usage: dpx-latgen [EAL options] -- [options]

Sends timestamped UDP frames on --tx-port, receives them on --rx-port and
prints one JSON document with the one-way latency of every phase, e.g.
  dpx-latgen -l 0 --no-huge -m 256 --no-pci \
    --vdev net_virtio_user0,path=/run/a.sock --vdev net_virtio_user1,path=/run/b.sock \
    -- --rates max,10%,80% --duration 2

Options)";

// Payload after the Ethernet, IPv4 and UDP headers (42 bytes): a magic that
// tells our packets from anything else, a 64-bit tag and the TSC of the tx
// burst; 18 bytes, so a 60-byte frame (64 with FCS) holds them. The tag is
// the sequence number in the phase (low 56 bits), the phase's number (1 to
// 127; 0 for the readiness probe) so that a straggler of an earlier phase
// is not taken for one of this phase, and a top bit that marks warm-up and
// probe packets, which are not measured.
constexpr size_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
constexpr size_t kMagicOff = kHeaders, kSeqOff = kHeaders + 2, kTscOff = kHeaders + 10;
constexpr size_t kMinFrame = kHeaders + 18;
static_assert(kMinFrame == 60);
constexpr uint16_t kMagic = 0xd71a;
constexpr uint64_t kUnmeasured = uint64_t{1} << 63;
constexpr unsigned kPhaseShift = 56;
constexpr uint64_t kSeqMask = (uint64_t{1} << kPhaseShift) - 1;
constexpr size_t kMaxPhases = 127;
constexpr uint16_t kUdpPort = 7471;
constexpr uint16_t kBurst = 32;
// A "max" phase sizes its sequence bitmap for this rate; it stops sending
// early if the path is faster (no DPDK path on one core comes near it).
constexpr double kMaxProbePps = 60e6;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Config {
  uint16_t tx_port = 0, rx_port = 1;
  std::vector<std::string> rates;
  double max_pps = 0;  // base of "N%" rates before any "max" phase
  double duration_s = 1.0, warmup_s = 0.2;
  uint64_t packets = 0;  // measured packets per paced phase (0: by duration)
  uint32_t frame = 60;
  double drain_ms = 200, ready_timeout_s = 60;
  uint32_t mbufs = 8191;
};

// One phase's outcome; the counters cover measured packets only unless named.
struct PhaseResult {
  std::string rate;       // as asked: "max", "10%", "50000"
  double target_pps = 0;  // 0 for max
  uint64_t sent = 0, received = 0, duplicates = 0, reordered = 0, tx_ring_full = 0;
  uint64_t bad_stamp = 0;  // received before it was sent: a TSC that is not shared
  uint64_t warmup_sent = 0, warmup_received = 0;
  uint64_t schedule_skips = 0;  // the paced sender fell behind and restarted its schedule
  uint64_t unexpected = 0;      // not ours, or ours from another phase or port
  double tx_seconds = 0;        // from the first to the last measured tx burst
  double tx_pps = 0, rx_pps = 0;
  bool stopped_early = false;  // signal, or the sequence bitmap was full
  std::unique_ptr<LatencyHistogram> hist = std::make_unique<LatencyHistogram>();
};

// True if every CPU flags line of /proc/cpuinfo has both flags: a TSC that
// ticks at one rate in every power state, the same on every core.
bool tsc_invariant(std::string* why) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  int cpus = 0;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    ++cpus;
    std::istringstream words(line.substr(line.find(':') + 1));
    bool constant = false, nonstop = false;
    for (std::string w; words >> w;) {
      constant |= w == "constant_tsc";
      nonstop |= w == "nonstop_tsc";
    }
    if (!constant || !nonstop) {
      *why = "a CPU lacks the constant_tsc or nonstop_tsc flag";
      return false;
    }
  }
  if (cpus == 0) *why = "no CPU flags in /proc/cpuinfo";
  return cpus > 0;
}

bool setup_port(uint16_t port, rte_mempool* pool, std::string* err) {
  if (!rte_eth_dev_is_valid_port(port)) {
    *err = "port " + std::to_string(port) + " does not exist (give two --vdev)";
    return false;
  }
  rte_eth_conf conf{};
  const int socket = rte_eth_dev_socket_id(port);
  int rc = rte_eth_dev_configure(port, 1, 1, &conf);
  if (rc == 0) rc = rte_eth_rx_queue_setup(port, 0, 1024, socket, nullptr, pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(port, 0, 1024, socket, nullptr);
  if (rc == 0) rc = rte_eth_dev_start(port);
  if (rc != 0) *err = "port " + std::to_string(port) + ": " + rte_strerror(-rc);
  return rc == 0;
}

// The frame every packet starts as: Ethernet, IPv4 10.0.0.1 -> 10.0.0.2,
// UDP kUdpPort -> kUdpPort, zero payload up to `frame` bytes.
std::vector<uint8_t> frame_template(uint32_t frame, const rte_ether_addr& src,
                                    const rte_ether_addr& dst) {
  std::vector<uint8_t> t(frame, 0);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(t.data());
  eth->dst_addr = dst;
  eth->src_addr = src;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(frame - sizeof(rte_ether_hdr)));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 1));
  ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 2));
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = udp->dst_port = rte_cpu_to_be_16(kUdpPort);
  udp->dgram_len =
      rte_cpu_to_be_16(static_cast<uint16_t>(frame - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr)));
  std::memcpy(&t[kMagicOff], &kMagic, sizeof kMagic);
  return t;
}

class Generator {
 public:
  Generator(const Config& cfg, rte_mempool* pool, std::vector<uint8_t> tmpl)
      : cfg_(cfg), pool_(pool), tmpl_(std::move(tmpl)), hz_(rte_get_tsc_hz()) {}

  uint64_t tsc_hz() const { return hz_; }

  // Sends one unmeasured packet every millisecond until one comes back on
  // the rx port: the switch is connected and its rule in place. False on
  // timeout or signal.
  bool wait_ready() {
    const uint64_t end = rte_rdtsc() + static_cast<uint64_t>(cfg_.ready_timeout_s * hz_);
    uint64_t next = 0;
    while (!g_stop && rte_rdtsc() < end) {
      if (rte_rdtsc() >= next) {
        uint64_t seq = kUnmeasured;
        send(1, &seq);
        next = rte_rdtsc() + hz_ / 1000;
      }
      rte_mbuf* pkts[kBurst];
      const uint16_t n = rte_eth_rx_burst(cfg_.rx_port, 0, pkts, kBurst);
      bool ours = false;
      for (uint16_t i = 0; i < n; ++i) {
        uint64_t s, t;
        ours |= parse(pkts[i], &s, &t);
      }
      rte_pktmbuf_free_bulk(pkts, n);
      drain(cfg_.tx_port);
      if (ours) return true;
    }
    return false;
  }

  // Runs phase number `phase` (1..kMaxPhases) at `pps` packets per second
  // (0: as fast as possible).
  void run(uint64_t phase, double pps, PhaseResult* r) {
    const uint64_t tag = phase << kPhaseShift;
    r->target_pps = pps;
    const double interval = pps > 0 ? static_cast<double>(hz_) / pps : 0;
    // Measured packets the phase may send: the bitmap that tells
    // duplicates is sized for them before the loop.
    const uint64_t cap =
        cfg_.packets && pps > 0
            ? cfg_.packets
            : static_cast<uint64_t>((pps > 0 ? pps * 1.1 : kMaxProbePps) * cfg_.duration_s) +
                  kBurst;
    std::vector<uint64_t> seen((cap + 63) / 64, 0);
    const double ns_per_cycle = 1e9 / static_cast<double>(hz_);
    const uint64_t drain_cycles = static_cast<uint64_t>(cfg_.drain_ms * 1e-3 * hz_);

    const uint64_t t0 = rte_rdtsc();
    const uint64_t measure_at = t0 + static_cast<uint64_t>(cfg_.warmup_s * hz_);
    const uint64_t stop_at = measure_at + static_cast<uint64_t>(cfg_.duration_s * hz_);
    double next = static_cast<double>(t0);  // when the next packet is due
    uint64_t seq = 0, warm_seq = 0, highest = 0, first_tx = 0, last_tx = 0, last_rx = 0;
    bool measuring = false, sending = true;
    uint64_t seqs[kBurst];

    while (!g_stop) {
      const uint64_t now = rte_rdtsc();
      if (sending) {
        if (!measuring && now >= measure_at) measuring = true;
        const bool by_count = cfg_.packets && pps > 0;
        const bool full = !by_count && seq + kBurst > cap;
        if (measuring &&
            ((by_count && seq >= cfg_.packets) || (!by_count && now >= stop_at) || full)) {
          r->stopped_early = full;
          sending = false;
          continue;
        }
        // How many packets are due: a full burst at "max"; at a paced
        // rate those whose time has come, up to a burst. A sender that fell
        // further behind (it was off its CPU) sends one burst and restarts
        // the schedule from now instead of catching up at full speed, which
        // would measure its own bursts; tx_pps and schedule_skips show it.
        uint16_t n = kBurst;
        if (interval > 0) {
          const double due = (static_cast<double>(now) - next) / interval + 1;
          n = due < 1 ? 0 : due >= kBurst ? kBurst : static_cast<uint16_t>(due);
          if (due > 2 * kBurst) {
            next = static_cast<double>(now) - (n - 1) * interval;
            ++r->schedule_skips;
          }
          if (by_count && measuring && seq + n > cfg_.packets)
            n = static_cast<uint16_t>(cfg_.packets - seq);
        }
        if (n > 0) {
          for (uint16_t i = 0; i < n; ++i)
            seqs[i] = measuring ? tag | (seq + i) : kUnmeasured | tag | ((warm_seq + i) & kSeqMask);
          const uint16_t sent = send(n, seqs);
          if (measuring) {
            if (first_tx == 0) first_tx = now;
            last_tx = now;
            seq += sent;
            r->sent += sent;
            r->tx_ring_full += n - sent;
          } else {
            warm_seq += sent;
            r->warmup_sent += sent;
          }
          // The schedule counts every packet due, sent or not, so that a
          // full ring shows as tx_ring_full instead of a lower rate.
          if (interval > 0) next += n * interval;
        }
      }

      rte_mbuf* pkts[kBurst];
      const uint16_t nb = rte_eth_rx_burst(cfg_.rx_port, 0, pkts, kBurst);
      if (nb > 0) {
        const uint64_t rx_tsc = rte_rdtsc();
        last_rx = rx_tsc;
        for (uint16_t i = 0; i < nb; ++i) {
          uint64_t s, stamp;
          if (!parse(pkts[i], &s, &stamp) || (s & ~kUnmeasured) >> kPhaseShift != phase) {
            ++r->unexpected;
          } else if (s & kUnmeasured) {
            ++r->warmup_received;
          } else if ((s &= kSeqMask) >= cap) {
            ++r->unexpected;
          } else if (seen[s / 64] & (uint64_t{1} << (s % 64))) {
            ++r->duplicates;
          } else {
            seen[s / 64] |= uint64_t{1} << (s % 64);
            ++r->received;
            if (s < highest) ++r->reordered;
            highest = s > highest ? s : highest;
            if (rx_tsc < stamp)
              ++r->bad_stamp;
            else
              r->hist->record(static_cast<uint64_t>((rx_tsc - stamp) * ns_per_cycle + 0.5));
          }
        }
        rte_pktmbuf_free_bulk(pkts, nb);
      }
      r->unexpected += drain(cfg_.tx_port);
      // Done once every measured packet is back, or nothing has arrived
      // for --drain-ms since sending stopped: the rest is lost.
      const uint64_t quiet_since = last_rx > last_tx ? last_rx : last_tx;
      if (!sending &&
          (r->received == r->sent || (now > quiet_since && now - quiet_since > drain_cycles)))
        break;
    }
    r->stopped_early |= g_stop != 0;
    r->tx_seconds = last_tx > first_tx ? static_cast<double>(last_tx - first_tx) / hz_ : 0;
    if (r->tx_seconds > 0) {
      r->tx_pps = static_cast<double>(r->sent) / r->tx_seconds;
      r->rx_pps = static_cast<double>(r->received) / r->tx_seconds;
    }
  }

 private:
  // Fills n packets from the template with seqs[i] and one stamp taken just
  // before the tx burst; frees what the ring did not take. Returns the
  // number sent (a prefix of seqs).
  uint16_t send(uint16_t n, const uint64_t* seqs) {
    rte_mbuf* pkts[kBurst];
    if (rte_pktmbuf_alloc_bulk(pool_, pkts, n) != 0) return 0;
    for (uint16_t i = 0; i < n; ++i) {
      auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(pkts[i], cfg_.frame));
      std::memcpy(d, tmpl_.data(), cfg_.frame);
      std::memcpy(d + kSeqOff, &seqs[i], sizeof seqs[i]);
    }
    const uint64_t stamp = rte_rdtsc();
    for (uint16_t i = 0; i < n; ++i)
      std::memcpy(rte_pktmbuf_mtod_offset(pkts[i], uint8_t*, kTscOff), &stamp, sizeof stamp);
    const uint16_t sent = rte_eth_tx_burst(cfg_.tx_port, 0, pkts, n);
    if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    return sent;
  }

  // Our packet: a frame of at least kMinFrame contiguous bytes with the
  // magic at its place and our UDP port (sequence and stamp out).
  static bool parse(const rte_mbuf* m, uint64_t* seq, uint64_t* stamp) {
    if (rte_pktmbuf_data_len(m) < kMinFrame) return false;
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    uint16_t magic, dport;
    std::memcpy(&magic, d + kMagicOff, sizeof magic);
    std::memcpy(&dport, d + kHeaders - sizeof(rte_udp_hdr) + 2, sizeof dport);
    if (magic != kMagic || dport != rte_cpu_to_be_16(kUdpPort)) return false;
    std::memcpy(seq, d + kSeqOff, sizeof *seq);
    std::memcpy(stamp, d + kTscOff, sizeof *stamp);
    return true;
  }

  // Empties a port's rx ring (nothing should arrive there); returns the count.
  uint64_t drain(uint16_t port) {
    rte_mbuf* pkts[kBurst];
    const uint16_t n = rte_eth_rx_burst(port, 0, pkts, kBurst);
    rte_pktmbuf_free_bulk(pkts, n);
    return n;
  }

  const Config& cfg_;
  rte_mempool* pool_;
  std::vector<uint8_t> tmpl_;
  uint64_t hz_;
};

std::string json_phase(const PhaseResult& r) {
  const LatencyHistogram& h = *r.hist;
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << "{\"rate\": \"" << r.rate << "\", \"target_pps\": " << r.target_pps
    << ", \"sent\": " << r.sent << ", \"received\": " << r.received
    << ", \"lost\": " << (r.sent - r.received) << ", \"duplicates\": " << r.duplicates
    << ", \"reordered\": " << r.reordered << ", \"tx_ring_full\": " << r.tx_ring_full
    << ", \"bad_stamp\": " << r.bad_stamp << ", \"unexpected\": " << r.unexpected
    << ", \"warmup_sent\": " << r.warmup_sent << ", \"warmup_received\": " << r.warmup_received
    << ", \"schedule_skips\": " << r.schedule_skips
    << ", \"stopped_early\": " << (r.stopped_early ? "true" : "false");
  o.precision(4);
  o << ", \"tx_seconds\": " << r.tx_seconds;
  o.precision(1);
  o << ", \"tx_pps\": " << r.tx_pps << ", \"rx_pps\": " << r.rx_pps
    << ", \"latency_ns\": {\"samples\": " << h.count() << ", \"min\": " << h.min()
    << ", \"mean\": " << h.mean() << ", \"p50\": " << h.quantile(0.5)
    << ", \"p90\": " << h.quantile(0.9) << ", \"p99\": " << h.quantile(0.99)
    << ", \"p999\": " << h.quantile(0.999) << ", \"max\": " << h.max() << "}}";
  return o.str();
}

// "max" -> 0; "N%" -> N % of base (error if base is 0); "N" -> N pps.
bool rate_pps(const std::string& spec, double base, double* pps, std::string* err) {
  try {
    size_t used = 0;
    if (spec == "max") {
      *pps = 0;
      return true;
    }
    const double v = std::stod(spec, &used);
    if (used == spec.size() - 1 && spec.back() == '%') {
      if (base <= 0) {
        *err = "rate " + spec + " needs a \"max\" phase before it or --max-pps";
        return false;
      }
      *pps = base * v / 100;
    } else if (used == spec.size()) {
      *pps = v;
    } else {
      throw std::invalid_argument(spec);
    }
  } catch (const std::exception&) {
    *err = "bad rate \"" + spec + "\" (max, PPS or N%)";
    return false;
  }
  if (!(*pps > 0)) *err = "rate " + spec + " is not above 0 packets per second";
  return *pps > 0;
}

int parse_options(int argc, char** argv, Config* cfg) {
  std::string rates = "max,10%,80%";
  po::options_description desc(kUsage);
  desc.add_options()("help,h", "this help")("tx-port", po::value(&cfg->tx_port)->default_value(0),
                                            "DPDK port to send on (A)")(
      "rx-port", po::value(&cfg->rx_port)->default_value(1), "DPDK port to receive on (B)")(
      "rates", po::value(&rates)->default_value(rates),
      "comma-separated phases: max (as fast as possible: the throughput), PPS, or N% of the "
      "latest max phase's received rate (or of --max-pps)")(
      "max-pps", po::value(&cfg->max_pps)->default_value(0),
      "the path's throughput, for N% rates before any max phase")(
      "duration", po::value(&cfg->duration_s)->default_value(1.0, "1"),
      "seconds measured per phase")("warmup", po::value(&cfg->warmup_s)->default_value(0.2, "0.2"),
                                    "seconds sent at the phase's rate before it is measured")(
      "packets", po::value(&cfg->packets)->default_value(0),
      "measured packets per paced phase instead of --duration")(
      "size", po::value(&cfg->frame)->default_value(60),
      "frame bytes without FCS (60..1514; 60 is a 64-byte frame)")(
      "drain-ms", po::value(&cfg->drain_ms)->default_value(200),
      "after the last packet sent, how long without arrivals until the rest counts as lost")(
      "ready-timeout", po::value(&cfg->ready_timeout_s)->default_value(60),
      "seconds to wait for the first packet through the switch")(
      "mbufs", po::value(&cfg->mbufs)->default_value(8191), "packet buffers");
  po::variables_map vm;
  if (const int rc = parse_tool_args(argc, argv, desc, &vm, "dpx-latgen"); rc >= 0) return rc;
  std::string err;
  if (cfg->frame < kMinFrame || cfg->frame > 1514) err = "--size must be 60..1514";
  if (cfg->tx_port == cfg->rx_port) err = "--tx-port and --rx-port must differ";
  if (!(cfg->duration_s > 0) || cfg->warmup_s < 0 || cfg->drain_ms < 0)
    err = "--duration must be above 0, --warmup and --drain-ms at least 0";
  std::stringstream ss(rates);
  for (std::string r; std::getline(ss, r, ',');) cfg->rates.push_back(r);
  if (cfg->rates.empty() || cfg->rates.size() > kMaxPhases)
    err = "--rates needs 1 to " + std::to_string(kMaxPhases) + " phases";
  // Check every rate's syntax now, with a base where one will exist.
  bool have_base = cfg->max_pps > 0;
  for (const std::string& r : cfg->rates) {
    double pps;
    if (err.empty() && !rate_pps(r, have_base ? 1 : 0, &pps, &err)) break;
    have_base |= r == "max";
  }
  if (!err.empty()) {
    std::cerr << "dpx-latgen: " << err << "\n";
    return 2;
  }
  return -1;
}

int run(const Config& cfg) {
  std::string err;
  if (!tsc_invariant(&err)) {
    std::cerr << "dpx-latgen: the TSC is not invariant (" << err
              << "): cycles cannot be turned into time\n";
    return 1;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("latgen", cfg.mbufs, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (!pool) {
    std::cerr << "dpx-latgen: mempool: " << rte_strerror(rte_errno) << "\n";
    return 1;
  }
  if (!setup_port(cfg.tx_port, pool, &err) || !setup_port(cfg.rx_port, pool, &err)) {
    std::cerr << "dpx-latgen: " << err << "\n";
    return 1;
  }
  rte_ether_addr src{}, dst{};
  rte_eth_macaddr_get(cfg.tx_port, &src);
  rte_eth_macaddr_get(cfg.rx_port, &dst);
  Generator gen(cfg, pool, frame_template(cfg.frame, src, dst));
  if (!gen.wait_ready()) {
    std::cerr << "dpx-latgen: no packet came back on port " << cfg.rx_port << " within "
              << cfg.ready_timeout_s << " s (is the switch forwarding port A to port B?)\n";
    return 1;
  }
  std::vector<PhaseResult> results;
  double base = cfg.max_pps;
  for (const std::string& rate : cfg.rates) {
    double pps;
    if (!rate_pps(rate, base, &pps, &err)) {
      std::cerr << "dpx-latgen: " << err << "\n";
      return 1;
    }
    PhaseResult& r = results.emplace_back();
    r.rate = rate;
    gen.run(results.size(), rate == "max" ? 0 : pps, &r);
    if (rate == "max") base = r.rx_pps;
    if (g_stop) break;
  }
  std::cout << "{\"tool\": \"dpx-latgen\", \"tsc_hz\": " << gen.tsc_hz()
            << ", \"frame_bytes\": " << cfg.frame << ", \"phases\": [";
  for (size_t i = 0; i < results.size(); ++i)
    std::cout << (i ? ",\n  " : "\n  ") << json_phase(results[i]);
  std::cout << "\n]}\n" << std::flush;
  for (uint16_t p : {cfg.tx_port, cfg.rx_port}) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  return g_stop ? 1 : 0;
}

}  // namespace
}  // namespace dpx

int main(int argc, char** argv) {
  // Our options come after "--"; --help alone needs no EAL.
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      dpx::Config cfg;
      char* args[] = {argv[0], argv[i]};
      return dpx::parse_options(2, args, &cfg) == 0 ? 0 : 2;
    }
  const int used = rte_eal_init(argc, argv);
  if (used < 0) {
    std::cerr << "dpx-latgen: EAL initialisation failed: " << rte_strerror(rte_errno) << "\n";
    return 1;
  }
  dpx::Config cfg;
  int rc = dpx::parse_options(argc - used, argv + used, &cfg);
  if (rc < 0) {
    std::signal(SIGINT, dpx::on_signal);
    std::signal(SIGTERM, dpx::on_signal);
    rc = dpx::run(cfg);
  }
  rte_eal_cleanup();
  return rc;
}
