"""Hand-written attention and the fused SDPA path are the same function of the same weights."""

from __future__ import annotations

import pytest
import torch

from textlab.base.errors import ConfigValueError
from textlab.models.attention import MultiHeadAttention, scaled_dot_product_attention

B, T, D, H = 3, 7, 16, 4


def keep_mask(lengths: list[int], max_len: int = T) -> torch.Tensor:
    """(B, T) bool, True at the first `length` positions of each row."""
    return torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]


def attention_pair(**kwargs) -> tuple[MultiHeadAttention, MultiHeadAttention]:
    """A manual and an sdpa module sharing one set of float64 weights, in eval mode."""
    torch.manual_seed(0)
    manual = MultiHeadAttention(D, H, impl="manual", **kwargs).double().eval()
    sdpa = MultiHeadAttention(D, H, impl="sdpa", **kwargs).double().eval()
    sdpa.load_state_dict(manual.state_dict())
    return manual, sdpa


@pytest.mark.parametrize("lengths", [[7, 4, 1], [7, 3, 0]], ids=["padded", "with-empty-sequence"])
def test_manual_and_sdpa_give_same_outputs_and_gradients(lengths):
    manual, sdpa = attention_pair()
    mask = keep_mask(lengths)
    x = torch.randn(B, T, D, dtype=torch.float64)
    outputs, grads = [], []
    for module in (manual, sdpa):
        xi = x.clone().requires_grad_()
        y, _ = module(xi, mask)
        (y * torch.linspace(-1, 1, D, dtype=y.dtype)).sum().backward()
        outputs.append(y)
        grads.append((xi.grad, module.qkv.weight.grad, module.proj.weight.grad))
    torch.testing.assert_close(outputs[0], outputs[1])
    for g_manual, g_sdpa in zip(*grads, strict=True):
        torch.testing.assert_close(g_manual, g_sdpa)


def test_manual_and_sdpa_agree_without_a_mask():
    manual, sdpa = attention_pair()
    x = torch.randn(B, T, D, dtype=torch.float64)
    torch.testing.assert_close(manual(x)[0], sdpa(x)[0])


def test_padded_keys_get_exactly_zero_weight_and_real_keys_sum_to_one():
    q, k, v = torch.randn(3, B, H, T, D // H).unbind(0)
    mask = keep_mask([7, 4, 2])
    _, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, T)
    key_is_pad = ~mask[:, None, None, :].expand_as(weights)
    assert torch.all(weights[key_is_pad] == 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, T))


@pytest.mark.parametrize("impl", ["manual", "sdpa"])
def test_under_bf16_autocast_each_path_stays_within_bf16_rounding_of_float64(impl):
    """What trainer.precision=bf16-mixed runs: autocast to bf16 (on CUDA on a GPU, CPU here)."""
    reference, _ = attention_pair()
    module = MultiHeadAttention(D, H, impl=impl).eval()
    module.load_state_dict({k: v.float() for k, v in reference.state_dict().items()})
    mask = keep_mask([7, 3, 0])
    x = torch.randn(B, T, D, dtype=torch.float64)
    expected, _ = reference(x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = module(x.float(), mask)
    assert y.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa (0.4%); letting the padded keys through moves outputs by 0.25
    torch.testing.assert_close(y.double(), expected, atol=3e-2, rtol=3e-2)


def test_huge_scores_on_padded_keys_still_get_zero_weight():
    q, k, v = torch.randn(3, 1, 1, 4, 8).unbind(0)
    k[..., 2:, :] = 1e4 * q[..., :1, :]  # padded keys that would dominate if merely down-weighted
    _, weights = scaled_dot_product_attention(q, k, v, keep_mask([2], 4))
    assert torch.all(weights[..., 2:] == 0.0)


@pytest.mark.parametrize("impl", ["manual", "sdpa"])
def test_sequence_of_only_padding_gives_zero_output_and_finite_gradients(impl):
    module = MultiHeadAttention(D, H, impl=impl).eval()
    x = torch.randn(2, T, D, requires_grad=True)
    mask = keep_mask([5, 0])
    y, _ = module(x, mask)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    # zero attention output; only the output projection's bias remains
    torch.testing.assert_close(y[1], module.proj.bias.expand(T, D))


def test_weights_of_a_sequence_of_only_padding_are_zero_not_nan():
    q, k, v = torch.randn(3, 1, H, T, D // H).unbind(0)
    out, weights = scaled_dot_product_attention(q, k, v, keep_mask([0], T))
    assert torch.all(weights == 0.0) and torch.all(out == 0.0)


def test_need_weights_returns_weights_even_when_impl_is_sdpa():
    manual, sdpa = attention_pair()
    x = torch.randn(B, T, D, dtype=torch.float64)
    mask = keep_mask([7, 4, 1])
    y_manual, w_manual = manual(x, mask, need_weights=True)
    y_sdpa, w_sdpa = sdpa(x, mask, need_weights=True)
    assert w_sdpa is not None and w_sdpa.shape == (B, H, T, T)
    torch.testing.assert_close(w_manual, w_sdpa)
    torch.testing.assert_close(y_manual, y_sdpa)
    assert sdpa(x, mask)[1] is None


def test_dropout_on_the_manual_path_is_active_only_in_training():
    torch.manual_seed(0)
    module = MultiHeadAttention(D, H, dropout=0.5, impl="manual")
    x = torch.randn(B, T, D)
    module.train()
    assert not torch.allclose(module(x)[0], module(x)[0])
    module.eval()
    torch.testing.assert_close(module(x)[0], module(x)[0])


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"d_model": 10, "num_heads": 4}, "num_heads"), ({"impl": "flash"}, "attention")],
)
def test_bad_arguments_raise_config_value_error_naming_the_key(kwargs, key):
    with pytest.raises(ConfigValueError, match=f"^{key}="):
        MultiHeadAttention(**{"d_model": D, "num_heads": H, **kwargs})
