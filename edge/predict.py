"""`edge-predict`: Classify image files with a bundle.

Lands with issue 4, on-device runtime; until then the command exists (so nothing is renamed later) and says so.
"""

from edge.cli import not_implemented

main = not_implemented("edge-predict", __doc__, "issue 4, on-device runtime")

if __name__ == "__main__":
    raise SystemExit(main())
