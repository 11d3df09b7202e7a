#!/usr/bin/env bash
# Installs every Debian 12 package dpx needs to build, test, run its demo and
# benchmarks. Idempotent: packages already installed are left alone, and the
# package lists are refreshed only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  libdpdk-dev dpdk libboost-program-options-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpcap-dev libnuma-dev libbpf-dev libxdp-dev
  # dpx-cni (cni/): JSON, rtnetlink; the standard CNI plugins (host-local
  # IPAM, in /usr/lib/cni) for its delegated IPAM
  nlohmann-json3-dev libnl-route-3-dev containernetworking-plugins
  # ovs-vswitchd with the dpx provider (ovs/): the Open vSwitch 3.1 sources,
  # which ship a ready configure (no autotools needed), and what configure
  # finds or needs; Debian's ovsdb-server, ovs-vsctl, ovs-ofctl, ovs-appctl
  openvswitch-source libssl-dev libcap-ng-dev python3 openvswitch-common openvswitch-switch
  # tests and demo: namespaces, veth, traffic and captures
  iproute2 iputils-ping ethtool tcpdump python3-scapy iperf3 procps psmisc
  # benchmarks (bench/run.sh): OVS-DPDK to compare against (installing it
  # selects no alternative: the harness runs ovs-vswitchd-dpdk by path),
  # dpdk-testpmd (in dpdk-dev) for the ceiling, plots; stdbuf and taskset
  python3 python3-matplotlib openvswitch-switch-dpdk dpdk-dev coreutils util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi
