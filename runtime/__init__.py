"""The run-time layer: what the service and the training both need to use a model.

Above ``physics`` (which it imports) and below ``service`` and ``training``
(which import it and never each other):

- ``artifacts``: artifact sets on disk, their manifest, sha256 verification, the
  staged atomic publish;
- ``domain``: the surrogate's training domain, defined once;
- ``features``: feature order and units of the models' inputs;
- ``onnx``: onnxruntime sessions;
- ``surrogate``: the surrogate artifact ready to run;
- ``shapley``: exact Shapley values of log10 σ and the explainer;
- ``anomaly``: the anomaly scorer.
- ``bands``: theory bands at points as the service answers them (also jpsi-score's).
"""
