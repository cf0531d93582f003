"""Properties of the KD divergence (pure function) and its config."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from aligncap_lib.training.kd_regularization import KDConfig, caption_logits, divergence

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
KINDS = [("forward_kl", 0.5), ("reverse_kl", 0.5), ("jsd", 0.5), ("jsd", 0.1), ("jsd", 0.9)]


def _logits(seed: int, shape: tuple[int, ...] = (3, 5, 11)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * 2


@pytest.mark.parametrize(("kind", "beta"), KINDS)
def test_zero_for_identical_and_positive_otherwise(kind: str, beta: float) -> None:
    z = _logits(0)
    assert divergence(z, z.clone(), kind=kind, beta=beta).abs().item() < 1e-12
    per = divergence(_logits(1), z, kind=kind, beta=beta, reduction="none")
    assert per.shape == z.shape[:-1]
    assert (per > 0).all()


def test_forward_and_reverse_kl_equal_torch_kl_div() -> None:
    s, t = _logits(1), _logits(2)
    ls, lt = F.log_softmax(s, -1), F.log_softmax(t, -1)
    n = s.shape[0] * s.shape[1]
    fwd = F.kl_div(ls, lt, reduction="sum", log_target=True) / n  # KL(T || S)
    rev = F.kl_div(lt, ls, reduction="sum", log_target=True) / n
    torch.testing.assert_close(divergence(s, t, kind="forward_kl"), fwd)
    torch.testing.assert_close(divergence(s, t, kind="reverse_kl"), rev)
    # the edges of the generalized JSD are the two KLs (trl's convention: beta=0 is forward KL)
    torch.testing.assert_close(divergence(s, t, kind="jsd", beta=0.0), fwd)
    torch.testing.assert_close(divergence(s, t, kind="jsd", beta=1.0), rev)
    assert not torch.allclose(fwd, rev)  # the two directions are not the same number


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_equals_trl_generalized_jsd(beta: float, temperature: float) -> None:
    gkd = pytest.importorskip("trl.experimental.gkd")
    s, t = _logits(3), _logits(4)
    labels = torch.randint(0, 11, s.shape[:-1])
    labels[0, :2] = -100
    ours = divergence(s, t, labels != -100, kind="jsd", beta=beta, temperature=temperature)
    theirs = gkd.GKDTrainer.generalized_jsd_loss(s, t, labels=labels, beta=beta, temperature=temperature)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(("kind", "beta"), KINDS)
def test_masked_positions_do_not_count(kind: str, beta: float) -> None:
    s, t = _logits(5), _logits(6)
    mask = torch.ones(s.shape[:-1], dtype=torch.bool)
    mask[:, -2:] = False
    s2 = s.clone()
    s2[:, -2:] += 100 * torch.randn_like(s2[:, -2:])  # garbage where masked
    a = divergence(s, t, mask, kind=kind, beta=beta)
    b = divergence(s2, t, mask, kind=kind, beta=beta)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, divergence(s[:, :-2], t[:, :-2], kind=kind, beta=beta))
    grad_s = s2.clone().requires_grad_()
    divergence(grad_s, t, mask, kind=kind, beta=beta).backward()
    assert grad_s.grad is not None and grad_s.grad[:, -2:].abs().max() == 0
    assert grad_s.grad[:, :-2].abs().max() > 0


def test_reductions_and_num_items() -> None:
    s, t = _logits(7), _logits(8)
    mask = torch.rand(s.shape[:-1], generator=torch.Generator().manual_seed(0)) > 0.3
    per = divergence(s, t, mask, reduction="none")
    assert (per[~mask] == 0).all()
    total = divergence(s, t, mask, reduction="sum")
    torch.testing.assert_close(total, per.sum())
    torch.testing.assert_close(divergence(s, t, mask), total / mask.sum())
    torch.testing.assert_close(divergence(s, t, mask, num_items=40), total / 40)
    # an all-masked batch gives 0 with a gradient path, never NaN
    empty = divergence(s, t, torch.zeros_like(mask))
    assert empty.item() == 0.0


def test_temperature_softens() -> None:
    s, t = _logits(9), _logits(10)
    assert divergence(s, t, temperature=4.0) < divergence(s, t, temperature=1.0)


def test_bad_inputs_name_the_problem() -> None:
    z = _logits(0)
    with pytest.raises(ValueError, match="differ"):
        divergence(z, z[:, :-1])
    with pytest.raises(ValueError, match="unknown divergence"):
        divergence(z, z, kind="tvd")
    with pytest.raises(ValueError, match="temperature"):
        divergence(z, z, temperature=0)
    with pytest.raises(ValueError, match="mask"):
        divergence(z, z, torch.ones(3, dtype=torch.bool))


def test_caption_logits_pairs_two_views_with_different_prompts() -> None:
    """Same caption ids after prompts of different lengths: the gathered rows line up token by token."""
    caption = [7, 8, 9]
    ids_a = torch.tensor([[1, 2, *caption, 0]])  # prompt 2, caption 3, pad
    ids_b = torch.tensor([[4, 4, 4, 4, *caption]])  # prompt 4
    lab_a = torch.tensor([[-100, -100, *caption, -100]])
    lab_b = torch.tensor([[-100] * 4 + caption])
    # logits that encode "the id of the next token" so we can read which position was gathered
    la = F.one_hot(torch.roll(ids_a, -1, 1), 11).double()
    lb = F.one_hot(torch.roll(ids_b, -1, 1), 11).double()
    ga, ta = caption_logits(la, lab_a)
    gb, tb = caption_logits(lb, lab_b)
    assert ta.tolist() == tb.tolist() == caption
    assert ga.argmax(-1).tolist() == gb.argmax(-1).tolist() == caption


def test_config_validates() -> None:
    assert KDConfig().kind == "forward_kl"
    with pytest.raises(ValueError, match="kind"):
        KDConfig(kind="x")
    with pytest.raises(ValueError, match="kd_lambda"):
        KDConfig(kd_lambda=-1)
    assert KDConfig(kd_lambda=0.5).result_hash() != KDConfig().result_hash()
