"""One line of the doctor's report, and what its status means.

PASS and FAIL are for what was really verified. SKIP says why a check could not run here; a skip
never counts as a pass. INFO is a fact worth having in a bug report (the power mode, free memory)
that is neither.
"""

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
STATUSES = (PASS, FAIL, SKIP, INFO)


class Check(object):
    """One line of the doctor's report: what was checked, how it went, what was found, what to do."""

    def __init__(self, name, status, detail, fix=None, data=None):
        if status not in STATUSES:
            raise ValueError("unknown check status {!r}".format(status))
        self.name, self.status, self.detail, self.fix, self.data = name, status, detail, fix, data or {}

    def to_dict(self):
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix, "data": self.data}

    def __repr__(self):
        return "Check({!r}, {}, {!r})".format(self.name, self.status, self.detail)
