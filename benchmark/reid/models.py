"""Building torchreid models for a profile, with ImageNet weights read from disk only.

torchreid's own `pretrained=True` downloads (model zoo / Google Drive). We always
build with `pretrained=False` and, when the profile asks for ImageNet weights,
load the file that torchreid would have downloaded from AOSTBENCH_WEIGHTS or
the torch hub cache (`benchmark.weights.require`: a missing file names the
`aostbench weights fetch` command), with `torch.load(..., weights_only=True)`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark import weights as W
from benchmark.profiles import Profile

def _torchreid_models():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cython evaluation")
        import torchreid.reid.models as models
    return models


def pretrained_weights_spec(arch: str) -> tuple[str, str]:
    """(file name, where it comes from) of the ImageNet weights torchreid uses for `arch`."""
    wf = W.for_arch(arch)
    return wf.filename, wf.url


def require_pretrained(profile: Profile) -> Path | None:
    """The weights file a profile needs (None when it trains from scratch); MissingWeights if absent."""
    if not profile.pretrained:
        return None
    return W.require(W.for_arch(profile.arch), f"the re-ID backbone of profile {profile.name!r}")


def load_matching_weights(model: nn.Module, path: str | Path) -> tuple[int, int]:
    """Copy the tensors of a state-dict file whose names and shapes match; (matched, skipped)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / wrong format: name the file
        raise ValueError(f"cannot load weights file {path}: {exc} (expected a PyTorch state dict)") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} holds a {type(state).__name__}, expected a state dict")
    own = model.state_dict()
    matched = {}
    for key, value in state.items():
        key = key[7:] if key.startswith("module.") else key
        if key in own and torch.is_tensor(value) and own[key].shape == value.shape:
            matched[key] = value
    if not matched:
        raise ValueError(f"weights file {path} has no tensor matching the model's layers (wrong architecture?)")
    own.update(matched)
    model.load_state_dict(own)
    return len(matched), len(state) - len(matched)


def build_reid_model(profile: Profile, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    """A torchreid model (softmax loss) for `profile` and its info: arch, input, pretrained, params.

    Raises MissingWeights (before building anything) when the profile needs
    ImageNet weights that are not on disk.
    """
    if num_classes < 2:
        raise ValueError(f"a softmax re-ID model needs at least 2 classes, got {num_classes}")
    weights = require_pretrained(profile)
    models = _torchreid_models()
    model = models.build_model(profile.arch, num_classes=num_classes, loss="softmax", pretrained=False, use_gpu=False)
    info: dict[str, Any] = {
        "arch": profile.arch,
        "num_classes": num_classes,
        "input": [profile.height, profile.width],
        "pretrained": bool(weights),
        "pretrained_file": str(weights) if weights else None,
        "params": sum(p.numel() for p in model.parameters()),
    }
    if weights is not None:
        info["pretrained_tensors"], info["pretrained_skipped"] = load_matching_weights(model, weights)
        # what was loaded, recorded where it was loaded (the run copies it into result.json)
        info["weights_use"] = W.use_record("reid_backbone", weights, info["pretrained_tensors"], "imagenet")
    return model, info


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel (or the model itself)."""
    return model.module if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_trained_model(path: str | Path, model: nn.Module, info: dict[str, Any]) -> None:
    """The final model file: state dict + what is needed to rebuild it (atomic write)."""
    from benchmark.reid.checkpoint import atomic_save

    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    atomic_save({"state_dict": state, "info": info}, path)


def load_trained_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model written by `save_trained_model` (eval mode) and return it with its info."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path} (expected the model.pth that reid.train writes)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "state_dict" not in blob or "info" not in blob:
        raise ValueError(f"{path} is not a model file written by aostbench (expected keys state_dict, info)")
    info = blob["info"]
    models = _torchreid_models()
    model = models.build_model(info["arch"], num_classes=info["num_classes"], loss="softmax", pretrained=False, use_gpu=False)
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), info
