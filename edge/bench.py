"""`edge-bench`: Compare runtimes and precisions of a bundle on latency and accuracy.

Lands with issue 5, benchmark CLI; until then the command exists (so nothing is renamed later) and says so.
"""

from edge.cli import not_implemented

main = not_implemented("edge-bench", __doc__, "issue 5, benchmark CLI")

if __name__ == "__main__":
    raise SystemExit(main())
