"""Every cell variant the engine supports, for parametrised tests."""
VARIANTS = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("rnn", {"nonlinearity": "linear"}),
    ("lstm", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"reset_after": True}),
]
VARIANT_IDS = ["rnn-tanh", "rnn-relu", "rnn-linear", "lstm", "gru-cho", "gru-pytorch"]
