"""Benchmark: historical import of the Lightspeed account through its real dlt source, against the
emulator's serving ceiling measured in the same run (see ``bench/_provider_import.py``).

    python -m bench.lightspeed_import [--days 90] [--scale chain] [--out bench/results/lightspeed_import.json]
"""

from bench._provider_import import main

if __name__ == "__main__":
    main("lightspeed")
