"""Desktop fine-tuning of ResNet classifiers (needs torch). Never imported by `edge/`.

    import train
    run = train.fit("data/flowers", epochs=5)     # train.api: edge-train as a call; torch loads then
"""

from train.api import fit

__all__ = ["fit"]
