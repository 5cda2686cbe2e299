"""The CIFAR-10 and image-folder readers on tiny files in the real on-disk formats."""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import write_cifar
from PIL import Image

from ncpvae.data.cifar import TEST_FILE, TRAIN_FILES, read_cifar10, safe_unpickle
from ncpvae.data.folder import read_image_folder
from ncpvae.errors import DataError

# ---------------------------------------------------------------------------------------------
# CIFAR-10

BATCH_SIZES = (2, 1, 3, 1, 2)  # images in data_batch_1 ... data_batch_5
TEST_SIZE = 2


def pixel(image: int, channel: int, y: int, x: int) -> int:
    """The value the fake data set stores for one pixel: differs across all four indices."""
    return (image * 37 + channel * 85 + y * 7 + x) % 256


def cifar_rows(first: int, count: int) -> np.ndarray:
    """Rows in the CIFAR layout, built element by element: index i holds channel i // 1024,
    row (i % 1024) // 32 and column i % 32."""
    rows = np.empty((count, 3072), dtype=np.uint8)
    for n in range(count):
        for i in range(3072):
            rows[n, i] = pixel(first + n, i // 1024, (i % 1024) // 32, i % 32)
    return rows


def expected_images(first: int, count: int) -> np.ndarray:
    n, c, y, x = np.meshgrid(
        np.arange(first, first + count), np.arange(3), np.arange(32), np.arange(32), indexing="ij"
    )
    return ((n * 37 + c * 85 + y * 7 + x) % 256).astype(np.uint8)


def write_test_cifar(root: Path) -> Path:
    """A cifar-10-batches-py folder whose images are numbered 0, 1, ... in train-then-test order."""
    starts = np.cumsum((0, *BATCH_SIZES))
    train = [cifar_rows(first, size) for first, size in zip(starts, BATCH_SIZES, strict=False)]
    return write_cifar(root, train, cifar_rows(int(starts[-1]), TEST_SIZE))


def python2_pickle(rows: np.ndarray) -> bytes:
    """A batch dict as Python 2's cPickle writes it (protocol 2): str keys and the raw pixel
    bytes as BINSTRING, the array through numpy.core.multiarray._reconstruct."""
    raw = rows.tobytes()
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        b"(K\x01K" + bytes([rows.shape[0]]) + b"M" + struct.pack("<H", rows.shape[1]) + b"\x86"
        b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"
        b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    )
    labels = b"](" + b"K\x01" * rows.shape[0] + b"e"
    return b"\x80\x02}(U\x04data" + array + b"U\x06labels" + labels + b"u."


def test_cifar_shapes_values_and_order(tmp_path: Path) -> None:
    train, test = read_cifar10(write_test_cifar(tmp_path / "cifar-10-batches-py"))
    n_train = sum(BATCH_SIZES)
    assert train.shape == (n_train, 3, 32, 32) and test.shape == (TEST_SIZE, 3, 32, 32)
    assert str(train.dtype) == str(test.dtype) == "torch.uint8"
    # train is batches 1..5 concatenated, test follows: the numbering runs on without a gap
    np.testing.assert_array_equal(train.numpy(), expected_images(0, n_train))
    np.testing.assert_array_equal(test.numpy(), expected_images(n_train, TEST_SIZE))
    # spot checks of the layout: red plane first, then row-major within a plane
    assert int(train[0, 0, 0, 1]) == pixel(0, 0, 0, 1) == 1
    assert int(train[0, 0, 1, 0]) == pixel(0, 0, 1, 0) == 7
    assert int(train[0, 1, 0, 0]) == pixel(0, 1, 0, 0) == 85
    assert int(train[3, 2, 5, 9]) == pixel(3, 2, 5, 9)


def test_cifar_reads_python2_pickles(tmp_path: Path) -> None:
    root = write_test_cifar(tmp_path / "c")
    rows = cifar_rows(0, BATCH_SIZES[0])
    (root / TRAIN_FILES[0]).write_bytes(python2_pickle(rows))
    train, _ = read_cifar10(root)
    np.testing.assert_array_equal(train[: len(rows)].numpy(), expected_images(0, len(rows)))


