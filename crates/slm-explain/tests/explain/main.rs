//! slm-explain's integration tests: token attributions equal captum's on the tiny Llama and GPT-2
//! fixtures (`testdata/hf/attribution_expected.json`, made by `testdata/hf/make_attribution_fixtures.py`).

mod captum_parity;
