"""CPU time this process has used (all its threads, user and system): the cost of a result.

Standard library only, Python 3.6 compatible: the process's CPU clock (CLOCK_PROCESS_CPUTIME_ID,
nanoseconds; os.times, in clock ticks of 10 ms, where there is none). `CpuMeter` gives the CPU and
wall seconds since it was made; CPU seconds per wall second x 100 is the percent of one core (two busy
cores read 200%, as top shows it). `thread_cpu_seconds` is the calling thread's own CPU clock
(CLOCK_THREAD_CPUTIME_ID), for the share of one thread's work; THREAD_CLOCK is False where the
platform has none (Windows), and it then reads 0.
"""

import os
import time


_PROCESS_CLOCK = getattr(time, "CLOCK_PROCESS_CPUTIME_ID", None)
_THREAD_CLOCK = getattr(time, "CLOCK_THREAD_CPUTIME_ID", None)
THREAD_CLOCK = _THREAD_CLOCK is not None and hasattr(time, "clock_gettime")


def process_cpu_seconds():
    """User plus system CPU seconds of this process so far, all threads."""
    if _PROCESS_CLOCK is not None and hasattr(time, "clock_gettime"):
        return time.clock_gettime(_PROCESS_CLOCK)
    times = os.times()
    return times[0] + times[1]


def thread_cpu_seconds():
    """CPU seconds the calling thread has used so far; 0.0 where there is no per-thread clock (THREAD_CLOCK)."""
    return time.clock_gettime(_THREAD_CLOCK) if THREAD_CLOCK else 0.0


class CpuMeter(object):
    """CPU and wall seconds since the meter was made."""

    def __init__(self):
        self.started_wall, self.started_cpu = time.time(), process_cpu_seconds()

    def since_start(self):
        """(cpu seconds, wall seconds) since the meter was made."""
        return process_cpu_seconds() - self.started_cpu, time.time() - self.started_wall
