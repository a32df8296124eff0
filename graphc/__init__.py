"""graphc: PyTorch-style models in, a static graph IR out; symbolic autodiff, passes, compiled steps."""
