"""Desktop fine-tuning of ResNet classifiers (needs torch). Never imported by `edge/`."""
