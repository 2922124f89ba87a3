"""Plots of a load-test run for pressure-probe's `cargo xtask loadtest`.

usage: report.py STEPS_JSON OUT_DIR

STEPS_JSON (written by the xtask) holds, per step: users, rps, failure
ratio, p50/p95 latency (ms), the probe's signals for the service's
container, and the knee's index. Writes latency.png, throughput.png and
signals.png into OUT_DIR, the knee marked on each.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def knee_line(axis, run):
    if run["knee"] is not None:
        users = run["steps"][run["knee"]]["users"]
        axis.axvline(users, color="red", linestyle="--", label=f"knee ({users} users)")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        run = json.load(f)
    out = sys.argv[2]
    steps = run["steps"]
    users = [s["users"] for s in steps]
    title = f"scenario {run['scenario']}"

    fig, axis = plt.subplots(figsize=(8, 4.5))
    axis.plot(users, [s["p50_ms"] for s in steps], marker="o", label="p50")
    axis.plot(users, [s["p95_ms"] for s in steps], marker="o", label="p95")
    probe = [s.get("probe_p95_ms") for s in steps]
    axis.plot(
        users,
        [float("nan") if p is None else p for p in probe],
        marker="s",
        linestyle="--",
        label="p95, the probe's (server side, in the kernel)",
    )
    knee_line(axis, run)
    axis.set_xlabel("users")
    axis.set_ylabel("latency (ms)")
    axis.set_title(title)
    axis.legend()
    fig.tight_layout()
    fig.savefig(f"{out}/latency.png", dpi=90)

    fig, axis = plt.subplots(figsize=(8, 4.5))
    axis.plot(users, [s["rps"] for s in steps], marker="o", label="requests/s")
    axis.set_xlabel("users")
    axis.set_ylabel("requests per second")
    errors = axis.twinx()
    failures = [100 * s["failure_ratio"] for s in steps]
    errors.plot(users, failures, marker="x", color="black", label="failures %")
    errors.set_ylabel("failures (%)")
    errors.set_ylim(0, max(1.0, 1.1 * max(failures)))
    knee_line(axis, run)
    axis.set_title(title)
    axis.legend(loc="upper left")
    errors.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(f"{out}/throughput.png", dpi=90)

    # The signals that moved (all-zero panels say nothing).
    names = sorted(
        {name for s in steps for name, value in s["signals"].items() if value}
    ) or sorted(steps[0]["signals"])[:1]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.8 * len(names) + 1), sharex=True)
    if len(names) == 1:
        axes = [axes]
    for axis, name in zip(axes, names):
        axis.plot(users, [s["signals"].get(name) for s in steps], marker="o")
        axis.set_ylabel(name, rotation=0, ha="right", fontsize=8)
        knee_line(axis, run)
    axes[0].set_title(f"{title}: the probe's signals for the service's container")
    fig.text(0.01, 0.005, run["description"], fontsize=7)
    axes[-1].set_xlabel("users")
    fig.tight_layout()
    fig.savefig(f"{out}/signals.png", dpi=90)


if __name__ == "__main__":
    main()
