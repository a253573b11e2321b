"""Checks of the fused kernels (nbs/03c_kernels.ipynb, 03d_triton_kernels) against the eager ops, run by
tests/test_kernels.py in a subprocess with Triton's interpreter on: TRITON_INTERPRET must be set before triton is first
imported (its own library functions are defined then), which a pytest process running other tests cannot promise.
float32, tiny shapes, forward and backward, each op and a whole model, with negative controls."""
import copy, os
os.environ["TRITON_INTERPRET"] = "1"
import pytest
import torch
import torch.nn.functional as F
import triton.runtime.interpreter        # fails here rather than later if triton is missing
from neobert.config import UserError
from neobert.layers import RMSNorm, SwiGLU, rope_angles, apply_rope
from neobert.model import NeoBERTConfig, NeoBERTLMHead, decoder_loss
from neobert import kernels as K

@pytest.fixture
def interp():
    "The kernels run on the CPU, and Python floats reach them as fp32 scalars (as compiled Triton passes them)."
    assert K.interpreting() and K.interpreter_floats()

def grads(y, inputs, g): return torch.autograd.grad(y, inputs, g)

def test_rmsnorm(interp):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 24, requires_grad=True)          # 15 rows (more than the 8 programs of the backward), N not a power of 2
    ref = RMSNorm(24); torch.nn.init.normal_(ref.weight)
    fused = K.TritonRMSNorm(24); fused.load_state_dict(ref.state_dict())
    y1, y2 = ref(x), fused(x); g = torch.randn_like(y1)
    torch.testing.assert_close(y2, y1)
    for a, b in zip(grads(y2, (x, fused.weight), g), grads(y1, (x, ref.weight), g)): torch.testing.assert_close(a, b)
    # negative control: another epsilon is caught at this tolerance
    fused.eps = 1e-1
    assert not torch.allclose(fused(x), y1, rtol=1.3e-6, atol=1e-5)

