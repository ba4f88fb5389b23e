"""A plain registry of the CNNs this toolkit trains: the study's three, exact, and ours.

    >>> model = build_model("robust")          # a keras.Model for (28, 28, 1) inputs in [0, 1]
    >>> MODELS["robust"].reduce_lr              # training hints travel with the model
    True

Parameter counts are the check that the study's models are kept exactly: 50,394 / 225,034 / 56,778.
Keras is imported inside the builders so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge_app.preprocess import PhotoParams, PreprocessSpec

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class ModelSpec:
    """A builder plus what its training needs to know; calling it builds the model."""

    build: Callable[[], object]  # () -> uncompiled keras.Model
    summary: str  # one line for `fashion-train models`
    reduce_lr: bool = False  # ReduceLROnPlateau on validation loss (the study used it for `robust`)
    learning_rate: float = 1e-3  # Adam's initial rate (Keras default, as in the study)
    epochs: int = 10  # passes over the training set unless --epochs says otherwise (the study: 10)
    batch_size: int = 32  # images per step unless --batch-size says otherwise (the study: Keras's 32)
    photo_augment: bool = False  # train through the photo pipeline with image-space augmentation
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    cosine: bool = False  # cosine-decay the learning rate to 0 over the run (instead of a constant rate)
    pipeline_augment: bool = False  # random flip/rotate/shift/zoom/contrast/noise per batch, in tf.data
    photo_share: float = 1.0  # with photo_augment: fraction of the photo copies drawn afresh for each epoch
    photo_copies: int = 1  # with photo_augment: renderings made of each training item (each a new scene)
    photometric: float = 0.0  # fraction of the originals re-lit afresh each epoch (train.augment.relighter)
    # how real photos become its input: photo copies are made with it, metrics.json records it, export
    # writes it into the contract, and the edge app runs it (warning when it cannot reproduce it)
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)

    def __call__(self):
        return self.build()


def _baseline():
    from keras import Input, Sequential, layers

    return Sequential(
        [
            Input(INPUT_SHAPE),
            layers.Conv2D(16, (1, 1), padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="baseline",
    )


def _deep():
    from keras import Input, Sequential, layers

    return Sequential(
        [
            Input(INPUT_SHAPE),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="deep",
    )


def _robust():
    from keras import Input, Sequential, layers, regularizers

    # The study's augmentation lives in the model: Keras makes the flips inert at inference,
    # and export goes through `from_keras_model`, which traces the inference graph.
    return Sequential(
        [
            Input(INPUT_SHAPE),
            layers.RandomFlip("horizontal"),
            layers.RandomFlip("vertical"),
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Conv2D(32, (3, 3), activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="robust",
    )


def _edge():
    """Ours: BN conv blocks, depthwise-separable widening, global pooling; < 100k params, int8-friendly.

    Every op (Conv2D, DepthwiseConv2D, BatchNorm folded into convs, ReLU, pooling, Dense) has a
    full-integer TFLite kernel; the int8 export keeps two small ends in float, the first conv (one input
    channel) and the last Dense with its Softmax, where int8 costs more than it saves (docs/int8-performance.md).
    """
    from keras import Input, Model, layers

    def conv_bn(x, filters, kernel=3, depthwise=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.Conv2D(filters, 1, use_bias=False)(x)
        else:
            x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inputs = Input(INPUT_SHAPE)
    x = conv_bn(inputs, 32)
    x = conv_bn(x, 32)
    x = layers.MaxPooling2D()(x)  # 14×14
    x = conv_bn(x, 96, depthwise=True)
    x = conv_bn(x, 96, depthwise=True)
    x = layers.MaxPooling2D()(x)  # 7×7
    x = conv_bn(x, 192, depthwise=True)
    x = conv_bn(x, 192, depthwise=True)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return Model(inputs, outputs, name="edge")


MODELS: dict[str, ModelSpec] = {
    "baseline": ModelSpec(_baseline, "study model 1: 1×1 conv, pool, dense 16 (50,394 params)"),
    "deep": ModelSpec(_deep, "study model 2: two 3×3 conv blocks, dense 128 (225,034 params)"),
    "robust": ModelSpec(_robust, "study model 3: flips, BN, L2, dropout, ReduceLROnPlateau (56,778 params)", reduce_lr=True),
    "edge": ModelSpec(
        _edge,
        "ours: BN + depthwise-separable blocks, global pooling, trained through rendered casual photos",
        photo_augment=True,  # rendered-photo copies of every item, through its own preprocessing
        photometric=0.5,  # a fresh half of the originals re-lit each epoch (docs/edge-experiments.md)
        photo_copies=2,  # two renderings of every item, so each is seen ~4.5 times in 18 epochs, not 9
        photo_share=0.25,  # a fresh quarter of those copies each epoch: as many photos per epoch as one copy at 0.5
        epochs=18,
        label_smoothing=0.1,
        cosine=True,
        batch_size=64,  # faster epochs on 2 cores than 32 (docs/edge-experiments.md)
        learning_rate=1.5e-3,
        # a garment as light as its background still reaches the network as a bright silhouette (docs/real-photos.md)
        preprocess=PreprocessSpec(photo=PhotoParams(lift=120.0)),
    ),
}

STUDY_MODELS = ("baseline", "deep", "robust")


def get_spec(name: str) -> ModelSpec:
    """The registry entry; KeyError listing the valid names for an unknown one."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(MODELS)}") from None


def build_model(name: str):
    """A fresh, uncompiled keras.Model; KeyError listing the valid names for an unknown one."""
    return get_spec(name)()
