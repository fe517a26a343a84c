"""What every benchmark prints first: date, CPU, cores, load and library versions."""

import datetime
import os
import platform
import time


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or what `platform` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_info(**versions: str) -> str:
    """One line: UTC date, platform, CPU, logical cores, load average, Python and the given versions."""
    libs = "; ".join(f"{name} {version}" for name, version in versions.items())
    return (
        f"date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; CPU {cpu_name()}; "
        f"{os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.1f}; "
        f"python {platform.python_version()}" + (f"; {libs}" if libs else "")
    )


def best_time(fn, repeat: int) -> float:
    """Best wall time of `repeat` calls (after the caller's first call)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
