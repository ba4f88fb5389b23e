"""Training: the data set, the model registry, the fit loop and its figures (TensorFlow side)."""

import os
import platform

# TensorFlow's C++ start-up chatter (CUDA probing on a CPU-only machine) hides our own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with neural-network instructions
# (such as AVX-512 VNNI or BF16, AMX); on others (an AVX2-only AMD EPYC, say) it falls back to Eigen's,
# and `edge`'s training step takes ~1.5× as long (docs/training.md). Asked for on every x86 CPU: where
# TensorFlow would have chosen them anyway nothing changes. TF_ENABLE_ONEDNN_OPTS=0 opts out. Must be
# set before TensorFlow is imported.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
