// dpx-pcapgen: writes pcap files of synthetic traffic for the demo and the
// benchmarks (net_pcap replays them, infinite_rx=1 for load). Packets are
// Ethernet/IPv4/UDP with valid IPv4 checksums; microflows differ in their
// UDP source port and IPv4 source address.
#include <boost/program_options.hpp>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_parse.h"

namespace po = boost::program_options;

namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

// IMIX as the classic 7:4:1 mix of 64, 570 and 1518-byte frames.
uint32_t frame_size(const std::string& spec, uint64_t i) {
  if (spec == "imix") {
    const uint64_t k = i % 12;
    return k < 7 ? 64 : k < 11 ? 570 : 1518;
  }
  return static_cast<uint32_t>(std::stoul(spec));
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, size = "64";
  uint64_t flows = 1, count = 0;
  std::string dst_ip = "10.0.0.1";
  po::options_description desc(
      "Usage: dpx-pcapgen --out FILE [--flows N] [--count N] [--size BYTES|imix]\nOptions");
  desc.add_options()("help,h", "this help")("out,o", po::value(&out)->required(),
                                            "pcap file to write")(
      "flows,f", po::value(&flows)->default_value(1),
      "number of distinct microflows (1..16777216)")(
      "count,c", po::value(&count)->default_value(0),
      "packets to write (default: one per microflow, at least 1024)")(
      "size,s", po::value(&size)->default_value("64"),
      "frame size in bytes without FCS (60..9000, i.e. 64-byte frames are 60 here "
      "plus FCS; 64 means 64 written bytes), or imix");
  po::variables_map vm;
  if (const int rc = dpx::parse_tool_args(argc, argv, desc, &vm, "dpx-pcapgen"); rc >= 0) return rc;
  if (flows < 1 || flows > (1u << 24)) {
    std::cerr << "dpx-pcapgen: --flows must be 1..16777216\n";
    return 2;
  }
  if (size != "imix") {
    try {
      const unsigned long s = std::stoul(size);
      if (s < 60 || s > 9000) throw std::out_of_range("size");
    } catch (const std::exception&) {
      std::cerr << "dpx-pcapgen: --size must be 60..9000 or imix\n";
      return 2;
    }
  }
  if (count == 0) count = std::max<uint64_t>(flows, 1024);
  FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) {
    std::perror(("dpx-pcapgen: " + out).c_str());
    return 1;
  }
  const uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  std::fwrite(gh, sizeof gh, 1, f);
  std::vector<uint8_t> p(9000);
  for (uint64_t i = 0; i < count; ++i) {
    const uint32_t len = frame_size(size, i);
    std::fill(p.begin(), p.begin() + len, 0);
    const uint64_t fl = i % flows;
    const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::copy(dst, dst + 6, p.begin());
    std::copy(src, src + 6, p.begin() + 6);
    put16(&p[12], 0x0800);
    uint8_t* ip = &p[14];
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(len - 14));
    ip[8] = 64;
    ip[9] = 17;
    // Microflow fl: source port 1024 + fl % 64512 (never a well-known
    // port), source address 10.1.x.y with x.y = fl / 64512.
    put32(ip + 12, 0x0a010000u | static_cast<uint32_t>(fl / 64512));
    put32(ip + 16, 0x0a000001u);
    uint32_t sum = 0;
    for (int k = 0; k < 20; k += 2) sum += (ip[k] << 8) | ip[k + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, static_cast<uint16_t>(~sum));
    uint8_t* udp = ip + 20;
    put16(udp, static_cast<uint16_t>(1024 + fl % 64512));
    put16(udp + 2, 5001);
    put16(udp + 4, static_cast<uint16_t>(len - 34));
    const uint32_t rh[4] = {static_cast<uint32_t>(i / 1000000), static_cast<uint32_t>(i % 1000000),
                            len, len};
    std::fwrite(rh, sizeof rh, 1, f);
    std::fwrite(p.data(), len, 1, f);
  }
  if (std::fclose(f) != 0) {
    std::perror("dpx-pcapgen: write");
    return 1;
  }
  return 0;
}
