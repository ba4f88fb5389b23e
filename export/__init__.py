"""Export: quantized LiteRT models with their contract, drift checks, robustness and benchmarks."""

import train  # noqa: F401  TensorFlow's settings (log level, oneDNN kernels) before anything imports it
