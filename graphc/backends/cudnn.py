"""`graphc.backends.cudnn`: flags scripts set (`benchmark`, `deterministic`); graphc runs no cuDNN,
so they are kept and change nothing (its kernels are deterministic already)."""

enabled = True
benchmark = False
deterministic = False


def is_available() -> bool:
    return False


def version() -> None:
    return None
