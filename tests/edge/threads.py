"""Helpers for tests that call code from threads other than the main one."""

import threading


def on_thread(function, *args):
    """function(*args) run on a new thread: its result, or its exception raised here."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function(*args)
        except BaseException as exc:   # handed to the caller
            outcome["error"] = exc
    thread = threading.Thread(target=run, name="worker")
    thread.start()
    thread.join(60)
    if "error" in outcome:   # without the worker's frames, which would keep its arguments alive
        raise outcome.pop("error").with_traceback(None)
    return outcome.get("result")
