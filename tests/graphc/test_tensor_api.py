"""Tensor API semantics against PyTorch: creation, dtypes and promotion, conversions, repr,
indexing and assignment on eager tensors, in-place operators."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")

DTYPE_NAMES = ("float32", "float64", "int64", "int32", "bool")


def gdt(name):
    return getattr(graphc, name if name != "bool" else "bool")


def as_torch(t):
    return torch.from_numpy(np.array(t.detach().numpy()))


# -- creation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [1.0, 2.0],
        [[1, 2], [3, 4]],
        [True, False],
        3.5,
        7,
        np.array([1.0, 2.0]),
        np.array([1, 2], dtype=np.int32),
    ],
)
def test_tensor_infers_the_dtype_torch_does(data):
    assert graphc.tensor(data).dtype.name == str(torch.tensor(data).dtype).split(".")[1]


def test_constructors_match_torch():
    pairs = [
        (graphc.zeros(2, 3), torch.zeros(2, 3)),
        (graphc.ones((2,)), torch.ones((2,))),
        (graphc.full((2, 2), 7), torch.full((2, 2), 7)),
        (graphc.full((2,), 1.5), torch.full((2,), 1.5)),
        (graphc.arange(5), torch.arange(5)),
        (graphc.arange(1, 2, 0.25), torch.arange(1, 2, 0.25)),
        (graphc.eye(3), torch.eye(3)),
        (graphc.linspace(0, 1, 5), torch.linspace(0, 1, 5)),
        (
            graphc.zeros_like(graphc.ones(2, dtype=graphc.int64)),
            torch.zeros_like(torch.ones(2, dtype=torch.int64)),
        ),
        (graphc.ones(3, dtype=graphc.float64), torch.ones(3, dtype=torch.float64)),
    ]
    for ours, theirs in pairs:
        assert ours.dtype.name == str(theirs.dtype).split(".")[1]
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_from_numpy_and_numpy_share_memory():
    a = np.zeros(3, dtype=np.float32)
    t = graphc.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5
    t.numpy()[1] = 6
    assert a[1] == 6
    with pytest.raises(TypeError):
        graphc.from_numpy(np.zeros(2, dtype=np.uint16))


def test_tensor_copies_its_data():
    a = np.zeros(3)
    t = graphc.tensor(a)
    a[0] = 1
    assert t.sum().item() == 0


def test_manual_seed_repeats_random_tensors():
    graphc.manual_seed(3)
    a, k1 = graphc.rand(4), graphc.random.next_key()
    graphc.manual_seed(3)
    b, k2 = graphc.rand(4), graphc.random.next_key()
    assert np.array_equal(a.numpy(), b.numpy()) and k1 == k2
    r = graphc.randn(1000, dtype=graphc.float64)
    assert r.dtype == graphc.float64 and abs(r.mean().item()) < 0.15
    i = graphc.randint(0, 5, (100,))
    assert i.dtype == graphc.int64 and 0 <= i.min().item() and i.max().item() < 5


# -- properties and conversions ------------------------------------------------------------------


def test_properties():
    t = graphc.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(-1) == 4
    assert repr(t.shape) == "graphc.Size([2, 3, 4])"
    assert t.ndim == t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert t.device == graphc.device("cpu") and str(t.device) == "cpu"
    assert t.dtype == graphc.float32 == graphc.float and t.is_floating_point()
    assert graphc.long == graphc.int64 and graphc.double == graphc.float64
    assert t.to("cpu") is t and t.cpu() is t and t.float() is t
    with pytest.raises(RuntimeError, match="CUDA"):
        t.to("cuda")


def test_python_conversions():
    t = graphc.tensor([[2.5]])
    assert t.item() == 2.5 and float(t) == 2.5 and int(t) == 2 and bool(t)
    assert graphc.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert [1, 2, 3][graphc.tensor(1)] == 2
    assert f"{graphc.tensor(0.123456):.3f}" == "0.123"
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(graphc.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        graphc.tensor([1, 2]).item()
    with pytest.raises(RuntimeError, match="detach"):
        graphc.ones(2, requires_grad=True).numpy()
    assert [x.item() for x in graphc.tensor([4, 5])] == [4, 5]


def test_type_conversions():
    t = graphc.tensor([1.7, -2.2])
    assert t.long().tolist() == [1, -2] and t.int().dtype == graphc.int32
    assert t.type(graphc.float64).dtype == graphc.float64 and t.double().dtype == graphc.float64
    assert t.bool().tolist() == [True, True] and t.type() == "graphc.FloatTensor"
    assert (
        t.to(graphc.int64).dtype == graphc.int64
        and t.to(graphc.zeros(1, dtype=graphc.int32)).dtype == graphc.int32
    )


# -- type promotion --------------------------------------------------------------------------------

OPERANDS = [
    lambda lib, d: lib.ones(2, dtype=getattr(lib, d) if d != "bool" else lib.bool),
    lambda lib, d: lib.ones((), dtype=getattr(lib, d) if d != "bool" else lib.bool),
]
SCALARS = [2, 2.5, True]


@pytest.mark.parametrize("left", DTYPE_NAMES)
@pytest.mark.parametrize("right", DTYPE_NAMES + tuple(map(repr, SCALARS)))
@pytest.mark.parametrize("op", ["add", "mul", "truediv", "lt", "eq"])
@pytest.mark.parametrize("zero_dim_right", [False, True])
def test_promotion_matches_torch(left, right, op, zero_dim_right):
    import operator

    fn = getattr(operator, op)

    def make(lib):
        a = OPERANDS[0](lib, left)
        b = (
            eval(right)
            if right in map(repr, SCALARS)
            else OPERANDS[int(zero_dim_right)](lib, right)
        )
        return a, b

    try:
        expected = fn(*make(torch)).dtype
    except RuntimeError:
        pytest.skip("torch refuses this combination")
    got = fn(*make(graphc))
    assert got.dtype.name == str(expected).split(".")[1]
    np.testing.assert_array_equal(got.numpy(), fn(*make(torch)).numpy())


def test_inplace_keeps_dtype_and_refuses_float_into_int():
    t = graphc.ones(2)
    t += graphc.ones(2, dtype=graphc.float64)
    assert t.dtype == graphc.float32 and t.tolist() == [2, 2]
    i = graphc.ones(2, dtype=graphc.int64)
    i += 2
    assert i.tolist() == [3, 3]
    with pytest.raises(RuntimeError, match="can't be cast"):
        i /= 2
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        graphc.ones(2).add_(graphc.ones(3, 2))


# -- repr ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]),
        lambda lib: lib.tensor([1.5, -2.25, 1e-3]),
        lambda lib: lib.tensor([1e-5, 1.0, 123456.0]),
        lambda lib: lib.tensor([1, 2, 300]),
        lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor(3.0),
        lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
        lambda lib: lib.tensor([1, 2], dtype=lib.int32),
        lambda lib: lib.arange(2000).reshape(40, 50),
        lambda lib: lib.arange(24.0).reshape(2, 3, 4) / 7,
        lambda lib: lib.zeros(0, 3),
        lambda lib: lib.tensor([float("inf"), float("nan"), 1.0]),
        lambda lib: lib.ones(2, 3, requires_grad=True),
        lambda lib: lib.tensor([0.1, 0.2], dtype=lib.float64, requires_grad=True),
    ],
)
def test_repr_matches_torch(make):
    assert repr(make(graphc)) == repr(make(torch)).replace("torch.", "graphc.")


def test_repr_of_a_large_random_tensor_matches_torch():
    a = np.random.default_rng(0).standard_normal((30, 70)).astype(np.float32) * 50
    assert repr(graphc.from_numpy(a)) == repr(torch.from_numpy(a))


def test_repr_names_the_grad_fn():
    t = graphc.ones(2, requires_grad=True) * 2
    assert repr(t) == "tensor([2., 2.], grad_fn=<MulBackward0>)"


# -- indexing and assignment -----------------------------------------------------------------------

KEYS = [
    (1,),
    (-1,),
    (slice(None, None, 2),),
    (Ellipsis, 0),
    (None, 1, slice(1, None)),
    (slice(None), [0, 2]),
    ([1, 0], slice(None), [0, -1]),
    ([[0, 1], [1, 0]],),
    (np.array([True, False, True]),),
    (slice(1, 100),),
    (slice(-2, None), None, Ellipsis),
]


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_getitem_matches_numpy(key):
    a = np.arange(60.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(graphc.from_numpy(a)[key].numpy(), a[key])


def test_getitem_with_index_tensors_and_errors():
    t = graphc.arange(10) * 10
    assert t[graphc.tensor([9, -1, 0])].tolist() == [90, 90, 0]
    assert t[t > 60].tolist() == [70, 80, 90]
    with pytest.raises(IndexError, match="out of bounds"):
        t[10]
    with pytest.raises(IndexError, match="out of bounds"):
        t[graphc.tensor([11])]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0]
    with pytest.raises(ValueError, match="step"):
        t[::-1]


@pytest.mark.parametrize(
    "key",
    [0, (slice(None), 1), (Ellipsis, slice(0, 2)), ([0, 2],), (np.array([True, False, True]),)],
)
def test_setitem_on_plain_tensors_writes_in_place(key):
    a = np.zeros((3, 4))
    t = graphc.from_numpy(a)
    ref = np.zeros((3, 4))
    t[key] = 7.0
    ref[key] = 7.0
    np.testing.assert_array_equal(a, ref)
    t[key] = graphc.ones(ref[key].shape)
    ref[key] = 1
    np.testing.assert_array_equal(a, ref)
    assert t._version == 2


def test_views_share_memory_and_version():
    t = graphc.zeros(2, 3)
    v = t.view(6)
    v[0] = 1.0
    assert t[0, 0].item() == 1.0 and t._version == v._version == 1


# -- in place --------------------------------------------------------------------------------------


def test_inplace_operators_on_plain_tensors_keep_identity():
    t = graphc.ones(3)
    same = t
    t += 1
    t *= 3
    t -= graphc.tensor([1.0, 2.0, 3.0])
    t /= 2
    assert t is same and t.tolist() == [2.5, 2.0, 1.5]
    t.zero_().add_(graphc.ones(3), alpha=2).mul_(2).sub_(1).div_(3)
    assert t.tolist() == [1.0, 1.0, 1.0]
    t.fill_(4).clamp_(max=3)
    assert t.tolist() == [3.0, 3.0, 3.0]
    t.copy_(graphc.tensor([1, 2, 3]))
    assert t.tolist() == [1.0, 2.0, 3.0] and t.dtype == graphc.float32
    t.uniform_(-1, 1)
    assert (t.abs() <= 1).all().item()


def test_module_functions():
    a = graphc.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert graphc.sum(a).item() == 6 and graphc.mean(a).item() == 1.5
    assert graphc.max(a).item() == 4 and graphc.argmax(a).item() == 3
    assert graphc.argmax(a, dim=1).tolist() == [0, 1] and graphc.max(a, 1).indices.tolist() == [
        0,
        1,
    ]
    assert graphc.abs(a).sum().item() == 10 and graphc.relu(a).sum().item() == 8
    assert graphc.cat([a, a], 1).shape == (2, 4) and graphc.stack([a, a]).shape == (2, 2, 2)
    assert graphc.where(a > 0, a, 0).tolist() == [[1, 0], [3, 4]]
    assert graphc.where(a > 0, 1, 0).dtype == graphc.int64
    assert a.any().item() and (a > 0).all(dim=1).tolist() == [False, True]
    assert not (a > 5).any().item() and (a > 0).any(0, keepdim=True).tolist() == [[True, True]]
    assert graphc.equal(graphc.exp(graphc.log(a.abs())), graphc.exp(graphc.log(a.abs())))
    assert graphc.is_tensor(a) and not graphc.is_tensor(1.0)
    assert graphc.tanh(a).shape == graphc.sigmoid(a).shape == (2, 2)
    assert (
        graphc.mm(a, a).tolist() == (torch.tensor(a.tolist()) @ torch.tensor(a.tolist())).tolist()
    )


def test_tutorial_idioms():
    pred = graphc.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = graphc.tensor([1, 0, 0])
    correct = (pred.argmax(1) == y).type(graphc.float).sum().item()
    assert correct == 2.0 and isinstance(correct, float)
    X = graphc.rand(8, 8)
    assert X.view((1, 1) + X.shape).shape == (1, 1, 8, 8)
    assert X.unsqueeze(0).shape == (1, 8, 8) and X.reshape(-1).shape == (64,)
    assert graphc.tensor([graphc.tensor(1.0), graphc.tensor(2.0)]).tolist() == [1.0, 2.0]


def test_new_tensors_numpy_operands_and_softmax():
    t = graphc.ones(2, dtype=graphc.float64)
    assert t.new_zeros(3).dtype == graphc.float64 and t.new_ones((2, 2)).sum().item() == 4
    assert t.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert t.new_tensor([1, 2]).dtype == graphc.float64
    assert (np.arange(2.0) + t).tolist() == [1.0, 2.0]
    assert (t * np.arange(2.0)).tolist() == [0.0, 1.0]
    s = graphc.tensor([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(s.softmax(-1).numpy(), torch.tensor([[1.0, 2.0, 3.0]]).softmax(-1))
    np.testing.assert_allclose(s.log_softmax(1).exp().sum().item(), 1.0, rtol=1e-6)
    with graphc.inference_mode():
        assert not (graphc.ones(1, requires_grad=True) * 2).requires_grad


@pytest.mark.parametrize("make", ["rand", "randn"])
def test_zero_dim_random_tensors_update_in_place(make):
    # The polynomial-fitting tutorials: a = torch.randn((), requires_grad=True), then a -= ...
    a = getattr(graphc, make)((), requires_grad=True)
    assert isinstance(a._data, np.ndarray) and a.shape == ()
    x = graphc.linspace(-1, 1, 5)
    ((a * x - x) ** 2).sum().backward()
    expected = a.item() - 0.1 * a.grad.item()
    with graphc.no_grad():
        a -= 0.1 * a.grad
    assert a.item() == pytest.approx(expected)
    a.grad = None
    ((a * x - x) ** 2).sum().backward()
    graphc.optim.SGD([a], lr=0.1, momentum=0.9).step()
    model = graphc.nn.Module()
    model.a = graphc.nn.Parameter(getattr(graphc, make)(()))
    model.load_state_dict({"a": graphc.tensor(2.0)})
    assert model.a.item() == 2.0
    assert isinstance(graphc.randint(0, 3, ())._data, np.ndarray)


def test_flatten_of_an_empty_batch_and_ambiguous_reshapes_as_pytorch():
    x, t = graphc.zeros(0, 3, 4), torch.zeros(0, 3, 4)
    assert graphc.nn.Flatten()(x).shape == torch.nn.Flatten()(t).shape == (0, 12)
    assert x.flatten().shape == (0,) and x.reshape(2, -1).shape == t.reshape(2, -1).shape
    model = graphc.nn.Sequential(graphc.nn.Flatten(), graphc.nn.Linear(12, 2))
    assert model(x).shape == graphc.compile(model, x)(x).shape == (0, 2)
    for shape in ((0, -1), (-1, 0)):
        with pytest.raises(RuntimeError) as expected:
            t.reshape(shape)
        with pytest.raises(RuntimeError, match=str(expected.value).replace("[", r"\[")):
            x.reshape(shape)
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        graphc.zeros(2, 3, 4).flatten(2, 1)


def test_dot_mv_and_norms_match_torch():
    a, v = np.arange(6.0).reshape(2, 3) - 2.5, np.array([2.0, -3.0, 0.5])
    ga, ta = graphc.tensor(a), torch.tensor(a)
    gv, tv = graphc.tensor(v), torch.tensor(v)
    cases = [
        lambda m, A, x: m.dot(x, x), lambda m, A, x: x.dot(x), lambda m, A, x: m.mv(A, x),
        lambda m, A, x: m.norm(A), lambda m, A, x: A.norm(dim=1, keepdim=True),
        lambda m, A, x: A.norm(p=1), lambda m, A, x: x.norm(p=float("inf")),
        lambda m, A, x: m.linalg.norm(A), lambda m, A, x: m.linalg.norm(x, ord=3),
        lambda m, A, x: m.linalg.norm(A, ord=1), lambda m, A, x: m.linalg.norm(A, ord=-m.inf)
        if hasattr(m, "inf") else m.linalg.norm(A, ord=-float("inf")),
        lambda m, A, x: m.linalg.norm(A, dim=0), lambda m, A, x: m.linalg.vector_norm(A, ord=0),
        lambda m, A, x: m.linalg.matrix_norm(A), lambda m, A, x: m.inner(x, x),
    ]
    for case in cases:
        np.testing.assert_allclose(case(graphc, ga, gv).numpy(), case(torch, ta, tv).numpy(),
                                   rtol=1e-12)
    x = graphc.tensor(v, requires_grad=True)
    graphc.linalg.norm(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), v / np.linalg.norm(v))
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D"):
        graphc.dot(ga, gv)


def test_scatter_matches_torch():
    y = [1, 0, 3]
    for make in (
        lambda m: m.zeros(3, 4).scatter_(1, m.tensor(y).unsqueeze(1), 1.0),
        lambda m: m.zeros(3, 4, dtype=m.int64).scatter(1, m.tensor([[1], [0], [3]]),
                                                       m.tensor([[5], [6], [7]])),
        lambda m: m.arange(12.0).reshape(3, 4).scatter(0, m.tensor([[2, 1, 0, 1]]),
                                                       -m.ones(2, 4)),
        lambda m: m.ones(3).scatter_add(0, m.tensor([0, 0, 2]), m.tensor([1.0, 2.0, 3.0])),
        lambda m: m.scatter(m.zeros(2, 3), 1, m.tensor([[2], [0]]), value=4.0),
    ):
        np.testing.assert_array_equal(make(graphc).numpy(), make(torch).numpy())
    grads = []
    for m in (graphc, torch):
        src, base = m.ones(3, 1, requires_grad=True), m.ones(3, 4, requires_grad=True)
        out = base.scatter(1, m.tensor(y).unsqueeze(1), src)
        (out * m.arange(12.0).reshape(3, 4)).sum().backward()
        grads.append((src.grad.numpy(), base.grad.numpy()))
    for got, expected in zip(*grads):
        np.testing.assert_array_equal(got, expected)


def test_out_keyword_writes_into_the_given_tensor_as_torch():
    for m in (graphc, torch):
        a, c = m.arange(6.0).reshape(2, 3), m.empty(2, 2)
        assert m.matmul(a, m.ones(3, 2), out=c) is c and c.tolist() == [[3.0, 3.0], [12.0, 12.0]]
        d = m.zeros(0)
        m.add(a, 1, out=d)  # an empty out is resized
        assert d.shape == (2, 3)
        with pytest.raises(RuntimeError, match="out=... arguments don't support automatic diff"):
            m.mul(m.ones(2, requires_grad=True), 2, out=m.zeros(2))
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            m.div(m.ones(2), 3, out=m.zeros(2, dtype=m.int64))


def test_indexing_with_python_ranges():
    a = np.arange(24).reshape(4, 6)
    keys = (range(3), (range(0, 4, 2), slice(None)), (range(2), [0, 5]), (slice(1, 3), range(4)))
    for key in keys:
        assert graphc.tensor(a)[key].tolist() == torch.tensor(a)[key].tolist()
    t = graphc.zeros(5)
    t[range(1, 3)] = 1.0
    assert t.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("options, rows, cols", [
    ({"precision": 2}, 3, 4), ({"threshold": 5, "edgeitems": 2}, 6, 6), ({"linewidth": 40}, 1, 12),
    ({"profile": "short"}, 3, 4), ({"sci_mode": True}, 2, 3), ({"profile": "full"}, 30, 40),
])
def test_set_printoptions_as_pytorch(options, rows, cols):
    values = np.linspace(-3, 3, rows * cols).reshape(rows, cols) / 7
    shown = []
    for lib in (torch, graphc):
        lib.set_printoptions(**options)
        try:
            shown.append(repr(lib.tensor(values)).replace("graphc.", "torch."))
        finally:
            lib.set_printoptions(profile="default")
    assert shown[0] == shown[1]
    with pytest.raises(ValueError, match="Unknown profile"):
        graphc.set_printoptions(profile="long")
