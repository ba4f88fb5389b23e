"""Training: the data set, the model registry, the fit loop and its figures (TensorFlow side)."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on a CPU-only machine) hides our own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