def test_rope(interp):
    torch.manual_seed(0)
    B, S, H, D = 2, 5, 3, 8
    qkv = torch.randn(B, S, H, 3 * D)
    q = qkv.chunk(3, -1)[1].requires_grad_()                # strided, as the block hands it over
    cos, sin = rope_angles(torch.arange(S)[None].expand(B, -1) + 3, D)
    y1, y2 = apply_rope(q, cos, sin), K.rope_triton(q, cos, sin); g = torch.randn_like(y1)
    torch.testing.assert_close(y2, y1)
    torch.testing.assert_close(grads(y2, q, g)[0], grads(y1, q, g)[0])
    torch.testing.assert_close(K.rope_launch(y2.detach(), cos, sin, True), q.detach())     # the backward rotation inverts
    # negative control: the half-split layout (Llama's rotate_half, Liger's RoPE) is another rotation
    c, s = cos[..., 0::2].repeat(1, 1, 2)[:, :, None], sin[..., 1::2].repeat(1, 1, 2)[:, :, None]
    half = q * c + torch.cat([-q[..., D // 2:], q[..., :D // 2]], -1) * s
    assert (half - y2).abs().max() > 0.1

def test_swiglu(interp):
    torch.manual_seed(0)
    ref = SwiGLU(16, 40); fused = K.TritonSwiGLU(16, 40); fused.load_state_dict(ref.state_dict())   # f = 32
    h = torch.randn(2, 3, 16, requires_grad=True)
    y1, y2 = ref(h), fused(h); g = torch.randn_like(y1)
    torch.testing.assert_close(y2, y1)
    ps = lambda m: (h, m.w12.weight, m.w3.weight)
    for a, b in zip(grads(y2, ps(fused), g), grads(y1, ps(ref), g)): torch.testing.assert_close(a, b)
    # negative control: the gate on the other half
    x1, x2 = ref.w12(h).chunk(2, -1)
    assert (ref.w3(F.silu(x2) * x1) - y2).abs().max() > 1e-3

def test_linear_ce(interp):
    torch.manual_seed(0)
    dec = torch.nn.Linear(16, 50); torch.nn.init.normal_(dec.bias)
    h = torch.randn(7, 16, requires_grad=True)
    lab = torch.tensor([1, -100, 3, 4, -100, 49, 0])
    for n in (None, torch.tensor(9.0)):
        (l1, lg1), (l2, lg2) = decoder_loss(h, dec, lab, n), K.fused_decoder_loss(h, dec, lab, n)
        assert lg2 is None and lg1.shape == (7, 50)
        torch.testing.assert_close(l2, l1)
        ps = (h, dec.weight, dec.bias)
        for a, b in zip(torch.autograd.grad(l2, ps), torch.autograd.grad(l1, ps)): torch.testing.assert_close(a, b)
    with torch.no_grad(): assert K.fused_decoder_loss(h, dec, lab)[1].shape == (7, 50)    # evaluation: eager, with logits
    # negative control: the ignored labels counted would change the loss
    assert abs(K.fused_decoder_loss(h, dec, lab)[0] - decoder_loss(h, dec, lab.clamp(min=0))[0]) > 1e-3

def tiny_model(**kw):
    torch.manual_seed(0)
    return NeoBERTLMHead(NeoBERTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                       vocab_size=60, decoder_on_masked_only=True, **kw))

def test_whole_model(interp):
    "Loss and every gradient of a tiny model, kernels on against off, padded rows and packed documents."
    ref = tiny_model()
    fused = K.use_kernels(copy.deepcopy(ref), list(K.KERNELS))
    assert type(fused.model.layer_norm) is K.TritonRMSNorm and fused.decoder_loss is K.fused_decoder_loss
    torch.manual_seed(1)
    ids = torch.randint(1, 60, (2, 12)); lab = torch.where(torch.rand(2, 12) < 0.4, ids, -100)
    am = torch.ones(2, 12, dtype=torch.long); am[1, 9:] = 0
    cu = torch.tensor([0, 5, 12, 24], dtype=torch.int32)
    for kw in (dict(attention_mask=am), dict(cu_seqlens=cu)):
        ref.zero_grad(); fused.zero_grad()
        l1, l2 = ref(input_ids=ids, labels=lab, **kw).loss, fused(input_ids=ids, labels=lab, **kw).loss
        l1.backward(); l2.backward()
        torch.testing.assert_close(l2, l1)
        for (n, p1), p2 in zip(ref.named_parameters(), fused.parameters()): torch.testing.assert_close(p2.grad, p1.grad, msg=n)
    # negative control: the same model with one norm's epsilon changed is caught
    fused.model.layer_norm.eps = 1e-1
    assert abs(fused(input_ids=ids, labels=lab).loss - ref(input_ids=ids, labels=lab).loss) > 1e-4

def test_whole_model_bf16(interp):
    "Under bf16 autocast with the bf16 residual stream (the fast config's setting): the loss and gradients agree to bf16's precision."
    ref = tiny_model(residual_in_fp32=False)
    fused = K.use_kernels(copy.deepcopy(ref), list(K.KERNELS))
    torch.manual_seed(1)
    ids = torch.randint(1, 60, (2, 12)); lab = torch.where(torch.rand(2, 12) < 0.4, ids, -100)
    with torch.autocast("cpu", torch.bfloat16):
        l1, l2 = ref(input_ids=ids, labels=lab).loss, fused(input_ids=ids, labels=lab).loss
    l1.backward(); l2.backward()
    torch.testing.assert_close(l2, l1, rtol=2e-2, atol=2e-2)
    g1 = torch.cat([p.grad.flatten() for p in ref.parameters()]); g2 = torch.cat([p.grad.flatten() for p in fused.parameters()])
    assert (g1 - g2).norm() < 0.05 * g1.norm(), ((g1 - g2).norm(), g1.norm())

def test_nothing_to_replace(interp):
    "An op with nothing to swap in the model is an error, not a silent no-op."
    with pytest.raises(UserError, match="'rmsnorm' has nothing to replace"): K.use_kernels(tiny_model(norm="layernorm"), ["rmsnorm"])
    with pytest.raises(UserError, match="'rope' has nothing to replace"): K.use_kernels(tiny_model(position="learned"), ["rope"])
    with pytest.raises(UserError, match="'swiglu' has nothing to replace"): K.use_kernels(tiny_model(ffn="geglu"), ["swiglu"])
