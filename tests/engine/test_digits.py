"""The drawing pad's preprocessing: MNIST's own recipe, checked exactly and against a trained model."""

import numpy as np
import pytest

from studio.engine import datasets, digits

PAD = 280   # the pad's canvas, in pixels


def pad_drawing(sample: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sample digit as the pad would hold it: enlarged to a random size at a random place,
    solid strokes with antialiased edges (a round pen), dark ink on a light sheet, 0..255."""
    scale = rng.uniform(5.0, 9.5)
    side = int(28 * scale)
    big = digits.resize(sample.astype(np.float64) / 255.0, side, side)
    strokes = np.clip((big - 0.3) / 0.3, 0.0, 1.0)     # a pen is solid; only its edge is grey
    sheet = np.zeros((PAD, PAD))
    top, left = rng.integers(0, PAD - side + 1, size=2)
    sheet[top:top + side, left:left + side] = strokes
    return np.round((1.0 - sheet) * 255).astype(np.uint8)


def test_resize_keeps_the_mean_and_a_constant():
    rng = np.random.default_rng(0)
    image = rng.random((97, 61))
    for h, w in ((20, 13), (200, 150), (97, 61)):
        out = digits.resize(image, h, w)
        assert out.shape == (h, w)
        assert abs(out.mean() - image.mean()) < 0.02
    assert np.allclose(digits.resize(np.full((50, 30), 0.7), 20, 20), 0.7)
    assert np.allclose(digits.resize(image, 97, 61), image)


def test_box_is_twenty_pixels_and_centre_of_mass_is_centred():
    rng = np.random.default_rng(1)
    cases = [np.pad(np.ones((40, 10)), ((100, 20), (5, 200))),      # a tall bar, off-centre
             np.pad(np.ones((10, 90)), ((3, 150), (60, 4))),        # a wide bar
             np.pad(np.tri(60), ((30, 30), (90, 10)))]               # a lopsided triangle
    cases += [pad_drawing(x, rng) for x in datasets.bundled_sample().x_test[:20]]
    for image in cases:
        out = digits.mnist_like(image)
        assert out.shape == (28, 28) and out.dtype == np.uint8
        rows, cols = np.flatnonzero(out.max(axis=1) > 25), np.flatnonzero(out.max(axis=0) > 25)
        extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
        assert extent in (19, 20, 21), extent          # the longer side fills the 20-pixel box
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) < 21
        cy, cx = digits.centre_of_mass(out)
        assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx)
        assert out.max() == 255 and out.min() == 0      # grey levels over the whole range


def test_exact_box_on_a_square():
    out = digits.mnist_like(np.pad(np.ones((100, 100)), 50))
    assert (out > 127).sum() == 400                       # exactly 20x20 solid pixels
    rows = np.flatnonzero((out > 127).any(axis=1))
    assert rows[0] == 4 and rows[-1] == 23                # centred: 4 pixels above, 4 below


def test_polarity_and_colour_and_empty():
    square = np.pad(np.ones((30, 30)), 20)
    bright = digits.mnist_like(square)
    assert np.array_equal(digits.mnist_like(1.0 - square), bright)              # dark ink on paper
    rgb = np.repeat((255 * (1 - square))[..., None], 3, axis=2).astype(np.uint8)
    assert np.array_equal(digits.mnist_like(rgb), bright)
    rgba = np.zeros(square.shape + (4,), np.uint8)
    rgba[..., 3] = (255 * square).astype(np.uint8)                              # ink on a clear sheet
    assert np.array_equal(digits.mnist_like(rgba), bright)
    assert not digits.mnist_like(np.zeros((50, 50))).any()


def test_prepare_generalises_to_other_shapes_and_channels():
    square = np.pad(np.ones((30, 60)), 20)
    out = digits.prepare(square, (56, 56, 3))
    assert out.shape == (56, 56, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 2])
    cols = np.flatnonzero(out[..., 0].max(axis=0) > 127)
    assert cols[-1] - cols[0] + 1 == 40                  # the box is 20/28 of the field
    photo = np.random.default_rng(2).integers(0, 256, (64, 48, 3)).astype(np.uint8)
    resized = digits.prepare(photo, (32, 32, 3), drawing=False)
    assert resized.shape == (32, 32, 3) and abs(resized.mean() - photo.mean()) < 3
    assert digits.prepare(square, (28, 28)).shape == (28, 28)
    with pytest.raises(ValueError):
        digits.prepare(square, (10,))


def test_sample_digits_drawn_on_the_pad_keep_their_predicted_class(capsys):
    import keras

    from studio.engine import templates
    from studio.engine.compiler import compile_graph

    keras.utils.set_random_seed(7)
    ds = datasets.bundled_sample()
    model = compile_graph(templates.build("mnist_convnet").graph)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ds.x_train[..., None].astype("float32"), ds.y_train, batch_size=64, epochs=1, verbose=0)

    rng = np.random.default_rng(3)
    samples = ds.x_test[:200]
    drawn = np.stack([digits.prepare(pad_drawing(x, rng), (28, 28, 1)) for x in samples])
    direct = model.predict(samples[..., None].astype("float32"), verbose=0).argmax(axis=1)
    via_pad = model.predict(drawn.astype("float32"), verbose=0).argmax(axis=1)
    kept = float((direct == via_pad).mean())
    accuracy = float((direct == ds.y_test[:200]).mean())
    with capsys.disabled():
        print(f"\npad path keeps the predicted class for {kept:.1%} of 200 sample digits "
              f"(model accuracy on them {accuracy:.1%}; via the pad {(via_pad == ds.y_test[:200]).mean():.1%})")
    assert kept >= 0.95
