"""The deployment bundle and the formats written beside it: manifest schema, golden set, ONNX facts,
preprocessing spec, Triton model repository."""
