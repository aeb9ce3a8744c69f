"""The tasks a bundle can do, one object each (edge.tasks.base.Task), keyed by the manifest's output kind in
edge.tasks.registry: classification ("logits") and regression ("regression"), with the result models,
result vocabulary, scores and checks that differ between them."""
