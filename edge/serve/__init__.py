"""edge-serve: inference as a service (pull), beside edge-camera (push).

    batcher.py   dynamic batching: concurrent requests gathered into one runner call
    service.py   the model behind every front end: runner, batcher, what the model takes and gives
    tensors.py   the KServe v2 tensor JSON and Triton's binary tensor data extension
    images.py    image request bodies: JPEG/PNG, multipart forms, size guards
    metrics.py   /healthz and /metrics for the service
    statistics.py    Triton's statistics extension: counts and times measured as requests run
    triton_views.py  Triton's configuration, repository index and statistics answers, for every front end
    http.py      the HTTP front end: KServe v2 REST, /v1/predict, /healthz, /metrics
    mqtt.py      the MQTT request/response front end (MQTT 5 Response Topic, or a 3.1.1 envelope)
    cli.py       the edge-serve command
"""
