// Minimal classic-pcap (LINKTYPE_ETHERNET) reading and writing for tests:
// the fixtures net_pcap replays and the captures it writes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace dpx::test {

using Packet = std::vector<uint8_t>;

// The packet as lower-case hex digits, as `dpxctl execute` takes it.
inline std::string hex_of(const Packet& p) {
  std::string s;
  char buf[3];
  for (uint8_t c : p) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

inline bool write_pcap(const std::string& path, const std::vector<Packet>& pkts) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  bool ok = std::fwrite(gh, sizeof gh, 1, f) == 1;
  uint32_t ts = 0;
  for (const Packet& p : pkts) {
    const uint32_t rh[4] = {ts++, 0, static_cast<uint32_t>(p.size()),
                            static_cast<uint32_t>(p.size())};
    ok = ok && std::fwrite(rh, sizeof rh, 1, f) == 1 &&
         (p.empty() || std::fwrite(p.data(), p.size(), 1, f) == 1);
  }
  return std::fclose(f) == 0 && ok;
}

// Returns false if the file is missing or malformed.
inline bool read_pcap(const std::string& path, std::vector<Packet>* out) {
  out->clear();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  uint32_t gh[6];
  bool ok = std::fread(gh, sizeof gh, 1, f) == 1 &&
            (gh[0] == 0xa1b2c3d4 || gh[0] == 0xa1b23c4d);  // usec or nsec timestamps
  while (ok) {
    uint32_t rh[4];
    if (std::fread(rh, sizeof rh, 1, f) != 1) break;
    if (rh[2] > 262144) {
      ok = false;
      break;
    }
    Packet p(rh[2]);
    if (rh[2] && std::fread(p.data(), rh[2], 1, f) != 1) {
      ok = false;
      break;
    }
    out->push_back(std::move(p));
  }
  std::fclose(f);
  return ok;
}

// An Ethernet/IPv4/UDP packet with a correct IPv4 header checksum and UDP
// checksum 0, `payload` bytes of payload (a pattern derived from `seq`).
inline Packet udp_packet(const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src_ip,
                         uint32_t dst_ip, uint16_t sport, uint16_t dport, size_t payload,
                         uint32_t seq = 0) {
  Packet p(14 + 20 + 8 + payload);
  std::memcpy(&p[0], dst_mac, 6);
  std::memcpy(&p[6], src_mac, 6);
  p[12] = 0x08;
  p[13] = 0x00;
  uint8_t* ip = &p[14];
  ip[0] = 0x45;
  const uint16_t tot = static_cast<uint16_t>(20 + 8 + payload);
  ip[2] = tot >> 8;
  ip[3] = tot & 0xff;
  ip[8] = 64;
  ip[9] = 17;
  for (int i = 0; i < 4; ++i) {
    ip[12 + i] = static_cast<uint8_t>(src_ip >> (24 - 8 * i));
    ip[16 + i] = static_cast<uint8_t>(dst_ip >> (24 - 8 * i));
  }
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t ck = static_cast<uint16_t>(~sum);
  ip[10] = ck >> 8;
  ip[11] = ck & 0xff;
  uint8_t* udp = ip + 20;
  udp[0] = sport >> 8;
  udp[1] = sport & 0xff;
  udp[2] = dport >> 8;
  udp[3] = dport & 0xff;
  const uint16_t ulen = static_cast<uint16_t>(8 + payload);
  udp[4] = ulen >> 8;
  udp[5] = ulen & 0xff;
  for (size_t i = 0; i < payload; ++i) udp[8 + i] = static_cast<uint8_t>(seq * 7 + i);
  return p;
}

}  // namespace dpx::test
