"""The Hugging Face contract (tests/hf_contract.py) for every head class: in the package, and through the remote code of an
export and of a raw trainer checkpoint in a fresh Python that never imports neobert, under transformers 5 (this
environment) and the latest transformers 4.x (a cached venv under .cache/, created on first use)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from safetensors.torch import save_file, load_file
from conftest import ROOT, OFFLINE, tokenizer_dir
import hf_contract

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=30522, max_length=128)
TEXTS = ["Paris is the capital of France.", "A second, somewhat longer sentence for the padding.", "Short."]
TF4 = ROOT / ".cache" / "tf4-venv"

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    "A raw checkpoint as the trainer writes it (save_pretrained with a state dict, training settings on) and its export."
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    from neobert.export import export
    d = tmp_path_factory.mktemp("contract")
    torch.manual_seed(0)
    lm = NeoBERTLMHead(NeoBERTConfig(**TINY, decoder_on_masked_only=True)).eval()
    ck = d / "run" / "checkpoints" / "step-3"
    lm.save_pretrained(ck, state_dict={k: v.clone() for k, v in lm.state_dict().items()}, max_shard_size="1000GB")
    tok = AutoTokenizer.from_pretrained(tokenizer_dir()); tok.save_pretrained(ck)
    exp = export(ck, d / "export")
    b = tok(TEXTS, padding=True, return_tensors="pt")
    for f in (ck.parent, d):                                    # hf_contract.py reads FOLDER/../contract_inputs.safetensors
        save_file({"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}, str(f / "contract_inputs.safetensors"))
    return {"checkpoint": ck, "export": exp, "ids": b["input_ids"], "mask": b["attention_mask"], "lm": lm,
            "tok_ids": tok(TEXTS[:1])["input_ids"][0]}

@pytest.mark.parametrize("kind", hf_contract.KINDS)
def test_package_contract(folders, kind):
    "Our classes, loaded from the raw checkpoint: the whole contract."
    from neobert.model import NeoBERT, NeoBERTLMHead, NeoBERTForSequenceClassification, NeoBERTForTokenClassification
    cls = {"base": NeoBERT, "mlm": NeoBERTLMHead, "clf": NeoBERTForSequenceClassification,
           "tok": NeoBERTForTokenClassification}[kind]
    extra = {"num_labels": 3} if kind in ("clf", "tok") else {}
    res = hf_contract.check_model(lambda **kw: cls.from_pretrained(folders["checkpoint"], **extra, **kw), kind, folders["ids"], folders["mask"])
    assert res["class"].startswith("neobert.model.")
    with torch.no_grad():
        want = folders["lm"](folders["ids"], attention_mask=folders["mask"])
    if kind == "mlm": assert hf_contract._diff(res["ref"], want.logits) < 1e-6
    if kind == "base": assert hf_contract._diff(res["ref"], folders["lm"].model(folders["ids"], attention_mask=folders["mask"]).last_hidden_state) < 1e-6

def test_fused_attention_convention(folders):
    "output_attentions=True under SDPA: no weights (None per layer), as transformers' SDPA; a negative control for the eager check."
    from neobert.model import NeoBERT
    m = NeoBERT.from_pretrained(folders["checkpoint"]).eval()
    assert m.config.attn_backend == "sdpa" and m.config._attn_implementation == "sdpa"
    o = m(folders["ids"], attention_mask=folders["mask"], output_attentions=True)
    assert o.attentions == (None,) * TINY["num_hidden_layers"]

def tf4_python():
    "Python of a cached venv with the latest transformers<5 (torch and the rest from this environment, after it)."
    py = TF4 / "bin" / "python"
    if not (TF4 / ".ready").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(TF4)], check=True, capture_output=True, timeout=120)
            sp = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                                capture_output=True, text=True).stdout.strip()
            here = [p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir()][0]
            Path(sp, "_torch_from_main_env.pth").write_text(here + "\n")     # after the venv's own packages on sys.path
            r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "transformers<5"],
                               capture_output=True, text=True, timeout=600)
        except (subprocess.SubprocessError, OSError, IndexError) as e: pytest.skip(f"cannot build the transformers 4 venv: {e}")
        if r.returncode != 0: pytest.skip(f"cannot install transformers<5 (no PyPI?): {r.stderr[-300:]}")
        (TF4 / ".ready").touch()
    return py

@pytest.fixture(scope="module", params=["5", "4"])
def python(request):
    return sys.executable if request.param == "5" else str(tf4_python())

@pytest.mark.parametrize("which", ["export", "checkpoint"])
def test_remote_contract(folders, python, which, tmp_path):
    "A Python that never imports neobert: every Auto class on the folder's remote code, the whole contract, our numbers."
    from neobert.model import NeoBERTConfig, NeoBERTForSequenceClassification, NeoBERTForTokenClassification
    out = tmp_path / "res.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([python, str(ROOT / "tests" / "hf_contract.py"), str(folders[which]), str(out), "--tokenizer"],
                       cwd=tmp_path, env={**env, **OFFLINE}, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Do you wish to run the custom code" not in r.stdout + r.stderr
    res, outs = json.loads(out.read_text()), load_file(str(out) + ".safetensors")
    assert res["transformers"].startswith("5." if python == sys.executable else "4."), res["transformers"]
    assert res["neobert_imported"] is False
    for kind in hf_contract.KINDS:
        assert "error" not in res[kind], (kind, res[kind].get("error"), res[kind].get("trace"))
        assert res[kind]["class"].startswith("transformers_modules."), res[kind]["class"]
    lm, ids, mask = folders["lm"], folders["ids"], folders["mask"]
    with torch.no_grad():
        assert hf_contract._diff(outs["mlm"], lm(ids, attention_mask=mask).logits) < 1e-5
        assert hf_contract._diff(outs["base"], lm.model(ids, attention_mask=mask).last_hidden_state) < 1e-5
        for kind, cls in (("clf", NeoBERTForSequenceClassification), ("tok", NeoBERTForTokenClassification)):
            head_model = cls(NeoBERTConfig(**TINY, num_labels=3)).eval()
            head = {k.split("|", 1)[1]: t for k, t in outs.items() if k.startswith(f"{kind}|")}
            head_model.load_state_dict({**{"model." + k: t for k, t in lm.model.state_dict().items()}, **head})
            assert hf_contract._diff(outs[kind], head_model(ids, attention_mask=mask).logits) < 1e-5, kind
        # negative control: another model's logits differ
        torch.manual_seed(1); other = type(lm)(lm.config).eval()
        assert hf_contract._diff(outs["mlm"], other(ids, attention_mask=mask).logits) > 1e-3
    t = res["tokenizer"]
    assert "error" not in t, t
    assert t["class"].startswith("Bert") and t["ids"] == folders["tok_ids"], t

def test_bare_autotokenizer(folders, python, tmp_path):
    """`AutoTokenizer.from_pretrained(export)` with no `trust_remote_code`, in a fresh Python with stdin closed that never
    imports neobert: a BertTokenizer(Fast) within seconds, and no remote-code prompt. transformers 4 reads
    tokenizer_config.json's `tokenizer_class` first and never opens config.json. transformers 5 (5.24) always loads
    config.json through AutoConfig first, and a config with `auto_map.AutoConfig` and a `model_type` transformers does
    not know (the hub layout: `neobert`) makes AutoConfig ask the question before any tokenizer file is read; no file an
    export can write avoids that while config.json keeps the hub's keys (see benchmarks/NOTES.md), so under 5
    a prompt is an xfail (the day transformers stops asking, the checks below apply to 5 too) and users pass
    `trust_remote_code=False`, as the model card says (tested in test_remote_contract)."""
    out = tmp_path / "tok.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([python, str(ROOT / "tests" / "hf_contract.py"), str(folders["export"]), str(out), "--bare-tokenizer"],
                       cwd=tmp_path, env={**env, **OFFLINE}, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["neobert_imported"] is False
    assert res["transformers"].startswith("5." if python == sys.executable else "4."), res["transformers"]
    prompted = "Do you wish to run the custom code" in r.stdout + r.stderr
    if python == sys.executable and prompted:
        pytest.xfail("transformers 5 asks about the config's remote code before reading the tokenizer files")
    assert not prompted, r.stdout[-1000:]
    assert "error" not in res, res
    assert res["class"] in ("BertTokenizer", "BertTokenizerFast") and res["ids"] == folders["tok_ids"], res
    assert res["seconds"] < 5, res["seconds"]
