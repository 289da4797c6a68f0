"""The stand-in predictor's models, in numpy, plus whole-image reference functions.

Every model takes x = one instance's tensors concatenated along the channel axis
(H, W, C) in float64 and returns {output_name: array}; outputs are float32 except
classify's "class" (uint8). The public functions (identity, ndi, conv, up2, pool2,
classify, tilemean, globalpool) are the same computations applied to a whole image, so tests can
compare what the driver produced with the model applied to everything at once.

Arithmetic is written as fixed-order sums of whole shifted arrays, so each pixel's
floating-point operations are the same whatever the array size (the seam test relies
on conv giving bitwise the same value on a patch with overlap as on the whole image).
"""

import numpy as np

CONV_RADIUS = 3          # receptive radius of `conv` (3 passes of a 3x3 kernel)
CONV_PASSES = 3
# 3x3 kernel [[1,2,1],[2,4,2],[1,2,1]]/16 as (dy, dx, weight), summed in this order.
CONV_TAPS = tuple((dy, dx, w / 16.0)
                  for dy, row in zip((-1, 0, 1), ((1, 2, 1), (2, 4, 2), (1, 2, 1)))
                  for dx, w in zip((-1, 0, 1), row))
UP2_FACTOR = 2
POOL2_FACTOR = 2
CLASSIFY_CLASSES = 3
SINGLE_OUTPUT_NAME = "output"


class ModelError(ValueError):
    """The input does not suit the model (answered as HTTP 400)."""


def _as_hwc(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ModelError("model input must be (H, W, C); got shape %s" % (list(x.shape),))
    return x


def channel_mean(x):
    """m = mean over channels, as a fixed-order sum (H, W) float64."""
    x = _as_hwc(x)
    channels = x.shape[2]
    if channels == 0:
        raise ModelError("model input has no channels")
    total = x[:, :, 0].copy()
    for c in range(1, channels):
        total = total + x[:, :, c]
    return total / channels if channels > 1 else total


def _conv_pass(m):
    height, width = m.shape
    padded = np.zeros((height + 2, width + 2), dtype=np.float64)
    padded[1:-1, 1:-1] = m
    out = np.zeros((height, width), dtype=np.float64)
    for dy, dx, w in CONV_TAPS:
        out = out + w * padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
    return out


def conv_float64(x):
    m = channel_mean(x)
    for _ in range(CONV_PASSES):
        m = _conv_pass(m)
    return m


# ----------------------------------------------------------------------------
# Whole-image reference functions (what the model returns for that input)

def identity(x):
    return _as_hwc(x).astype(np.float32)


def ndi(x):
    x = _as_hwc(x)
    if x.shape[2] < 2:
        raise ModelError("ndi needs at least 2 channels; got %d" % x.shape[2])
    a, b = x[:, :, 0], x[:, :, 1]
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total == 0, 0.0, (a - b) / np.where(total == 0, 1.0, total))
    return out[:, :, None].astype(np.float32)


def conv(x):
    return conv_float64(x)[:, :, None].astype(np.float32)


def conv_padded(x, pad=CONV_RADIUS):
    """conv of the image as the driver sends it: zeros beyond every edge.

    The driver sends pixels outside the raster as 0, so with an overlap >= CONV_RADIUS
    its output equals this everywhere, edges included (plain conv(x) differs within
    CONV_RADIUS pixels of the image edge, where the model's own zero padding applies
    at every pass instead of only before the first).
    """
    x = _as_hwc(x)
    padded = np.zeros((x.shape[0] + 2 * pad, x.shape[1] + 2 * pad, x.shape[2]), dtype=np.float64)
    padded[pad:pad + x.shape[0], pad:pad + x.shape[1]] = x
    return conv(padded)[pad:pad + x.shape[0], pad:pad + x.shape[1]]


def up2(x):
    m = channel_mean(x)
    return np.repeat(np.repeat(m, UP2_FACTOR, axis=0), UP2_FACTOR, axis=1)[:, :, None].astype(np.float32)


def pool2(x):
    m = channel_mean(x)
    height, width = m.shape
    if height % 2 or width % 2:
        raise ModelError("pool2 needs even H and W; got H=%d, W=%d" % (height, width))
    total = m[0::2, 0::2] + m[0::2, 1::2]
    total = total + m[1::2, 0::2]
    total = total + m[1::2, 1::2]
    return (total / 4.0)[:, :, None].astype(np.float32)


def classify_float64(x):
    m = channel_mean(x)
    logits = np.stack([m / 64.0, (255.0 - m) / 64.0, np.abs(m - 128.0) / 64.0], axis=-1)
    top = np.maximum(np.maximum(logits[:, :, 0], logits[:, :, 1]), logits[:, :, 2])
    e = np.exp(logits - top[:, :, None])
    total = e[:, :, 0] + e[:, :, 1]
    total = total + e[:, :, 2]
    return e / total[:, :, None]


