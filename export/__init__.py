"""Export: quantized LiteRT models with their contract, drift checks, robustness and benchmarks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
