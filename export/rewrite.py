"""Export-time graph rewrites: the same function, a graph the converter and XNNPACK handle better.

    >>> model, notes = inference_graph(model)   # notes: ["batch_normalization folded into conv2d_1", ...]

1. Fold a BatchNormalization that *follows* an activation into the next conv (below).
2. Pool first: a 1×1 conv on a one-channel input followed by a MaxPool (`baseline`) pools the input instead.
   With one input channel, output c of the conv is act(w_c·x + b_c): monotone in x, rising for w_c ≥ 0 and
   falling for w_c < 0, so its max over a pooling window is act(w_c·max x + b_c) or act(w_c·min x + b_c).
   The rewrite pools the image to [max x, min x] per window (2 channels) and runs the conv on the pooled
   2-channel image with W' = [max(w, 0), min(w, 0)]: each output gets exactly one of the two terms (the other
   weight is 0). Same outputs; the conv runs on a quarter of the pixels (2×2 pools) and the full-size
   28×28×16 tensor — which the int8 export would have to quantize — is never made. The activation must be
   monotone non-decreasing (linear, ReLU, ReLU6, sigmoid, tanh), the pool 'valid'.
   *How* it pools (`PairPool`, 2×2 windows): a max-pool of a one-channel image is a slow kernel (XNNPACK
   vectorises over channels, and there is one), so the image is viewed as row pairs — (14, 2, 28), free —
   and reduced with MAXIMUM / MINIMUM of the two rows, 28 values wide; transposed (columns become rows) and
   reduced again the same way; the two results are stacked and transposed back to (14, 14, [max, min]).
   Only max, min, slices, reshapes and transposes: every value is one of the image's own pixels, bit for bit.
   Other pool sizes keep the first form of this rewrite: a max-pool of [x, −x] (`SignedMaxPool`).
   Dead channels go too: with ReLU (or ReLU6), a channel with w_c ≤ 0 and b_c ≤ 0 is act(≤ 0) = 0 for every
   input x ≥ 0 — and the image is pixels / 255 — so when Flatten → Dense follows the pool, the channel and its
   rows of the Dense's kernel are dropped (the Dense sums the same non-zero terms). `baseline` as trained here
   has 8 such channels of 16: the conv's output, the int8 QUANTIZE after it and the Dense halve.
3. Flatten → a reshape to a constant (-1, n). Keras's Flatten keeps the batch dimension symbolic, which
   the converter emits as SHAPE → STRIDED_SLICE → PACK → RESHAPE: ops XNNPACK does not take, so every
   such model ran as two delegate partitions with a CPU hop between them. (A Keras `Reshape` layer emits
   the same four ops.) The batch stays resizable: -1 is resolved at run time.

All exist only in memory for the converter; nothing rewritten is ever saved as a `.keras` file.

About (1):
TFLite folds BN into the conv *before* it, but the study's `robust` model has Conv → ReLU → BN → MaxPool →
Conv: that BN stays two per-tensor int8 ops (MUL, ADD) whose rounding costs ~1 pp of top-1 agreement.
BN at inference is y = s·x + t per channel. With every s > 0, MaxPool commutes with it, and a following
conv with 'valid' padding (no zeros padded in, which BN would have shifted) absorbs it exactly:
W'[…, i, o] = s_i·W[…, i, o] and b'_o = b_o + Σ W[…, i, o]·t_i. The caller checks the rewrite
numerically against the trained model and keeps the trained graph if it differs.
"""

from __future__ import annotations

import numpy as np

_INERT = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "Dropout")


def inference_graph(model):
    """(model', notes): the converter's input with every applicable rewrite; (model, []) if none applies."""
    folded, notes = fold_batchnorm(model)
    pooled, pool_notes = pool_first(folded)
    flat, more = fixed_flatten(pooled)
    return flat, notes + pool_notes + more


_MONOTONE = ("linear", "relu", "relu6", "sigmoid", "tanh")  # non-decreasing: the max of act(·) is act(max ·)


def _pool_first_pair(stack, input_channels: int):
    """(i, j) of the first Conv2D at i that `pool_first` applies to and its MaxPooling2D at j, or None."""
    from keras import layers

    channels = input_channels
    for i, layer in enumerate(stack):
        if isinstance(layer, layers.Conv2D) and type(layer) is layers.Conv2D:
            ok = (channels == 1 and tuple(layer.kernel_size) == (1, 1) and tuple(layer.strides) == (1, 1)
                  and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1 and layer.data_format == "channels_last"
                  and getattr(layer.activation, "__name__", "") in _MONOTONE)
            j = i + 1
            while j < len(stack) and type(stack[j]).__name__ in _INERT:
                j += 1
            pool = stack[j] if j < len(stack) else None
            if ok and isinstance(pool, layers.MaxPooling2D) and pool.padding == "valid" and pool.data_format == "channels_last":
                return i, j
            return None  # only the first conv reads the one-channel image
        if type(layer).__name__ not in _INERT:
            return None


_DEAD_WHEN_NEGATIVE = ("relu", "relu6")  # act(z) = 0 for every z ≤ 0


