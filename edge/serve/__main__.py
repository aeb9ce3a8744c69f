"""python -m edge.serve BUNDLE: edge-serve."""

from edge.serve.cli import main

raise SystemExit(main())
