"""Export-time graph rewrites: the same function, a graph the converter and XNNPACK handle better.

    >>> model, notes = inference_graph(model)   # notes: ["batch_normalization folded into conv2d_1", ...]

1. Fold a BatchNormalization that *follows* an activation into the next conv (below).
2. Flatten → a reshape to a constant (-1, n). Keras's Flatten keeps the batch dimension symbolic, which
   the converter emits as SHAPE → STRIDED_SLICE → PACK → RESHAPE: ops XNNPACK does not take, so every
   such model ran as two delegate partitions with a CPU hop between them. (A Keras `Reshape` layer emits
   the same four ops.) The batch stays resizable: -1 is resolved at run time.

Both exist only in memory for the converter; nothing rewritten is ever saved as a `.keras` file.

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
    flat, more = fixed_flatten(folded)
    return flat, notes + more


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
