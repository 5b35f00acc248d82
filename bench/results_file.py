"""Where a benchmark leaves its raw figures: bench/results/NAME-TIMESTAMP.json."""

import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def save(name: str, arguments, results: dict, ratios: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"arguments": vars(arguments), "results": results,
                                "ratios": ratios}, indent=2) + "\n")
    return path