def test_cifar_missing_or_not_a_folder_or_archive(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_cifar10(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="neither a folder nor a readable tar archive"):
        read_cifar10(tmp_path / "file")


def test_cifar_is_read_from_its_archive_as_from_its_folder(tmp_path: Path) -> None:
    """The standard archive (cifar-10-batches-py/ inside a .tar.gz) gives the same images as the
    extracted folder, and nothing is extracted."""
    folder = write_test_cifar(tmp_path / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    from_folder, from_archive = read_cifar10(folder), read_cifar10(archive)
    for a, b in zip(from_folder, from_archive, strict=True):
        assert a.shape == b.shape and bool((a == b).all())
    np.testing.assert_array_equal(from_archive[1].numpy(), expected_images(9, TEST_SIZE))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, folder.name])
    # an archive without the test batch names what is missing
    partial = tmp_path / "partial.tar"
    with tarfile.open(partial, "w") as tar:
        tar.add(folder / TRAIN_FILES[0], arcname=f"cifar-10-batches-py/{TRAIN_FILES[0]}")
    with pytest.raises(DataError, match=f"has no {TRAIN_FILES[1]}"):
        read_cifar10(partial)


@pytest.mark.parametrize("name", [TRAIN_FILES[2], TEST_FILE])
def test_cifar_missing_file(tmp_path: Path, name: str) -> None:
    root = write_test_cifar(tmp_path / "c")
    (root / name).unlink()
    with pytest.raises(DataError, match=f"has no {name}; point --data.path"):
        read_cifar10(root)


def test_cifar_truncated_file(tmp_path: Path) -> None:
    root = write_test_cifar(tmp_path / "c")
    path = root / TRAIN_FILES[2]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="data_batch_3.*truncated or corrupt, re-extract it"):
        read_cifar10(root)


def test_cifar_archive_with_a_bad_member_names_the_member(tmp_path: Path) -> None:
    root = write_test_cifar(tmp_path / "cifar-10-batches-py")
    path = root / TRAIN_FILES[2]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="cifar-10-batches-py")
    member = f"CIFAR-10 file 'data_batch_3' in archive '{archive}' could not be read"
    with pytest.raises(DataError, match=f"^{re.escape(member)}.*download cifar-10-python"):
        read_cifar10(archive)
    # an archive cut short: one line, not the decompressor's traceback
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="archive .* is truncated or corrupt .*download it again"):
        read_cifar10(archive)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "not a dict"),
        ({b"labels": [0]}, "no 'data' and 'labels'"),
        ({b"data": np.zeros((1, 3072), np.float32), b"labels": [0]}, "uint8 array, got float32"),
        ({b"data": [[0] * 3072], b"labels": [0]}, "uint8 array, got list"),
        ({b"data": np.zeros((1, 3000), np.uint8), b"labels": [0]}, r"shape \(n, 3072\)"),
        ({b"data": np.zeros(3072, np.uint8), b"labels": [0]}, r"shape \(n, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "does not match the 2"),
    ],
)
def test_cifar_wrong_contents(tmp_path: Path, content: object, message: str) -> None:
    root = write_test_cifar(tmp_path / "c")
    (root / TEST_FILE).write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataError, match=message):
        read_cifar10(root)


class RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def test_cifar_refuses_code_in_pickle(tmp_path: Path) -> None:
    root = write_test_cifar(tmp_path / "c")
    pwned = tmp_path / "pwned"
    payload = {b"data": RunsShell(f"touch '{pwned}'"), b"labels": [0]}
    (root / TRAIN_FILES[0]).write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match="refuses to load.*system"):
        read_cifar10(root)
    assert not pwned.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(np.array([1, "a"], dtype=object), protocol=2),  # object dtype
        pickle.dumps(io.BytesIO, protocol=2),  # any other global
        pickle.dumps(b"x", protocol=2).replace(b"latin1", b"base64"),  # other codec
    ],
)
def test_safe_unpickle_refuses(payload: bytes) -> None:
    with pytest.raises(DataError):
        safe_unpickle(io.BytesIO(payload))


