"""`edge-camera`: The on-device camera daemon.

Lands with issue 4, on-device runtime; until then the command exists (so nothing is renamed later) and says so.
"""

from edge.cli import not_implemented

main = not_implemented("edge-camera", __doc__, "issue 4, on-device runtime")

if __name__ == "__main__":
    raise SystemExit(main())
