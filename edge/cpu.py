"""CPU time this process has used (all its threads, user and system): the cost of a result.

Standard library only (os.times), Python 3.6 compatible. `CpuMeter` turns two readings into a
percentage of one core (100% = one core busy; two busy cores read 200%, as top shows it).
"""

import os
import time


def process_cpu_seconds():
    """User plus system CPU seconds of this process so far, all threads."""
    times = os.times()
    return times[0] + times[1]


class CpuMeter(object):
    """CPU percent of one core between readings, and since the start."""

    def __init__(self):
        self.started_wall, self.started_cpu = time.time(), process_cpu_seconds()
        self.last_wall, self.last_cpu = self.started_wall, self.started_cpu

    def since_start(self):
        """(cpu seconds, wall seconds) since the meter was made."""
        return process_cpu_seconds() - self.started_cpu, time.time() - self.started_wall

    def percent(self):
        """Percent of one core used since the previous call (the first: since the start)."""
        wall, cpu = time.time(), process_cpu_seconds()
        elapsed = wall - self.last_wall
        value = 100.0 * (cpu - self.last_cpu) / elapsed if elapsed > 0 else 0.0
        self.last_wall, self.last_cpu = wall, cpu
        return value
