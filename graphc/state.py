"""Process-wide modes read by every op: gradient recording on/off, the active trace, and the
defaults `set_default_dtype`/`set_default_device` change."""

grad_enabled = True
trace = None  # the active graphc.tracing.Trace, or None when running eagerly
default_float = None  # the default float dtype when set (None: float32)
default_device = None  # the device of new tensors when set (None: cpu)
