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


def run_workers(workers: list) -> float:
    """Start every worker thread at once, wait for all; return the wall-clock seconds."""
    import threading

    threads = [threading.Thread(target=worker) for worker in workers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
