"""CPU time this process has used (all its threads, user and system): the cost of a result.

Standard library only (os.times), Python 3.6 compatible. `CpuMeter` gives the CPU and wall
seconds since it was made; CPU seconds per wall second x 100 is the percent of one core (two busy
cores read 200%, as top shows it).
"""

import os
import time


def process_cpu_seconds():
    """User plus system CPU seconds of this process so far, all threads."""
    times = os.times()
    return times[0] + times[1]


class CpuMeter(object):
    """CPU and wall seconds since the meter was made."""

    def __init__(self):
        self.started_wall, self.started_cpu = time.time(), process_cpu_seconds()

    def since_start(self):
        """(cpu seconds, wall seconds) since the meter was made."""
        return process_cpu_seconds() - self.started_cpu, time.time() - self.started_wall