def _dense_after(stack, j: int):
    """(Flatten, Dense) indices of a Flatten → Dense after the pool at j (inert layers skipped), or None."""
    from keras import layers

    k = j + 1
    while k < len(stack) and type(stack[k]).__name__ in _INERT:
        k += 1
    if k >= len(stack) or not isinstance(stack[k], layers.Flatten):
        return None
    f, k = k, k + 1
    while k < len(stack) and type(stack[k]).__name__ in _INERT:
        k += 1
    return (f, k) if k < len(stack) and type(stack[k]) is layers.Dense else None


def _stem_layers():
    """The two stem layers (defined here, not at import: Keras stays out of modules that never export)."""
    import keras
    from keras import layers

    class SignedMaxPool(keras.layers.Layer):
        """max-pool of [x, −x]: the window's max and (negated) min, as two channels.

        [x, −x] is a 1×1 conv with the constant kernel [1, −1] (exact in float): XNNPACK runs a channel
        CONCATENATION of x and −x ~7× slower than the whole rest of `baseline`'s stem.
        """

        def __init__(self, pool_size, strides, **kwargs):
            super().__init__(**kwargs)
            self.pool = layers.MaxPooling2D(pool_size, strides, padding="valid")
            self.signs = np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2)

        def call(self, x):
            return self.pool(keras.ops.conv(x, self.signs, strides=1, padding="valid"))

    class PairPool(keras.layers.Layer):
        """2×2 max and min of a one-channel image, (B, H, W, 1) → (B, H/2, W/2, [max, min]) — or [max] alone.

        Rows are paired by a free reshape and reduced W values wide, then columns after a transpose;
        see the module docstring for why not a max-pool.
        """

        def __init__(self, height, width, with_min=True, **kwargs):
            super().__init__(**kwargs)
            self.h, self.w, self.with_min = height // 2, width // 2, with_min

        def call(self, x):
            ops, h, w = keras.ops, self.h, self.w

            def halves(t):  # (B, n, 2, m) → its two (B, n, 1, m) halves
                return t[:, :, :1, :], t[:, :, 1:, :]

            def across(t, reduce):  # (B, h, 1, 2w) row-reduced → (B, w, 1, h): columns reduced, transposed
                t = ops.transpose(ops.reshape(t, (-1, h, 2 * w)), (0, 2, 1))
                return reduce(*halves(ops.reshape(t, (-1, w, 2, h))))

            top, bottom = halves(ops.reshape(x, (-1, h, 2, 2 * w)))
            out = [across(ops.maximum(top, bottom), ops.maximum)]
            if self.with_min:
                out.append(across(ops.minimum(top, bottom), ops.minimum))
            both = ops.concatenate(out, axis=2) if self.with_min else out[0]  # (B, w, 1|2, h)
            return ops.transpose(both, (0, 3, 1, 2))  # (B, h, w, [max, min])

    return SignedMaxPool, PairPool


