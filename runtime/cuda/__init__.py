"""The CUDA side of the runtime, on CuPy: kernels generated from fused bodies (`codegen`), their
launches over a memory plan's buffers (`kernels`), and the program that runs a planned graph on
the GPU (`program`). Imported only by the cupy backend and by tests: `import graphc` never needs
CuPy, and nothing here imports it either (the backend hands its array module in).
"""
