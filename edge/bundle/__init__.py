"""The deployment bundle: its manifest and schema, the golden set, the ONNX facts and the preprocessing spec
written beside it."""
