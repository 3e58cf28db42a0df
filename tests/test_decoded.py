"""Decode once (issue 19): the uint8 store and batched augmentation give the JPEG path's batches.

Tolerance: exact on the CPU. The resize runs once, in the same PIL kernel
(`load_image`), when the store is built; flip and crop move whole pixels;
to-float, /255, -mean, /std are the same element-wise float32 operations as
torchvision's to_tensor + normalize. On CUDA the division may round
differently: 1e-6 there.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from benchmark.profiles import get_profile
from benchmark.reid.data import EpochShuffleSampler, ReidImages, eval_dataset, write_toy_records
from benchmark.reid.decoded import DecodedTrainBatches, content_key, decoded_store, train_feed
from benchmark.reid.features import extract_features, extract_record_features
from benchmark.reid.train import train


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_records(tmp_path_factory.mktemp("toy"), num_ids=5, images_per_id=5, size=(40, 20), seed=1)


def _jpeg_batches(ds, sampler, batch, drop_last):
    return [(x, y) for x, y, _, _ in DataLoader(ds, batch_size=batch, sampler=sampler, drop_last=drop_last)]


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("batch,drop_last", [(7, True), (25, False)])
def test_decoded_batches_equal_the_jpeg_batches(toy, tmp_path, pad, batch, drop_last):
    ds = ReidImages(toy, 32, 16, train=True, flip=0.5, seed=5, pad=pad)
    sampler = EpochShuffleSampler(len(ds), 5)
    store = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    dec = DecodedTrainBatches(store, ds, sampler, batch, drop_last, torch.device("cpu"))
    flipped = 0
    for epoch in (0, 1, 2):
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        ref, got = _jpeg_batches(ds, sampler, batch, drop_last), list(dec)
        assert len(ref) == len(got) == len(dec)
        for (x_ref, y_ref), (x, y) in zip(ref, got):
            assert x.dtype == torch.float32 and x.shape == x_ref.shape
            assert torch.equal(x, x_ref)
            assert torch.equal(y, y_ref)
        flipped += int(ds._flips.sum())
    assert flipped > 0  # the comparison covered mirrored images


def test_crop_moves_the_image_and_pads_with_zero_pixels(toy, tmp_path):
    """pad+crop is real: some crops differ from the plain image, and the padding is black (before normalising)."""
    plain = ReidImages(toy, 32, 16, train=True, flip=0.0, seed=2)
    cropped = ReidImages(toy, 32, 16, train=True, flip=0.0, seed=2, pad=4)
    diffs = [not torch.equal(plain[i][0], cropped[i][0]) for i in range(len(toy))]
    assert any(diffs)
    off = cropped.offsets_of(torch.arange(len(toy)))
    assert off.min() >= 0 and off.max() <= 8
    i = int(off[:, 0].argmin())
    rows = 4 - int(off[i, 0])  # a crop starting above the image: its first rows are padding (black, normalised)
    assert rows > 0
    zero = (torch.zeros(3) - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(cropped[i][0][:, :rows, :].mean(dim=(1, 2)), zero)


def test_training_through_the_store_ends_with_the_same_weights_as_the_jpeg_path(toy, tmp_path):
    profile = get_profile("smoke").with_(epochs=1, lr_steps=(), batch_size=8, crop_pad=2)
    a = train(toy, profile, tmp_path / "a", seed=3, progress=False, input_pipeline="jpeg")
    b = train(toy, profile, tmp_path / "b", seed=3, progress=False, input_cache=tmp_path / "cache")
    assert a.input["input_pipeline"] == "jpeg" and b.input["input_pipeline"] == "decoded"
    assert b.input["status"] == "built"
    sa = torch.load(a.model_path, map_location="cpu", weights_only=False)
    sb = torch.load(b.model_path, map_location="cpu", weights_only=False)
    sa, sb = sa.get("state_dict", sa), sb.get("state_dict", sb)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.history[0]["loss"] == b.history[0]["loss"]
    c = train(toy, profile, tmp_path / "c", seed=3, progress=False, input_cache=tmp_path / "cache")
    assert c.input["status"] == "hit" and c.history[0]["loss"] == b.history[0]["loss"]


def test_features_from_the_store_equal_the_jpeg_features(toy, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    profile = get_profile("smoke")
    ref = extract_features(model, eval_dataset(toy, profile.height, profile.width), batch_size=6)
    got = extract_record_features(model, toy, profile, batch_size=6, input_cache=tmp_path)
    assert torch.equal(ref, got)
    assert torch.equal(got, extract_record_features(model, toy, profile, batch_size=6, input_cache=False))


def test_the_store_holds_what_the_jpeg_path_decodes(toy, tmp_path):
    store = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    assert store.status == "built" and store.images.shape == (len(toy), 32, 16, 3) and store.images.dtype == np.uint8
    from benchmark.reid.data import load_image

    for i in (0, 7, len(toy) - 1):
        assert np.array_equal(store.images[i], np.asarray(load_image(toy[i].path, 32, 16)))
    again = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    assert again.status == "hit" and again.key == store.key and isinstance(again.images, np.memmap)


def test_a_changed_dataset_gets_a_new_store_never_the_stale_one(tmp_path):
    recs = write_toy_records(tmp_path / "imgs", num_ids=3, images_per_id=3, size=(24, 12))
    first = decoded_store(recs, 24, 12, cache_dir=tmp_path / "c")
    before = np.array(first.images[4])
    # same size on disk is not enough to be "the same": rewrite one image with other pixels
    Image.fromarray(255 - before).save(recs[4].path, quality=95)
    second = decoded_store(recs, 24, 12, cache_dir=tmp_path / "c")
    assert second.key != first.key and second.status == "built"
    assert not np.array_equal(second.images[4], before)
    # order and size are part of the key too
    assert content_key(recs[::-1], 24, 12) != content_key(recs, 24, 12)
    assert content_key(recs, 24, 12) != content_key(recs, 32, 16)
    # the same bytes elsewhere share the store
    moved = tmp_path / "moved"
    moved.mkdir()
    copies = []
    for r in recs:
        dst = moved / r.path.split("/")[-1]
        dst.write_bytes(open(r.path, "rb").read())
        copies.append(type(r)(str(dst), r.pid, r.camid))
    assert decoded_store(copies, 24, 12, cache_dir=tmp_path / "c").status == "hit"


@pytest.mark.parametrize("damage", ["flip-a-pixel", "truncate", "bad-header", "meta-garbage", "meta-missing",
                                    "meta-other-shape"])
def test_a_corrupt_store_is_rebuilt_not_trusted(toy, tmp_path, damage):
    good = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    expected = np.array(good.images)
    npy, meta = good.path, good.path.with_suffix(".json")
    del good
    raw = bytearray(npy.read_bytes())
    if damage == "flip-a-pixel":
        raw[-100] ^= 0xFF
        npy.write_bytes(bytes(raw))
    elif damage == "truncate":
        npy.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "bad-header":
        npy.write_bytes(b"not a numpy file" + bytes(raw[16:]))
    elif damage == "meta-garbage":
        meta.write_text("{")
    elif damage == "meta-missing":
        meta.unlink()
    else:
        m = json.loads(meta.read_text())
        m["shape"] = [1, 32, 16, 3]
        meta.write_text(json.dumps(m))
    store = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    assert store.status.startswith("rebuilt (")
    assert np.array_equal(np.asarray(store.images), expected)
    assert decoded_store(toy, 32, 16, cache_dir=tmp_path).status == "hit"
    assert not list(tmp_path.glob("decoded/*.tmp"))  # no temporary files left behind


def test_unknown_pipeline_and_unreadable_image_are_clear_errors(toy, tmp_path):
    ds = ReidImages(toy, 32, 16, train=True)
    with pytest.raises(ValueError, match="unknown input pipeline 'png'"):
        train_feed(ds, EpochShuffleSampler(len(ds)), 4, True, torch.device("cpu"), pipeline="png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(Exception, match="bad.jpg"):
        decoded_store([type(toy[0])(str(bad), 1, 1)], 32, 16, cache_dir=tmp_path)
    assert not list(tmp_path.glob("decoded/*"))  # nothing half-written stays


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_match_the_cpu_batches(toy, tmp_path):
    ds = ReidImages(toy, 32, 16, train=True, flip=0.5, seed=5, pad=3)
    sampler = EpochShuffleSampler(len(ds), 5)
    store = decoded_store(toy, 32, 16, cache_dir=tmp_path)
    cpu = list(DecodedTrainBatches(store, ds, sampler, 7, True, torch.device("cpu")))
    gpu = DecodedTrainBatches(store, ds, sampler, 7, True, torch.device("cuda"))
    assert gpu.resident == "device"
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert torch.allclose(xc, xg.cpu(), atol=1e-6, rtol=0) and torch.equal(yc, yg.cpu())


def test_the_cache_keeps_the_recently_used_stores_under_its_cap(tmp_path):
    import os
    import time as _time

    from benchmark.reid.decoded import prune

    recs = write_toy_records(tmp_path / "imgs", num_ids=2, images_per_id=4, size=(24, 12))
    stores = [decoded_store(recs[: 3 + i], 24, 12, cache_dir=tmp_path / "c") for i in range(4)]
    for i, s in enumerate(stores):  # ages: store 0 oldest
        os.utime(s.path, (_time.time() - 100 + i, _time.time() - 100 + i))
    assert decoded_store(recs[:3], 24, 12, cache_dir=tmp_path / "c").status == "hit"  # store 0 used again
    sizes = [s.path.stat().st_size for s in stores]
    removed = prune(tmp_path / "c" / "decoded", keep=stores[3].path, max_bytes=sizes[0] + sizes[3])
    assert removed == [stores[1].path, stores[2].path]  # least recently used first, until under the cap
    left = {p.name for p in (tmp_path / "c" / "decoded").glob("*")}
    assert left == {stores[i].path.name for i in (0, 3)} | {stores[i].path.with_suffix(".json").name for i in (0, 3)}
