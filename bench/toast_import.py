"""Benchmark: historical import of the Toast account through its real dlt source, against the
emulator's serving ceiling measured in the same run (see ``bench/_provider_import.py``).

    python -m bench.toast_import [--days 90] [--scale chain] [--out bench/results/toast_import.json]
"""

from bench._provider_import import main

if __name__ == "__main__":
    main("toast")
