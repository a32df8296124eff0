"""`graphc report`: what compiling did to a model and where its memory goes.

    graphc report                                   # the tutorial MLP's training step
    graphc report FILE.py:NAME --input 64x20 [--train] [--level O2] [--out DIR]

For each pass: nodes and kernels before and after and its time; then the memory plan: naive bytes
(every value its own buffer), the planned arena, the peak of live bytes and what is live there
(with the user's line and module), saved-for-backward bytes, parameters updated in place and the
kernels that still allocate. `--out DIR` also writes DIR/memory.svg, the live bytes over the
execution order with the peak marked. `step.report()` / `compiled.report()` give the same text.
"""

from __future__ import annotations

import sys
from pathlib import Path

TOP = 8  # values listed at the peak and among the saved ones


def variant_report(variant, kind: str, name: str) -> str:
    """The report of one compiled variant (graphc.compile.Variant) of model `name`."""
    lines = [_title(variant, kind, name), ""]
    lines += _pass_table(variant)
    lines += ["", *_memory(variant.plan, variant.graph)]
    return "\n".join(lines) + "\n"


def _title(variant, kind: str, name: str) -> str:
    inputs = ", ".join(str(v.type) for v in variant.traced.user_inputs())
    return f"{kind} of {name} ({inputs}), {len(variant.pipeline.records)} passes"


def _pass_table(variant) -> list[str]:
    records = variant.pipeline.records
    lines = [f"{'pass':<10} {'nodes':>13} {'kernels':>13} {'ms':>8}"]
    for r in records:
        lines.append(f"{r.name:<10} {r.nodes_before:>5} -> {r.nodes_after:<5} "
                     f"{r.kernels_before:>5} -> {r.kernels_after:<5} {r.seconds * 1e3:>8.1f}")
    if records:
        first, last = records[0], records[-1]
        lines.append(f"{'total':<10} {first.nodes_before:>5} -> {last.nodes_after:<5} "
                     f"{first.kernels_before:>5} -> {last.kernels_after:<5} "
                     f"{variant.pipeline.seconds * 1e3:>8.1f}")
    else:
        lines.append(f"(no passes: {len(variant.graph.nodes)} nodes run as traced)")
    t = variant.timings
    lines.append(f"trace {t.get('trace', 0) * 1e3:.0f} ms, passes and plan "
                 f"{t.get('compile', 0) * 1e3:.0f} ms, in all {t.get('total', 0) * 1e3:.0f} ms")
    return lines


def _memory(plan, graph) -> list[str]:
    steps = len(graph.nodes)
    peak_node = graph.nodes[plan.peak_step] if steps else None
    updates = len(graph.updates)
    allocating = [n.op for n in plan.allocating_nodes()]
    lines = [
        "memory (bytes)",
        f"  {'naive (every value its own buffer)':<38} {plan.naive_bytes:>12,}",
        f"  {'arena (planned)':<38} {plan.arena_bytes:>12,}   ({plan.reuse_ratio:.1f}x reuse)",
        f"  {'peak live':<38} {plan.peak_bytes:>12,}   at step {plan.peak_step + 1} of {steps}"
        + (f" ({_node_name(peak_node)})" if peak_node is not None else ""),
        f"  {'saved for backward':<38} {plan.saved_bytes:>12,}   ({len(plan.saved())} values)",
    ]
    if updates:
        lines.append(f"  {'state updated in place':<38} {len(plan.in_place_updates):>12} of "
                     f"{updates}")
    lines.append(f"  {'kernels that allocate per call':<38} {len(allocating):>12}"
                 + (f"   ({', '.join(allocating)})" if allocating else ""))
    live = sorted(plan.live_at_peak(), key=lambda v: -v.type.nbytes)
    if live:
        lines += ["", "live at the peak"] + [_value_line(v) for v in live[:TOP]]
        if len(live) > TOP:
            lines.append(f"  ... and {len(live) - TOP} more")
    saved = sorted(plan.saved(), key=lambda v: -v.type.nbytes)
    if saved:
        lines += ["", "saved for backward"] + [_value_line(v) for v in saved[:TOP]]
    return lines


def _node_name(node) -> str:
    return node.attrs["body"].name if node.op == "fused" else node.op


def _value_line(value) -> str:
    meta = value.node.meta if value.kind == "node" else {}
    where = "  ".join(str(meta[k]) for k in ("loc", "scope") if meta.get(k)) or value.kind
    return f"  {value.type.nbytes:>12,}  %{value.name} {value.type}  {where}"


# -- the command ------------------------------------------------------------------------------------
def add_model_arguments(parser, verb: str) -> None:
    """The model options `graphc report` and `graphc check` share: FILE.py:NAME (default: the
    tutorial MLP's training step), --input, --dtype, --train, --loss, --optim."""
    from graphc import show

    parser.add_argument("target", nargs="?", metavar="FILE.py:NAME",
                        help="a model file and class or factory (default: the tutorial MLP)")
    parser.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]",
                        help="an example input shape such as 64x1x28x28; repeat for more inputs")
    parser.add_argument("--dtype", default="float32", metavar="DTYPE",
                        help="dtype of inputs given without one")
    parser.add_argument("--train", action="store_true",
                        help=f"{verb} the training step (the default for the tutorial MLP)")
    parser.add_argument("--loss", default="cross_entropy", metavar="|".join(show.LOSSES))
    parser.add_argument("--optim", default="sgd", metavar="|".join(show.OPTIMIZERS))


def model_of(args) -> tuple:
    """(model, its name, whether the training step is wanted, input specs) from the options of
    `add_model_arguments`; a ShowError for a bad one."""
    from graphc import show

    if args.target is None:
        from graphc.train import MLP

        model, name, train = MLP(28 * 28, (512, 512), 10), "the tutorial MLP", True
        texts = args.input or ["64x1x28x28"]
    else:
        model, name = show.load_model(args.target)
        train, texts = args.train, args.input
    specs = [show.parse_input(text, args.dtype) for text in texts]
    if not specs:
        raise show.ShowError("give at least one --input shape, such as --input 64x1x28x28")
    return model, name, train, specs


def add_arguments(parser) -> None:
    parser.description = __doc__.splitlines()[0]
    add_model_arguments(parser, "report")
    parser.add_argument("--level", default="O2", metavar="O0|O1|O2|PASSES",
                        help="optimization level or pass list")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/memory.svg")


def run(args) -> int:
    from graphc.show import ShowError

    try:
        return report(args)
    except ShowError as err:
        sys.stderr.write(f"graphc report: error: {err}\n")
        return 2


def report(args) -> int:
    import graphc
    from graphc import show
    from graphc.render.timeline import write_timeline
    from passes.pipeline import PassError, pass_names

    try:
        pass_names(args.level)
    except PassError as err:
        raise show.ShowError(str(err)) from None
    model, name, train, specs = model_of(args)
    if train:
        forward = show.call_user(f"failed to trace {name}", graphc.trace, model, *specs)
        compiled = show.build_step(graphc, model, name, specs, forward, args, level=args.level)
        kind = "training step"
    else:
        compiled = show.call_user(f"failed to compile {name}", graphc.compile, model, *specs,
                                  opt_level=args.level)
        kind = "inference"
    print(variant_report(compiled.variant, kind, name), end="")
    if args.out:
        path = write_timeline(compiled.variant.plan, Path(args.out) / "memory.svg",
                              title=f"{name}: {kind}, live bytes over the execution order")
        print(f"wrote {path}")
    return 0
