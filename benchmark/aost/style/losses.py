"""SPGAN's objective (Deng et al. 2018), written so its composition can be checked.

Notation: G maps source -> target, F maps target -> source; x_s is a source
batch, x_t a target (style bank) batch.

  L_G = L_adv(D_t, G(x_s)) + L_adv(D_s, F(x_t))                 (LSGAN)
      + 10 * [ |F(G(x_s)) - x_s|_1 + |G(F(x_t)) - x_t|_1 ]        cycle
      +  5 * [ |G(x_t) - x_t|_1   + |F(x_s) - x_s|_1 ]            identity
      +  2 * L_con                                               (SPGAN only)

L_con is the contrastive loss (Hadsell et al. 2006) on SiaNet embeddings with
margin 2: positive pairs (x_s, G(x_s)) and (x_t, F(x_t)) keep an image's
identity through translation (self-similarity); negative pairs (G(x_s), x_t)
and (F(x_t), x_s) keep a translated image apart from the other domain's people
(domain-dissimilarity). `cyclegan` is the same objective with the SiaNet term off.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    cycle: float = 10.0
    identity: float = 5.0
    contrastive: float = 2.0  # 0 for cyclegan
    margin: float = 2.0


SPGAN_WEIGHTS = LossWeights()
CYCLEGAN_WEIGHTS = LossWeights(contrastive=0.0)


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean (pred - 1)^2 for real targets, pred^2 for fake."""
    return F.mse_loss(pred.float(), torch.full_like(pred.float(), 1.0 if real else 0.0))


def contrastive(e1: torch.Tensor, e2: torch.Tensor, positive: bool, margin: float) -> torch.Tensor:
    """Contrastive loss on embeddings: d^2 for positive pairs, max(0, m - d)^2 for negative."""
    d = (e1.float() - e2.float()).pow(2).sum(1).clamp_min(1e-12).sqrt()
    return d.pow(2).mean() if positive else (margin - d).clamp_min(0).pow(2).mean()


def sianet_pairs_loss(sia: nn.Module, x_s, x_t, fake_t, fake_s, margin: float) -> torch.Tensor:
    """Mean contrastive loss over SPGAN's two positive and two negative pairs."""
    e_s, e_t, e_ft, e_fs = sia(x_s), sia(x_t), sia(fake_t), sia(fake_s)
    pos = contrastive(e_s, e_ft, True, margin) + contrastive(e_t, e_fs, True, margin)
    neg = contrastive(e_ft, e_t, False, margin) + contrastive(e_fs, e_s, False, margin)
    return (pos + neg) / 4.0


def generator_objective(
    G: nn.Module, Fn: nn.Module, D_s: nn.Module, D_t: nn.Module, sia: nn.Module | None,
    x_s: torch.Tensor, x_t: torch.Tensor, w: LossWeights,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Total generator loss, its unweighted terms, and the fakes (for the D and SiaNet steps)."""
    fake_t, fake_s = G(x_s), Fn(x_t)
    terms = {
        "adv": lsgan(D_t(fake_t), True) + lsgan(D_s(fake_s), True),
        "cycle": F.l1_loss(Fn(fake_t).float(), x_s.float()) + F.l1_loss(G(fake_s).float(), x_t.float()),
        "identity": F.l1_loss(G(x_t).float(), x_t.float()) + F.l1_loss(Fn(x_s).float(), x_s.float()),
    }
    total = terms["adv"] + w.cycle * terms["cycle"] + w.identity * terms["identity"]
    if w.contrastive > 0:
        if sia is None:
            raise ValueError("the SPGAN objective needs a SiaNet (contrastive weight > 0)")
        terms["contrastive"] = sianet_pairs_loss(sia, x_s, x_t, fake_t, fake_s, w.margin)
        total = total + w.contrastive * terms["contrastive"]
    return total, terms, {"fake_t": fake_t, "fake_s": fake_s}


def discriminator_objective(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss, halved as in CycleGAN to slow D relative to G."""
    return 0.5 * (lsgan(D(real), True) + lsgan(D(fake.detach()), False))
