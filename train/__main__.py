"""`python -m train ...` is `edge-train ...` (what torchrun launches: torchrun ... -m train DATA)."""

from train.cli import main

raise SystemExit(main())