def test_safe_unpickle_round_trips_arrays() -> None:
    value = {b"a": np.arange(6, dtype=np.int16).reshape(2, 3), "b": [1.5, None, (b"x", "y")]}
    for protocol in (2, 3, 4):  # (protocol 5 rebuilds arrays another way, not allowed)
        loaded = safe_unpickle(io.BytesIO(pickle.dumps(value, protocol=protocol)))
        assert isinstance(loaded, dict) and loaded["b"] == value["b"]
        np.testing.assert_array_equal(loaded[b"a"], value[b"a"])
    # numpy 1 names the reconstructor numpy.core.multiarray: accepted as well
    old = pickle.dumps(value, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    np.testing.assert_array_equal(safe_unpickle(io.BytesIO(old))[b"a"], value[b"a"])


# ---------------------------------------------------------------------------------------------
# Image folders and archives

COLOURS = {  # relative path -> (size, colour); sorted order is a/1, a/sub/0, b/2, c
    "b/2.png": ((20, 12), (0, 200, 0)),
    "a/1.png": ((10, 10), (200, 0, 0)),
    "c.PNG": ((9, 16), (10, 20, 30)),
    "a/sub/0.jpg": ((24, 30), (250, 250, 250)),
}
SORTED = ["a/1.png", "a/sub/0.jpg", "b/2.png", "c.PNG"]


def save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")


def write_folder(root: Path) -> Path:
    for name, (size, colour) in COLOURS.items():
        save(root / name, Image.new("RGB", size, colour))
    (root / "a" / "notes.txt").write_text("not an image")
    return root


def write_tar(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w") as tar:
        tar.add(folder / "b", arcname="b", recursive=False)  # a directory member
        for name in reversed(SORTED):  # stored out of order
            tar.add(folder / name, arcname=name)
        link = tarfile.TarInfo("a/0_link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "a/1.png"
        tar.addfile(link)  # not a regular member: skipped
        tar.add(folder / "a" / "notes.txt", arcname="a/notes.txt")
    return archive


def check_colours(images: np.ndarray, names: list[str]) -> None:
    for image, name in zip(images, names, strict=True):
        colour = np.array(COLOURS[name][1]).reshape(3, 1, 1)
        tolerance = 3 if name.endswith(".jpg") else 0  # PNG is exact, JPEG nearly
        assert np.abs(image.astype(int) - colour).max() <= tolerance, name


def test_folder_sorted_order_shape_and_colours(tmp_path: Path) -> None:
    images = read_image_folder(write_folder(tmp_path / "imgs"), image_size=8, progress=True)
    assert images.shape == (4, 3, 8, 8) and str(images.dtype) == "torch.uint8"
    check_colours(images.numpy(), SORTED)


def test_tar_matches_folder(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs")
    archive = write_tar(folder, tmp_path / "imgs.tar")
    from_tar = read_image_folder(archive, image_size=6)
    assert from_tar.shape == (4, 3, 6, 6)
    check_colours(from_tar.numpy(), SORTED)
    np.testing.assert_array_equal(from_tar.numpy(), read_image_folder(folder, 6).numpy())
    np.testing.assert_array_equal(read_image_folder(archive, 6, limit=3), from_tar[:3])


def test_limit(tmp_path: Path) -> None:
    images = read_image_folder(write_folder(tmp_path / "imgs"), image_size=4, limit=2)
    assert images.shape == (2, 3, 4, 4)
    check_colours(images.numpy(), SORTED[:2])
    assert len(read_image_folder(tmp_path / "imgs", 4, limit=100)) == 4


def framed(width: int, height: int, inner: tuple[int, int, int, int]) -> Image.Image:
    """A red image with a blue rectangle (left, top, right, bottom)."""
    array = np.zeros((height, width, 3), np.uint8)
    array[..., 0] = 255
    left, top, right, bottom = inner
    array[top:bottom, left:right] = (0, 0, 255)
    return Image.fromarray(array)


def test_centre_crop(tmp_path: Path) -> None:
    # 40x30 image: the 10x10 centre crop is x 15..25, y 10..20; the blue part reaches 4 pixels
    # past it on every side, so the bicubic filter sees only blue
    save(tmp_path / "crop" / "x.png", framed(40, 30, (11, 6, 29, 24)))
    cropped = read_image_folder(tmp_path / "crop", image_size=4, crop=10).numpy()[0]
    assert (cropped[2] == 255).all() and (cropped[:2] == 0).all()
    # no crop: the largest centred square (x 5..35) still shows the red frame at its corners
    square = read_image_folder(tmp_path / "crop", image_size=4).numpy()[0]
    assert square[0, 0, 0] > 200 and square[2, 0, 0] < 50


def test_crop_takes_exact_pixels(tmp_path: Path) -> None:
    array = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # height 4, width 6
    save(tmp_path / "p" / "x.png", Image.fromarray(array))
    images = read_image_folder(tmp_path / "p", image_size=2, crop=2)
    np.testing.assert_array_equal(images[0].permute(1, 2, 0).numpy(), array[1:3, 2:4])
    whole = read_image_folder(tmp_path / "p", image_size=4)  # largest square: columns 1..5
    np.testing.assert_array_equal(whole[0].permute(1, 2, 0).numpy(), array[:, 1:5])


def test_grey_and_palette_images_become_rgb(tmp_path: Path) -> None:
    save(tmp_path / "m" / "a.png", Image.new("L", (5, 5), 77))
    save(
        tmp_path / "m" / "b.png",
        Image.new("RGB", (5, 5), (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE),
    )
    images = read_image_folder(tmp_path / "m", image_size=5).numpy()
    assert (images[0] == 77).all()
    np.testing.assert_array_equal(images[1, :, 0, 0], [1, 2, 3])


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="holds no .jpg, .jpeg or .png images"):
        read_image_folder(tmp_path / "empty")
    (tmp_path / "plain.bin").write_bytes(b"not a tar file at all" * 50)
    with pytest.raises(DataError, match="neither a folder nor a readable .tar") as caught:
        read_image_folder(tmp_path / "plain.bin")
    assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match="smaller than the 11x11 centre crop"):
        read_image_folder(write_folder(tmp_path / "imgs"), crop=11)
    with pytest.raises(DataError, match="image_size must be a positive integer"):
        read_image_folder(tmp_path / "imgs", image_size=0)
    with pytest.raises(DataError, match="limit must be"):
        read_image_folder(tmp_path / "imgs", limit=-1)


@pytest.mark.parametrize("kind", ["garbage", "truncated_jpeg", "truncated_png"])
def test_corrupt_image(tmp_path: Path, kind: str) -> None:
    folder = write_folder(tmp_path / "imgs")
    if kind == "garbage":
        bad, data = folder / "b" / "3.png", b"this is not a picture"
    else:
        name = "a/sub/0.jpg" if kind == "truncated_jpeg" else "b/2.png"
        bad, data = folder / name, (folder / name).read_bytes()
        data = data[: len(data) // 2]
    bad.write_bytes(data)
    relative = bad.relative_to(folder).as_posix()
    with pytest.raises(DataError, match=f"image '{relative}' could not be read"):
        read_image_folder(folder, 4)
    archive = write_tar(folder, tmp_path / "imgs.tar")
    if kind == "garbage":
        with tarfile.open(archive, "a") as tar:
            tar.add(bad, arcname=relative)
    with pytest.raises(DataError, match=f"archive .*image '{relative}' could not be read"):
        read_image_folder(archive, 4)


def test_truncated_tar(tmp_path: Path) -> None:
    archive = write_tar(write_folder(tmp_path / "imgs"), tmp_path / "imgs.tar")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="truncated or corrupt") as caught:
        read_image_folder(archive, 4)
    assert "\n" not in str(caught.value)