def classify(x):
    """{"probs": (H,W,3) float32 softmax, "class": (H,W) uint8 argmax}."""
    probs = classify_float64(x)
    return {"probs": probs.astype(np.float32), "class": np.argmax(probs, axis=-1).astype(np.uint8)}


def tilemean(x):
    return np.array(channel_mean(x).mean(), dtype=np.float64).reshape(1, 1, 1).astype(np.float32)


NOISY_AMPLITUDE = 1e-3   # `noisy`: conv plus uniform noise in [-A, A], fresh at every call
_NOISE = np.random.default_rng()


def globalpool(x):
    """Each pixel's channel mean plus the mean of the whole tile: an unbounded field."""
    m = channel_mean(x)
    return (m + m.mean())[:, :, None].astype(np.float32)


def noisy(x):
    """conv plus noise: not deterministic, receptive radius still CONV_RADIUS."""
    m = conv_float64(x)
    return (m + _NOISE.uniform(-NOISY_AMPLITUDE, NOISY_AMPLITUDE, m.shape))[:, :, None].astype(np.float32)


def batchshift_batch(xs):
    """A deliberately batch-dependent model: conv of each instance shifted by the batch's
    mean input minus the instance's own (as batch-norm in training mode leaks batch
    statistics).  Alone, it is conv (radius CONV_RADIUS); in a batch, every pixel moves."""
    means = [channel_mean(x).mean() for x in xs]
    batch_mean = sum(means) / len(means)
    return [(conv_float64(x) + (batch_mean - own))[:, :, None].astype(np.float32)
            for x, own in zip(xs, means)]


def _single(function):
    def model(x):
        return {SINGLE_OUTPUT_NAME: function(x)}
    model.__name__ = function.__name__
    return model


# ----------------------------------------------------------------------------
# Tabular models (EE predictProperties): one instance = one feature's properties,
# flattened in the order sent (x: 1-D float64).

LOGREG_WEIGHTS = (0.8, -0.5, 0.25, 0.125)   # cycled over the values of an instance
LOGREG_BIAS = -0.2


def logreg_float64(x):
    """Logistic regression z = sum(w_i x_i) + b, in a fixed order; sigmoid(z)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ModelError("logreg needs at least one value")
    z = LOGREG_BIAS
    for i, v in enumerate(x):
        z = z + LOGREG_WEIGHTS[i % len(LOGREG_WEIGHTS)] * v
    return 1.0 / (1.0 + np.exp(-z)), z


def logreg(x):
    """{"prob": float32 scalar, "label": int32 scalar (z > 0), "scores": float32 [1-p, p],
    "positive": uint8 scalar 0/1 (a bool output), "big": int64 scalar (label * 2**40 + 7)}."""
    p, z = logreg_float64(x)
    label = int(z > 0)
    return {"prob": np.float32(p).reshape(()),
            "label": np.int32(label).reshape(()),
            "scores": np.array([1.0 - p, p], dtype=np.float32),
            "positive": np.uint8(label).reshape(()),
            "big": np.int64(label * 2 ** 40 + 7).reshape(())}


TABULAR = {"logreg": logreg}


def tabular_values(array):
    """One input of a tabular instance as float64 values: numbers as they are, a string
    (scalar string input) as its length in characters."""
    array = np.asarray(array)
    if array.dtype.kind in "OUS":
        return np.array([float(len(str(v))) for v in array.reshape(-1)], dtype=np.float64)
    return array.astype(np.float64).reshape(-1)


MODELS = {
    "identity": _single(identity),
    "ndi": _single(ndi),
    "conv": _single(conv),
    "up2": _single(up2),
    "pool2": _single(pool2),
    "classify": classify,
    "tilemean": _single(tilemean),
    "globalpool": _single(globalpool),
    "noisy": _single(noisy),
    "batchshift": lambda x: {SINGLE_OUTPUT_NAME: batchshift_batch([x])[0]},
}

# Models whose answer for one instance depends on the others of its request:
# name -> function(list of (H, W, C) float64) -> list of {output_name: array}.
BATCH_MODELS = {
    "batchshift": lambda xs: [{SINGLE_OUTPUT_NAME: a} for a in batchshift_batch(xs)],
}


MODELS.update(TABULAR)


def run(name, x):
    """Apply model `name` to one instance x (H, W, C; a flat vector for a tabular model)."""
    if name not in MODELS:
        raise KeyError(name)
    if name in TABULAR:
        return TABULAR[name](x)
    return MODELS[name](_as_hwc(x))
