"""edge-doctor's row for one runtime path against the golden set, judged by a classifier's or a regression
model's rule (edge.tasks) and made into a Check by edge.doctor.bundle_checks.golden_check: what a doctor row
says, without a bundle on disk."""

from edge.doctor.bundle_checks import golden_check
from edge.tasks import classification, regression


def judge(name, precision, outputs, reference, p50_ms=None, described=""):
    return golden_check(name, classification.golden_verdict(precision, outputs, reference, p50_ms), described)


def judge_points(name, precision, outputs, reference, spec, int8_bar, p50_ms=None, described=""):
    verdict = regression.golden_verdict(precision, outputs, reference, spec, int8_bar, p50_ms)
    return golden_check(name, verdict, described)
