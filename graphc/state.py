"""Process-wide modes read by every op: gradient recording on/off and the active trace."""

grad_enabled = True
trace = None  # the active graphc.tracing.Trace, or None when running eagerly