def _live_channels(conv, k: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Indices of the 1×1 conv's channels that can be non-zero for an input ≥ 0 (pixels / 255): under ReLU,
    w ≤ 0 and b ≤ 0 give act(w·x + b) = 0 for every such x. All of them when none is live."""
    if getattr(conv.activation, "__name__", "") not in _DEAD_WHEN_NEGATIVE:
        return np.arange(conv.filters)
    live = ~((k <= 0) & (bias <= 0))
    return np.flatnonzero(live) if live.any() else np.arange(conv.filters)


def _narrower_dense(stack, flat_dense: tuple[int, int], keep: np.ndarray, filters: int) -> dict:
    """{index: (fresh layer, its weights)} for the Flatten and the Dense after it, the Dense keeping only
    the rows of the `keep` channels (the Flatten's order is row, column, channel)."""
    from keras import layers

    f, d = flat_dense
    dense = stack[d]
    dk, db = dense.get_weights() if dense.use_bias else (dense.get_weights()[0], None)
    cells = dk.shape[0] // filters
    rows = dk.reshape(cells, filters, -1)[:, keep, :].reshape(cells * len(keep), -1)
    return {d: (layers.Dense.from_config(dense.get_config()), [rows] + ([db] if db is not None else [])),
            f: (layers.Flatten.from_config(stack[f].get_config()), [])}  # a fresh Flatten: its output is narrower


def pool_first(model):
    """(model', notes): a Sequential copy whose 1×1 conv + MaxPool on the one-channel input pools first (see above)."""
    import keras
    from keras import layers

    if not isinstance(model, keras.Sequential):
        return model, []
    stack = list(model.layers)
    pair = _pool_first_pair(stack, int(model.input_shape[-1]))
    if pair is None:
        return model, []
    i, j = pair
    conv, pool = stack[i], stack[j]
    height, width = (int(d) for d in model.input_shape[1:3])
    pairs = tuple(pool.pool_size) == (2, 2) and tuple(pool.strides) == (2, 2) and height % 2 == 0 and width % 2 == 0

    SignedMaxPool, PairPool = _stem_layers()
    w = conv.get_weights()
    kernel, bias = w[0], (w[1] if conv.use_bias else np.zeros(w[0].shape[-1], w[0].dtype))
    k = kernel.reshape(-1)
    flat_dense = _dense_after(stack, j)
    keep = _live_channels(conv, k, bias) if flat_dense is not None else np.arange(conv.filters)
    k, bias = k[keep], bias[keep]
    if pairs:
        with_min = bool((k < 0).any())
        stem = PairPool(height, width, with_min, name=pool.name)
        kernel2 = np.stack([np.maximum(k, 0)] + ([np.minimum(k, 0)] if with_min else []))  # on [max x, min x]
    else:
        stem = SignedMaxPool(pool.pool_size, pool.strides, name=pool.name)
        kernel2 = np.stack([np.maximum(k, 0), -np.minimum(k, 0)])  # on [max x, max −x]
    new_conv = layers.Conv2D(len(keep), 1, activation=conv.activation, use_bias=True, name=conv.name)
    replaced = {}  # index in the stack → (new layer, its weights)
    notes = [f"{conv.name} + {pool.name} → {pool.name} to [max, min] first, then {conv.name} on "
             f"{kernel2.shape[0]} channel(s)" + ("" if pairs else " ([x, −x] max-pooled)")]
    if len(keep) < conv.filters:
        replaced = _narrower_dense(stack, flat_dense, keep, conv.filters)
        notes.append(f"{conv.filters - len(keep)} of {conv.filters} {conv.name} channels dropped (ReLU of ≤ 0 for "
                     f"every input ≥ 0), with their rows of {stack[flat_dense[1]].name}")
    rest = [replaced[n][0] if n in replaced else layer for n, layer in enumerate(stack) if n not in (i, j)]
    new_layers = rest[:i] + [stem, new_conv] + rest[i:]
    clone = keras.Sequential([keras.Input(model.input_shape[1:])] + new_layers, name=model.name)  # others shared: trained weights
    new_conv.set_weights([kernel2.reshape(1, 1, kernel2.shape[0], len(keep)), bias])
    for layer, weights in replaced.values():
        layer.set_weights(weights)
    return clone, notes


def fixed_flatten(model):
    """(model', notes): a Sequential copy whose Flatten layers reshape to a constant (-1, n)."""
    import keras

    if not isinstance(model, keras.Sequential) or not any(isinstance(l, keras.layers.Flatten) for l in model.layers):
        return model, []

    class FlattenTo(keras.layers.Layer):
        def __init__(self, n, **kwargs):
            super().__init__(**kwargs)
            self.n = n

        def call(self, x):
            return keras.ops.reshape(x, (-1, self.n))

    layers_, notes = [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Flatten):
            n = int(np.prod(layer.output.shape[1:]))
            layers_.append(FlattenTo(n, name=layer.name))
            notes.append(f"{layer.name} → constant reshape (-1, {n})")
        else:
            layers_.append(layer)  # shared: weights stay those of the trained model
    return keras.Sequential([keras.Input(model.input_shape[1:])] + layers_, name=model.name), notes


def fold_batchnorm(model):
    """(model', notes): a Sequential copy with foldable BNs folded; (model, []) when there is none."""
    import keras
    from keras import layers

    if not isinstance(model, keras.Sequential):
        return model, []
    stack = list(model.layers)
    plan, notes = {}, []
    for i, layer in enumerate(stack):
        if not isinstance(layer, layers.BatchNormalization) or i == 0:
            continue
        j = i + 1
        while j < len(stack) and (isinstance(stack[j], layers.MaxPooling2D) or type(stack[j]).__name__ in _INERT):
            j += 1
        if j >= len(stack) or not isinstance(stack[j], layers.Conv2D) or stack[j].padding != "valid":
            continue
        gamma, beta, mean, var = (layer.get_weights() if layer.scale and layer.center else [None] * 4)
        if gamma is None:
            continue
        s = gamma / np.sqrt(var + layer.epsilon)
        if not (s > 0).all():
            continue
        plan[i] = (j, s, beta - mean * s)
        notes.append(f"{layer.name} folded into {stack[j].name}")
    if not plan:
        return model, []
    folded_into = {j: (s, t) for j, s, t in plan.values()}
    new_layers, weights = [], []
    for i, layer in enumerate(stack):
        if i in plan:
            continue
        w = layer.get_weights()
        if i in folded_into:
            s, t = folded_into[i]
            kernel, bias = w if layer.use_bias else (w[0], np.zeros(w[0].shape[-1], w[0].dtype))
            bias = bias + np.einsum("hwio,i->o", kernel, t)
            kernel = kernel * s[None, None, :, None]
            config = {**layer.get_config(), "use_bias": True}
            layer_copy = type(layer).from_config(config)
            w = [kernel, bias] + w[2 if layer.use_bias else 1 :]
        else:
            layer_copy = type(layer).from_config(layer.get_config())
        new_layers.append(layer_copy)
        weights.append(w)
    clone = keras.Sequential([keras.Input(model.input_shape[1:])] + new_layers, name=model.name)
    for layer, w in zip(clone.layers, weights):
        layer.set_weights(w)
    return clone, notes
