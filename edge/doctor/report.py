"""The doctor's report: a table to read, and a JSON document to attach to an issue.

The verdict counts what was really checked: a skip is never a pass, and one failure fails it.
"""

from edge.version import __version__
from edge.doctor.checks import FAIL, INFO, PASS, SKIP
from edge.util.text_table import format_table

SCHEMA = "edge-toolkit/doctor"
SCHEMA_VERSION = 1
HEADERS = ("check", "result", "detail", "what to do")


def counts(checks):
    return dict((status, sum(1 for check in checks if check.status == status)) for status in (PASS, FAIL, SKIP, INFO))


UNVERIFIED = "nothing verified"


def verdict(checks):
    """"fail" when a check failed; "pass" when some passed and none failed; else "nothing verified"
    (every check skipped or informational: a skip is never a pass)."""
    found = counts(checks)
    if found[FAIL]:
        return FAIL
    return PASS if found[PASS] else UNVERIFIED


def table(checks):
    rows = [(check.name, check.status.upper() if check.status in (PASS, FAIL) else check.status, check.detail,
             check.fix or "") for check in checks]
    return format_table(rows, HEADERS)


def summary_line(checks):
    found = counts(checks)
    return "verdict: {} ({} passed, {} failed, {} skipped: a skip is not a pass; {} for information)".format(
        verdict(checks).upper(), found[PASS], found[FAIL], found[SKIP], found[INFO])


def document(checks, command, bundle=None, environment=None, created=None):
    """The JSON report: what ran, on what, with every check's figures."""
    described = None
    if bundle is not None:
        model = bundle.manifest.get("model") or {}
        described = {"path": bundle.path, "arch": model.get("arch"), "classes": model.get("num_classes"),
                     "output": bundle.output_kind, "targets": bundle.manifest["output"].get("targets"),
                     "created": bundle.manifest.get("created"), "producer": bundle.manifest.get("producer"),
                     "fused_preprocess": bool(bundle.fused_preprocess)}
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created": created, "edge_toolkit": __version__,
            "command": command, "verdict": verdict(checks), "counts": counts(checks), "bundle": described,
            "environment": environment, "checks": [check.to_dict() for check in checks]}
