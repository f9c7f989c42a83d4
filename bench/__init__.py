"""Benchmarks of rnn_core against PyTorch CPU, measured in the same run (`python -m bench`)."""
