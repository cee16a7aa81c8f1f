"""The PMU power engine on 1,000,000 three-phase frames, printing one JSON object.

``phase_frames_per_s`` counts one phase of one frame as a phase frame (3,000,000 per run by
default); the best of ``--repeat`` runs is reported, inputs made beforehand.

    .venv/bin/python bench/bench_power.py [--frames 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from osed.grid.power import power


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    shape = (args.frames, 3)
    shifts = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
    v_mag = rng.normal(230.0, 2.0, shape)
    v_ang = shifts + rng.normal(0.0, 0.01, shape)
    i_mag = rng.uniform(0.0, 400.0, shape)
    i_ang = v_ang - rng.uniform(-0.5, 0.5, shape)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = power(v_mag, v_ang, i_mag, i_ang)
        best = min(best, time.perf_counter() - start)
    assert result.good.all()
    phase_frames = args.frames * 3
    print(
        json.dumps(
            {
                "frames": args.frames,
                "phase_frames": phase_frames,
                "seconds": round(best, 4),
                "phase_frames_per_s": round(phase_frames / best),
                "frames_per_s": round(args.frames / best),
                "target_phase_frames_per_s": 1_000_000,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
