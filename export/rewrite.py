"""Export-time graph rewrites: the same function, a graph the converter and XNNPACK handle better.

    >>> model, notes = inference_graph(model)   # notes: ["batch_normalization folded into conv2d_1", ...]

1. Fold a BatchNormalization that *follows* an activation into the next conv (below).
2. Pool first: a 1×1 conv on a one-channel input followed by a MaxPool (`baseline`) pools the input instead.
   With one input channel, output c of the conv is act(w_c·x + b_c): monotone in x, rising for w_c ≥ 0 and
   falling for w_c < 0, so its max over a pooling window is act(w_c·max x + b_c) or act(w_c·min x + b_c).
   The rewrite max-pools [x, −x] (2 channels; the max of −x is −min x) and runs the conv on the pooled
   2-channel image with W' = [max(w, 0), −min(w, 0)]: each output gets exactly one of the two terms (the other
   weight is 0). Same outputs; the conv runs on a quarter of the pixels (2×2 pools) and the full-size
   28×28×16 tensor — which the int8 export would have to quantize — is never made. The activation must be
   monotone non-decreasing (linear, ReLU, ReLU6, sigmoid, tanh), the pool 'valid'.
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

    w = conv.get_weights()
    kernel, bias = w[0], (w[1] if conv.use_bias else np.zeros(w[0].shape[-1], w[0].dtype))
    kernel2 = np.concatenate([np.maximum(kernel, 0), -np.minimum(kernel, 0)], axis=2)  # (1, 1, 2, filters)
    new_conv = layers.Conv2D(conv.filters, 1, activation=conv.activation, use_bias=True, name=conv.name)
    rest = [l for k, l in enumerate(stack) if k not in (i, j)]
    new_layers = rest[:i] + [SignedMaxPool(pool.pool_size, pool.strides, name=pool.name), new_conv] + rest[i:]
    clone = keras.Sequential([keras.Input(model.input_shape[1:])] + new_layers, name=model.name)  # others shared: trained weights
    new_conv.set_weights([kernel2, bias])
    return clone, [f"{conv.name} + {pool.name} → {pool.name} of [x, −x] first, then {conv.name} on 2 channels"]


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
