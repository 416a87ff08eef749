#!/usr/bin/env python3
"""Peer for bench_nlu_load: Rasa's NLU YAML reading re-stated in Python (tests/data/
rasa_reference.py: the same entity regex, PyYAML with its C loader, i.e. faster than Rasa's own
pure-Python ruamel), timed in-process over ROUNDS loads. usage: peer_load.py ROUNDS FILE..."""
import importlib.util
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "rasa_reference", os.path.join(here, "..", "..", "data", "rasa_reference.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

rounds, files = int(sys.argv[1]), sys.argv[2:]
wall, cpu, n = [], [], 0
for _ in range(rounds):
    w0, c0 = time.perf_counter(), time.process_time()
    n = sum(len(ref.read(f) or []) for f in files)
    wall.append((time.perf_counter() - w0) * 1e3)
    cpu.append((time.process_time() - c0) * 1e3)
wall.sort()
cpu.sort()
print(f"peer examples={n} wall_median_ms={wall[rounds // 2]:.2f} wall_min_ms={wall[0]:.2f} "
      f"cpu_median_ms={cpu[rounds // 2]:.2f} loader={ref.BaseLoader.__name__}")
