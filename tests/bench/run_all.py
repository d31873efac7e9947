"""``make bench``: every benchmark of the repo, each reporting a ratio measured in one run.

Figures are printed and written to ``var/bench-results.json``. No benchmark asserts a time.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import anonymization_bench, audit_bench, e2e_bench, gateway_bench, lifecycle_bench


def main() -> dict[str, object]:
    """Run all benchmarks; returns their results by name."""
    results: dict[str, object] = {}
    print("== anonymization: Lethe batch path vs plain Presidio (same model, same texts)")
    results["anonymization"] = anonymization_bench.main()
    print("== end-to-end ingest through the five services vs in-process anonymization (same texts)")
    results["end_to_end"] = e2e_bench.main()
    print("== vault erasure and retention sweep costs")
    results["lifecycle"] = lifecycle_bench.main()
    print("== verifiable audit: verification vs read + decode of the same >= 1M-event log")
    results["audit"] = audit_bench.main()
    results["gateway"] = gateway_bench.main()  # p50/p99 ms added by lethe gateway vs direct
    out = Path("var") / "bench-results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {out}")
    return results


if __name__ == "__main__":
    main()
