#!/usr/bin/env python3
"""Inclusive instruction counts of functions in a callgrind output file,
whole functions (callgrind_annotate splits a function by the source file of
its inlined code, which makes its per-entry inclusive costs hard to add up).

Usage: callgrind_incl.py CALLGRIND_OUT REGEX...
Prints, for each function whose name matches one of the regexes, its
inclusive Ir (its own cost plus that of every call it made) and the number
of times it was called, then the sum of the inclusive costs.
Assumes the one event callgrind counts by default (Ir).
"""
import re
import sys


def parse(path):
    names = {}  # compressed id -> name, per kind (fn and cfn share one table)
    self_cost, call_cost, calls = {}, {}, {}
    fn = None
    pending_call = None  # the callee of the next cost line, after calls=
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(("fn=", "cfn=", "cfi=", "cfl=", "fl=", "fi=", "fe=", "ob=", "cob=")):
                key, val = line.split("=", 1)
                m = re.match(r"\((\d+)\)(?: (.*))?$", val)
                if key in ("fn", "cfn"):
                    if m:
                        if m.group(2) is not None:
                            names[m.group(1)] = m.group(2)
                        name = names[m.group(1)]
                    else:
                        name = val
                    if key == "fn":
                        fn = name
                    else:
                        pending_callee = name
                continue
            if line.startswith("calls="):
                pending_call = pending_callee
                n = int(line[len("calls="):].split()[0])
                calls[pending_callee] = calls.get(pending_callee, 0) + n
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            parts = line.split()
            if len(parts) < 2 or fn is None:
                pending_call = None
                continue
            cost = int(parts[-1])
            if pending_call is not None:
                if pending_call != fn:  # recursion would count twice
                    call_cost[fn] = call_cost.get(fn, 0) + cost
                pending_call = None
            else:
                self_cost[fn] = self_cost.get(fn, 0) + cost
    return self_cost, call_cost, calls


def main():
    self_cost, call_cost, calls = parse(sys.argv[1])
    total = 0
    for pat in sys.argv[2:]:
        r = re.compile(pat)
        for fn in sorted(set(self_cost) | set(call_cost)):
            if r.search(fn):
                incl = self_cost.get(fn, 0) + call_cost.get(fn, 0)
                print(f"{incl:>14,}  {calls.get(fn, 0):>10,} calls  {fn}")
                total += incl
    print(f"{total:>14,}  total")


if __name__ == "__main__":
    main()
