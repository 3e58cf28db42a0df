"""CycleGAN's image history buffer (Shrivastava et al. 2017): the discriminators
see a mix of the newest fakes and up to `size` older ones, which damps
oscillation. Seeded, and its state goes into the checkpoint so a resumed run
continues exactly."""
from __future__ import annotations

import random

import torch


class ImagePool:
    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape: each image is the new one, or (p = 0.5
        once the pool is full) a stored one that the new image replaces."""
        if self.size == 0:
            return batch
        out = []
        for img in batch.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [t.cpu() for t in self.images], "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [t.to(device) for t in state["images"]]
        self.rng.setstate(state["rng"])
