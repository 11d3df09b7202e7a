#!/usr/bin/env bash
# Reserves 2 MiB hugepages and mounts hugetlbfs for DPDK. Idempotent.
# Usage: scripts/hugepages.sh [PAGES]   (default 1024 pages = 2 GiB)
set -euo pipefail
pages=${1:-1024}
mnt=/dev/hugepages

cur=$(cat /proc/sys/vm/nr_hugepages)
if ((cur < pages)); then
  echo "$pages" >/proc/sys/vm/nr_hugepages
  cur=$(cat /proc/sys/vm/nr_hugepages)
fi
if ((cur < pages)); then
  echo "hugepages: only $cur of $pages pages could be reserved (memory fragmented?)" >&2
fi
mkdir -p "$mnt"
if ! mountpoint -q "$mnt"; then
  mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi
echo "hugepages: $cur x 2 MiB reserved, hugetlbfs on $mnt"
