"""Triton Inference Server: the model repository edge-export writes for a bundle, and its config.pbtxt."""
