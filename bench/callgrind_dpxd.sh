# Sourced by bench/pmd_callgrind.sh and bench/flowsetup_callgrind.sh, after
# they start dpxd under callgrind in the background ($pid, with its control
# socket and log in $dir and ctl() defined): waits until dpxd answers on its
# control socket (callgrind makes start-up slow) and adds the null sink as
# port 2. Exits with dpxd's log if dpxd dies first.
wait_dpxd_and_add_sink() {
  for _ in $(seq 600); do
    ctl show >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/dpxd.log"; exit 1; }
    sleep 0.2
  done
  ctl add-port sink dpdk "net_null0,no-rx=1" --port-no 2 >/dev/null
}
