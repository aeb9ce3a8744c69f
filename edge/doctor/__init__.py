"""edge-doctor: this machine and a bundle checked against the desktop's own numbers.

    checks.py         Check, one line of the report; the statuses
    machine.py        the machine: L4T, TensorRT, CUDA round trip, GPU, OpenCV, cameras, power, memory, disk
    bundle_checks.py  every runtime and precision that runs here, on the bundle's golden set (edge.bundle.golden)
    source_check.py   a camera or stream: frames for a few seconds, their rate and size
    report.py         the table and the JSON report
    cli.py            edge-doctor [BUNDLE] [--source URI] [--json report.json] [--build-engine]

Python 3.6 compatible, no torch: it runs on the device.
"""
