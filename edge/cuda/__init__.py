"""The NVIDIA GPU: which one it is, and the one module for CUDA device memory."""
