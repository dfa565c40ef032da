"""Turn a drawing or a picture into one input sample for an image classifier.

MNIST's digits were made like this (LeCun, Cortes, Burges): the bilevel
scan of a handwritten digit was size-normalised to fit a 20x20 box keeping
its aspect ratio (the antialiasing gave grey levels), then placed in a 28x28
field so that its centre of mass lies at the centre. :func:`mnist_like` does
the same to a drawing of any size, with the ink bright or dark, and
:func:`prepare` generalises it to any classifier's input size and channels
(the box keeps MNIST's 20/28 of the field). Pictures that are not drawings
(photographs for a colour model) are resized whole with :func:`resize`.

Resampling is separable and antialiased (a triangle filter widened by the
scale when shrinking, as Pillow's bilinear filter does), done with two small
matrix products in numpy.
"""

from __future__ import annotations

import numpy as np

MNIST_SIZE, MNIST_BOX = 28, 20


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) resampling matrix: a triangle filter, widened when shrinking."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    w = np.clip(1.0 - np.abs(taps[None, :] - centres[:, None]) / support, 0.0, None)
    total = w.sum(axis=1, keepdims=True)
    w /= np.where(total > 0, total, 1.0)
    return w


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased resize of an (H, W) or (H, W, C) float array to (height, width[, C])."""
    image = np.asarray(image, dtype=np.float64)
    wy, wx = _weights(image.shape[0], height), _weights(image.shape[1], width)
    if image.ndim == 2:
        return wy @ image @ wx.T
    return np.einsum("ih,hwc,jw->ijc", wy, image, wx)


def to_grey(image: np.ndarray) -> np.ndarray:
    """An (H, W) float image in 0..1 from grey or colour pixels (uint8 or float, any range);
    an alpha channel counts as ink over a clear background."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3:
        if a.shape[2] not in (2, 3, 4):
            raise ValueError(f"an image has 1, 3 or 4 channels, not {a.shape[2]}")
        values = _unit(a)
        if a.shape[2] in (2, 4):
            alpha = values[..., -1]
            colour = values[..., :-1]
            grey = colour.mean(axis=2) if colour.shape[2] == 1 else colour @ np.array([0.299, 0.587, 0.114])
            return alpha if alpha.min() < 0.99 else grey   # on a transparent sheet the alpha is the ink
        return values @ np.array([0.299, 0.587, 0.114])
    if a.ndim != 2:
        raise ValueError(f"an image is 2-D (height, width[, channels]), not shape {a.shape}")
    return _unit(a)


def _unit(a: np.ndarray) -> np.ndarray:
    """Pixels to 0..1: floats already in 0..1 stay, 0..255 is divided, anything else is stretched."""
    floating = np.issubdtype(a.dtype, np.floating)
    a = a.astype(np.float64)
    if floating and a.size and a.max() <= 1.0 and a.min() >= 0.0:
        return a
    lo, hi = (0.0, 255.0) if a.size and a.min() >= 0 and a.max() <= 255 else (float(a.min()), float(a.max()))
    return np.clip((a - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def _is_light(values: np.ndarray):
    return None if values.size == 0 else bool(np.median(values) > 0.5)


def ink(image: np.ndarray) -> np.ndarray:
    """Grey levels with the ink bright (1) on a dark (0) background, whichever way it was drawn:
    a light border means dark ink on a light sheet."""
    grey = to_grey(image)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if _is_light(border) else grey


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the grey-level centre of mass, in pixel-centre coordinates."""
    image = np.asarray(image, dtype=np.float64)
    total = image.sum()
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    rows, cols = np.indices(image.shape[:2])
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def mnist_like(image: np.ndarray, size: tuple[int, int] = (MNIST_SIZE, MNIST_SIZE),
               box: tuple[int, int] | None = None, threshold: float = 0.2) -> np.ndarray:
    """A drawing -> an MNIST-style (H, W) uint8 digit, bright ink on black.

    Crops to the ink's bounding box (pixels brighter than ``threshold`` of the
    brightest), fits it into ``box`` (20x20 in 28x28 by default) keeping the
    aspect ratio, and moves it by whole pixels so that its centre of mass is
    the field's centre (row H/2, column W/2, where MNIST puts it).
    An empty drawing gives an empty field.
    """
    height, width = size
    if box is None:
        box = (max(1, round(height * MNIST_BOX / MNIST_SIZE)), max(1, round(width * MNIST_BOX / MNIST_SIZE)))
    field = np.zeros((height, width), dtype=np.float64)
    grey = ink(image)
    peak = grey.max() if grey.size else 0.0
    if peak <= 0:
        return field.astype(np.uint8)
    grey = grey / peak
    rows = np.flatnonzero((grey > threshold).any(axis=1))
    cols = np.flatnonzero((grey > threshold).any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    factor = min(box[0] / crop.shape[0], box[1] / crop.shape[1])
    h = min(box[0], max(1, round(crop.shape[0] * factor)))
    w = min(box[1], max(1, round(crop.shape[1] * factor)))
    digit = np.clip(resize(crop, h, w), 0.0, 1.0)
    cy, cx = centre_of_mass(digit)
    # MNIST's centres of mass sit at (14, 14) in pixel-index coordinates (measured: 13.97, 14.01)
    top = int(round(height / 2 - cy))
    left = int(round(width / 2 - cx))
    # paste with clipping (a lopsided digit may reach past the field's edge, as in MNIST)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, height), min(left + w, width)
    if y1 > y0 and x1 > x0:
        field[y0:y1, x0:x1] = digit[y0 - top:y1 - top, x0 - left:x1 - left]
    return np.round(field * 255.0).astype(np.uint8)


def prepare(image: np.ndarray, shape: tuple[int, ...], drawing: bool = True) -> np.ndarray:
    """One uint8 sample of ``shape`` ((H, W) or (H, W, C)) for an image classifier.

    ``drawing``: the MNIST treatment (bright ink on black, cropped, boxed and
    centred), grey copied to every channel. Otherwise the picture is resized
    whole, keeping its colours when the model takes three channels.
    """
    if len(shape) not in (2, 3):
        raise ValueError(f"an image model takes (height, width[, channels]), not {tuple(shape)}")
    height, width = int(shape[0]), int(shape[1])
    channels = int(shape[2]) if len(shape) == 3 else None
    if drawing:
        grey = mnist_like(image, (height, width))
        if channels is None:
            return grey
        return np.repeat(grey[..., None], channels, axis=2)
    a = np.asarray(image)
    if channels == 3 and a.ndim == 3 and a.shape[2] >= 3:
        colour = _unit(a[..., :3])
        out = resize(colour, height, width)
    else:
        out = resize(to_grey(a), height, width)
        if channels is not None:
            out = np.repeat(out[..., None], channels, axis=2)
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
