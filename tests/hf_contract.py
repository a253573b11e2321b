"""The Hugging Face model contract, checked the way transformers' `ModelTesterMixin` checks its own models: save/load,
hidden states, attentions, batching equivalence, eager vs SDPA, gradient checkpointing, resized embeddings,
`inputs_embeds`, training, and the config flags. Imports only torch and transformers, so that it runs in the package's
process (on our classes) and, as a script, in a fresh Python (any transformers version) on a folder's remote code:

    python tests/hf_contract.py FOLDER OUT.json [--tokenizer]
    python tests/hf_contract.py FOLDER OUT.json --bare-tokenizer    # only AutoTokenizer.from_pretrained(FOLDER), no kwargs

The script never imports neobert; it records whether anything did."""
import json, sys, tempfile, traceback
import torch

KINDS = ("base", "mlm", "clf", "tok")
TOL = 1e-5

def _out(o, kind): return o.last_hidden_state if kind == "base" else o.logits

def _diff(a, b): return (a.float() - b.float()).abs().max().item()

def _labels(kind, ids, mask, n_labels=3):
    if kind == "mlm": return torch.where(mask.bool() & (torch.arange(ids.shape[1]) % 3 == 0), ids, torch.full_like(ids, -100))
    if kind == "clf": return torch.arange(ids.shape[0]) % n_labels
    if kind == "tok": return torch.where(mask.bool(), ids % n_labels, torch.full_like(ids, -100))
    return None

def _loss(model, kind, ids, mask, labels):
    o = model(input_ids=ids, attention_mask=mask, labels=labels) if labels is not None else model(input_ids=ids, attention_mask=mask)
    return o.loss if labels is not None else o.last_hidden_state.pow(2).mean()

