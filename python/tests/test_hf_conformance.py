"""rotary.from_hf_config against transformers' own rotary embedding modules, model type by
model type (python/tests/hf_zoo.py does the work; docs/SCALING.md has the table)."""
import pytest

pytest.importorskip("transformers")

import hf_zoo  # noqa: E402

ZOO = hf_zoo.rope_model_types()
# The models of the end-to-end tests: each must be compared, not merely left uncovered.
MUST_MATCH = ["llama", "qwen2", "qwen2_5_vl", "gemma3_text", "phi3", "gpt_neox", "glm4", "deepseek_v3",
              "gpt_oss", "smollm3", "mistral", "cohere2", "modernbert", "qwen3_next", "llama4_text"]


@pytest.mark.parametrize("model_type,module,files", ZOO, ids=[z[0] for z in ZOO])
def test_model_type_matches_transformers(model_type, module, files):
    with hf_zoo.one_torch_thread():
        r = hf_zoo.check_model_type(model_type, module, files)
    if model_type in hf_zoo.KNOWN_GAPS:
        assert r.status == "mismatch", (
            f"{model_type} is now '{r.status}': take it out of hf_zoo.KNOWN_GAPS and regenerate the "
            "table (tests/data/make_hf_conformance_table.py)")
    else:
        assert r.status != "mismatch", r.reason
    if model_type in MUST_MATCH:
        assert r.status == "matched" and len(r.variants) >= 1, r.reason


def test_every_named_model_is_in_the_zoo():
    assert set(MUST_MATCH) <= {z[0] for z in ZOO}