def check_model(load, kind, ids, mask) -> dict:
    """Run the contract on the model `load(**from_pretrained_kwargs)` returns (a head of `kind`); {check: detail}.
    A failed check raises AssertionError with what differed."""
    res, _load = {}, load
    def load(**kw):
        torch.manual_seed(0); return _load(**kw)        # a new head (clf) is initialised the same way on every load
    m = load().eval()
    L, B, S = m.config.num_hidden_layers, *ids.shape
    with torch.no_grad():
        ref = _out(m(input_ids=ids, attention_mask=mask), kind)
        base = m.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    res["class"] = type(m).__module__ + "." + type(m).__name__
    res["ref"] = ref                                                    # compared with the package's by the caller

    # config flags: from_pretrained(output_hidden_states=True) and return_dict=False
    mh = load(output_hidden_states=True).eval()
    with torch.no_grad(): o = mh(input_ids=ids, attention_mask=mask)
    assert o.hidden_states is not None and len(o.hidden_states) == L + 1, f"hidden_states: {None if o.hidden_states is None else len(o.hidden_states)}"
    assert all(h.shape == (B, S, m.config.hidden_size) for h in o.hidden_states)
    assert torch.equal(o.hidden_states[-1], base), "hidden_states[-1] is not last_hidden_state"
    assert _diff(o.hidden_states[0], m.get_input_embeddings()(ids)) == 0, "hidden_states[0] is not the embeddings"
    res["hidden_states"] = f"{len(o.hidden_states)} from the config flag; [-1] is last_hidden_state"
    mh.config.return_dict = False
    with torch.no_grad(): t = mh(input_ids=ids, attention_mask=mask)
    assert isinstance(t, tuple) and _diff(t[0], ref) < TOL, f"return_dict=False gave {type(t)}"
    res["return_dict"] = "config.return_dict=False gives a tuple"

    # attentions: attn_implementation="eager" at load; eager equals SDPA
    me = load(attn_implementation="eager").eval()
    assert me.config.attn_backend == "eager" and me.config._attn_implementation == "eager", (me.config.attn_backend, me.config._attn_implementation)
    with torch.no_grad(): oe = me(input_ids=ids, attention_mask=mask, output_attentions=True)
    H = m.config.num_attention_heads
    assert oe.attentions is not None and len(oe.attentions) == L and all(a.shape == (B, H, S, S) for a in oe.attentions)
    keep = mask.bool()[:, None, :, None]
    assert _diff(oe.attentions[0].sum(-1)[keep[..., 0].expand(B, H, S)], torch.ones(1)) < 1e-5, "attention rows do not sum to 1"
    assert oe.attentions[0][~mask.bool()[:, None, None, :].expand(B, H, S, S)].abs().max() == 0, "padding gets attention"
    d = _diff(_out(oe, kind), ref); assert d < TOL, f"eager vs sdpa: {d}"
    res["attentions"] = f"eager: {L} x {tuple(oe.attentions[0].shape)}; eager vs sdpa max |diff| {d:.1e}"
    mc = load(output_attentions=True)                       # transformers switches to eager when attentions are asked for
    assert mc.config.attn_backend == "eager", mc.config.attn_backend
    m2 = load().eval(); m2.set_attn_implementation("eager")
    assert m2.config.attn_backend == "eager"
    with torch.no_grad(): assert m2(input_ids=ids, attention_mask=mask, output_attentions=True).attentions[0] is not None
    m2.set_attn_implementation("sdpa"); assert m2.config.attn_backend == "sdpa"
    res["set_attn_implementation"] = "eager <-> sdpa"

    # batching equivalence: each row alone gives its rows' outputs in the padded batch
    with torch.no_grad():
        for i in range(B):
            n = int(mask[i].sum())
            alone = _out(m(input_ids=ids[i:i + 1, :n]), kind)
            got = ref[i:i + 1] if kind == "clf" else ref[i:i + 1, :n]
            d = _diff(alone, got); assert d < TOL, f"row {i} alone vs batched: {d}"
    res["batching"] = f"{B} rows alone = batched"

    # inputs_embeds
    with torch.no_grad():
        d = _diff(_out(m(inputs_embeds=m.get_input_embeddings()(ids), attention_mask=mask), kind), ref)
    assert d < TOL, f"inputs_embeds: {d}"
    res["inputs_embeds"] = "same outputs as input_ids"

    # save / load (the folder must carry the code and auto_map again)
    with tempfile.TemporaryDirectory() as d2:
        m.save_pretrained(d2)
        cj = json.load(open(f"{d2}/config.json"))
        assert "AutoModel" in cj.get("auto_map", {}), cj.get("auto_map")
        import os
        assert {"model.py", "layers.py", "attention.py"} <= set(os.listdir(d2)), os.listdir(d2)
        back = type(m).from_pretrained(d2).eval()
        with torch.no_grad(): dd = _diff(_out(back(input_ids=ids, attention_mask=mask), kind), ref)
        assert dd == 0, f"save/load: {dd}"
    res["save_load"] = "identical outputs; auto_map and code written"

    # gradient checkpointing: same loss and gradients (dropout off)
    labels = _labels(kind, ids, mask)
    def grads(model):
        model.zero_grad(); l = _loss(model, kind, ids, mask, labels); l.backward()
        return l.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    mg = load(classifier_dropout=0.0).train()
    l0, g0 = grads(mg)
    mg.gradient_checkpointing_enable()
    assert any(getattr(b, "gradient_checkpointing", False) for b in mg.modules()), "no layer checkpoints"
    l1, g1 = grads(mg)
    assert _diff(l0, l1) < 1e-6 and _diff(g0, g1) < 1e-5, (l0, l1, _diff(g0, g1))
    res["gradient_checkpointing"] = f"same loss and gradients ({g0.numel()} values)"

    # training: every parameter gets a gradient, and a few steps lower the loss
    mt = load(classifier_dropout=0.0).train()
    _loss(mt, kind, ids, mask, labels).backward()
    none = [n for n, p in mt.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not none, f"no (finite) gradient: {none}"
    opt = torch.optim.AdamW(mt.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        opt.zero_grad(); l = _loss(mt, kind, ids, mask, labels); l.backward(); opt.step(); losses.append(l.item())
    assert losses[-1] < losses[0], losses
    res["training"] = f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in 5 AdamW steps"

    # resized embeddings: more rows, config follows, outputs on the old ids unchanged
    mr = load().eval(); V = mr.config.vocab_size
    mr.resize_token_embeddings(V + 8)
    assert mr.get_input_embeddings().weight.shape[0] == V + 8 and mr.config.vocab_size == V + 8
    with torch.no_grad(): o = _out(mr(input_ids=ids, attention_mask=mask), kind)
    if kind == "mlm": assert o.shape[-1] == V + 8 and _diff(o[..., :V], ref) < TOL, o.shape
    else: assert _diff(o, ref) < TOL
    with torch.no_grad(): mr(input_ids=torch.full_like(ids, V + 7), attention_mask=mask)    # a new id runs
    res["resize_embeddings"] = f"{V} -> {V + 8} rows" + (" (decoder too)" if kind == "mlm" else "")
    return res

def _auto(kind):
    import transformers as tf
    return {"base": tf.AutoModel, "mlm": tf.AutoModelForMaskedLM, "clf": tf.AutoModelForSequenceClassification,
            "tok": tf.AutoModelForTokenClassification}[kind]

def main(folder, out, tokenizer=False):
    "Every head through the Auto classes and the folder's remote code; results (and reference outputs) to `out`."
    import transformers
    from safetensors.torch import load_file, save_file
    from transformers.utils import logging
    logging.set_verbosity_error(); logging.disable_progress_bar()
    x = load_file(f"{folder}/../contract_inputs.safetensors")
    ids, mask = x["input_ids"], x["attention_mask"]
    res, tensors = {"transformers": transformers.__version__}, {}
    for kind in KINDS:
        extra = {"num_labels": 3} if kind in ("clf", "tok") else {}
        def load(**kw): return _auto(kind).from_pretrained(folder, trust_remote_code=True, dtype=torch.float32, **extra, **kw)
        try:
            r = check_model(load, kind, ids, mask)
            tensors[kind] = r.pop("ref").contiguous()
            if kind in ("clf", "tok"):                            # the new head's weights, to rebuild it in the package
                torch.manual_seed(0)                              # as check_model's loads
                for k, t in load().state_dict().items():
                    if k.startswith(("dense.", "classifier.")): tensors[f"{kind}|{k}"] = t.contiguous()
            res[kind] = r
        except Exception as e: res[kind] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
    if tokenizer:
        try:
            from transformers import AutoTokenizer
            kw = {} if transformers.__version__ < "5" else {"trust_remote_code": False}
            t = AutoTokenizer.from_pretrained(folder, **kw)
            res["tokenizer"] = {"class": type(t).__name__, "kwargs": kw, "ids": t(["Paris is the capital of France."])["input_ids"][0]}
        except Exception as e: res["tokenizer"] = {"error": f"{type(e).__name__}: {e}"}
    res["neobert_imported"] = any(m == "neobert" or m.startswith("neobert.") for m in sys.modules)
    save_file(tensors, out + ".safetensors")
    json.dump(res, open(out, "w"), default=str)

def bare_tokenizer(folder, out):
    "`AutoTokenizer.from_pretrained(folder)` with no arguments at all, as a user types it: class, seconds, ids to `out`."
    import time
    import transformers
    from transformers import AutoTokenizer
    t0 = time.perf_counter()
    try:
        t = AutoTokenizer.from_pretrained(folder)
        res = {"class": type(t).__name__, "ids": t(["Paris is the capital of France."])["input_ids"][0]}
    except Exception as e: res = {"error": f"{type(e).__name__}: {e}"}
    res |= {"seconds": time.perf_counter() - t0, "transformers": transformers.__version__,
            "neobert_imported": any(m == "neobert" or m.startswith("neobert.") for m in sys.modules)}
    json.dump(res, open(out, "w"), default=str)

if __name__ == "__main__":
    if "--bare-tokenizer" in sys.argv[3:]: bare_tokenizer(sys.argv[1], sys.argv[2])
    else: main(sys.argv[1], sys.argv[2], "--tokenizer" in sys.argv[3:])
