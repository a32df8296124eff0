"""Published programs that use the layer zoo, with only their imports changed: pytorch/examples'
word language model (RNN and Transformer), time-sequence prediction and DCGAN, and d2l's modern
CNN and recurrent blocks. Each is written once, in PyTorch spelling, inside a function of the
library; run on torch and on graphc from the same weights, the results agree.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def word_language_model(torch, nn, F):
    """pytorch/examples/word_language_model/model.py (trimmed of comments)."""

    class RNNModel(nn.Module):
        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super(RNNModel, self).__init__()  # noqa: UP008  (as published)
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ["LSTM", "GRU"]:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity,
                                  dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                self.decoder.weight = self.encoder.weight
            self.init_weights()
            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == "LSTM":
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            return weight.new_zeros(self.nlayers, bsz, self.nhid)

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super(PositionalEncoding, self).__init__()  # noqa: UP008
            self.dropout = nn.Dropout(p=dropout)
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float()
                                 * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0).transpose(0, 1)
            self.register_buffer("pe", pe)

        def forward(self, x):
            x = x + self.pe[:x.size(0), :]
            return self.dropout(x)

    class TransformerModel(nn.Transformer):
        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerModel, self).__init__(  # noqa: UP008
                d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
            self.model_type = "Transformer"
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)
            self.init_weights()

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None
            src = self.input_emb(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.encoder(src, mask=self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    return RNNModel, TransformerModel


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, tuple):
        return tuple(repackage_hidden(v) for v in h)
    return h.detach()


def copy_weights(theirs, mine):
    mine.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})


def word_lm_train(lib, model, data, ntokens, steps, bptt=5, lr=5.0):
    """main.py's train(): truncated BPTT with the update `p.data.add_(p.grad, alpha=-lr)`."""
    criterion = lib.nn.NLLLoss()
    model.train()
    transformer = getattr(model, "model_type", "") == "Transformer"
    hidden = None if transformer else model.init_hidden(data.size(1))
    losses = []
    for i in range(0, steps * bptt, bptt):
        seq_len = min(bptt, len(data) - 1 - i)
        source, targets = data[i:i + seq_len], data[i + 1:i + 1 + seq_len].reshape(-1)
        model.zero_grad()
        if transformer:
            output = model(source).view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(source, hidden)
        loss = criterion(output, targets)
        loss.backward()
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("rnn_type, tie", [("LSTM", True), ("GRU", False), ("RNN_TANH", False),
                                           ("Transformer", False)])
def test_word_language_model_trains_as_in_pytorch(rnn_type, tie, torch):
    ntokens, tokens = 20, np.random.default_rng(0).integers(0, 20, size=(31, 4))
    runs = []
    for lib, nn, F in ((torch, torch.nn, torch.nn.functional),
                       (graphc, graphc.nn, graphc.nn.functional)):
        RNNModel, TransformerModel = word_language_model(lib, nn, F)
        lib.manual_seed(0)
        if rnn_type == "Transformer":
            model = TransformerModel(ntokens, 8, 2, 16, 2, dropout=0.0).double()
            for module in model.modules():  # nn.Transformer's own dropout: random in each library
                if isinstance(module, (nn.Dropout, nn.MultiheadAttention)):
                    module.p = module.dropout = 0.0
        else:
            model = RNNModel(rnn_type, ntokens, 8, 8, 2, dropout=0.0, tie_weights=tie).double()
        runs.append((lib, model))
    copy_weights(runs[0][1], runs[1][1])
    t_losses, g_losses = (word_lm_train(lib, model, lib.from_numpy(tokens.copy()), ntokens, 5)
                          for lib, model in runs)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-9)


def test_time_sequence_prediction_forward_backward_and_future(torch):
    """pytorch/examples/time_sequence_prediction: two LSTMCells stepped over a sine wave."""

    def sequence(torch, nn):
        class Sequence(nn.Module):
            def __init__(self):
                super(Sequence, self).__init__()  # noqa: UP008
                self.lstm1 = nn.LSTMCell(1, 51)
                self.lstm2 = nn.LSTMCell(51, 51)
                self.linear = nn.Linear(51, 1)

            def forward(self, input, future=0):
                outputs = []
                h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
                c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
                h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
                c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
                for input_t in input.split(1, dim=1):
                    h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                    h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                    output = self.linear(h_t2)
                    outputs += [output]
                for _ in range(future):  # if we should predict the future
                    h_t, c_t = self.lstm1(output, (h_t, c_t))
                    h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                    output = self.linear(h_t2)
                    outputs += [output]
                return torch.cat(outputs, dim=1)

        return Sequence

    rng = np.random.default_rng(2)
    x = np.array(range(30)) + rng.integers(-40, 40, (5, 1))
    data = np.sin(x / 20.0).astype("float64")
    results = []
    for lib in (torch, graphc):
        lib.manual_seed(0)
        seq = sequence(lib, lib.nn)()
        seq.double()
        results.append((lib, seq))
    copy_weights(results[0][1], results[1][1])
    outputs = []
    for lib, seq in results:
        input, target = lib.from_numpy(data[:, :-1].copy()), lib.from_numpy(data[:, 1:].copy())
        loss = lib.nn.MSELoss()(seq(input), target)
        loss.backward()
        with lib.no_grad():
            future = seq(input, future=10)
        outputs.append((loss.item(), seq.lstm1.weight_hh.grad.numpy().copy(),
                        future.detach().numpy()))
    (t_loss, t_grad, t_future), (g_loss, g_grad, g_future) = outputs
    assert g_loss == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(g_grad, t_grad, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(g_future, t_future, rtol=1e-10, atol=1e-13)
    seq = results[1][1]
    input, target = graphc.from_numpy(data[:, :-1].copy()), graphc.from_numpy(data[:, 1:].copy())
    step = graphc.compile_train_step(seq, graphc.nn.MSELoss(),
                                     graphc.optim.Adam(seq.parameters(), lr=0.01), input, target)
    losses = [step(input, target).item() for _ in range(5)]
    assert losses[-1] < losses[0]


def dcgan(torch, nn, nz=8, ngf=4, ndf=4, nc=3):
    """pytorch/examples/dcgan/main.py's Generator, Discriminator and weights_init."""

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    class Generator(nn.Module):
        def __init__(self, ngpu):
            super(Generator, self).__init__()  # noqa: UP008
            self.ngpu = ngpu
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf), nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh())

        def forward(self, input):
            if input.is_cuda and self.ngpu > 1:
                return nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self, ngpu):
            super(Discriminator, self).__init__()  # noqa: UP008
            self.ngpu = ngpu
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
                nn.Sigmoid())

        def forward(self, input):
            if input.is_cuda and self.ngpu > 1:
                output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            else:
                output = self.main(input)
            return output.view(-1, 1).squeeze(1)

    return Generator, Discriminator, weights_init


def dcgan_steps(torch, nn, netG, netD, real_batches, noises):
    """main.py's training loop: D on real and fake, then G, with BCELoss and Adam."""
    criterion = nn.BCELoss()
    real_label, fake_label = 1, 0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    history = []
    for real_cpu, noise in zip(real_batches, noises):
        netD.zero_grad()
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        history.append((errD_real.item() + errD_fake.item(), errG.item()))
    return history


def test_dcgan_trains_as_in_pytorch(torch):
    import graphc.backends.cudnn as cudnn  # noqa: PLR0402  (as main.py imports it)

    cudnn.benchmark = True
    rng = np.random.default_rng(3)
    reals = [rng.uniform(-1, 1, (2, 3, 64, 64)) for _ in range(2)]
    noises = [rng.standard_normal((2, 8, 1, 1)) for _ in range(2)]
    nets, histories = [], []
    for lib in (torch, graphc):
        Generator, Discriminator, weights_init = dcgan(lib, lib.nn)
        lib.manual_seed(0)
        netG, netD = Generator(1).double(), Discriminator(1).double()
        netG.apply(weights_init)
        netD.apply(weights_init)
        nets.append((netG, netD))
    for theirs, mine in zip(*nets):
        copy_weights(theirs, mine)
    for lib, (netG, netD) in zip((torch, graphc), nets):
        histories.append(dcgan_steps(lib, lib.nn, netG, netD,
                                     [lib.from_numpy(r.copy()) for r in reals],
                                     [lib.from_numpy(n.copy()) for n in noises]))
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-9)
    for theirs, mine in zip(*nets):
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(mine.state_dict()[key].numpy(), value.numpy(),
                                       rtol=1e-8, atol=1e-12, err_msg=key)


def d2l_blocks(torch, nn, F):
    """d2l.ai chapter 8 (modern CNNs), non-lazy: NiN, Inception, Residual, DenseNet, VGG."""

    def nin_block(in_channels, out_channels, kernel_size, strides, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self, in_channels, c1, c2, c3, c4):
            super().__init__()
            self.b1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
            self.b2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
            self.b2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
            self.b3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
            self.b3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
            self.b4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            self.b4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

        def forward(self, x):
            b1 = F.relu(self.b1_1(x))
            b2 = F.relu(self.b2_2(F.relu(self.b2_1(x))))
            b3 = F.relu(self.b3_2(F.relu(self.b3_1(x))))
            b4 = F.relu(self.b4_2(self.b4_1(x)))
            return torch.cat((b1, b2, b3, b4), dim=1)

    class Residual(nn.Module):
        def __init__(self, in_channels, num_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, num_channels, kernel_size=3, padding=1,
                                   stride=strides)
            self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
            self.conv3 = (nn.Conv2d(in_channels, num_channels, kernel_size=1, stride=strides)
                          if use_1x1conv else None)
            self.bn1 = nn.BatchNorm2d(num_channels)
            self.bn2 = nn.BatchNorm2d(num_channels)

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3:
                X = self.conv3(X)
            Y += X
            return F.relu(Y)

    def conv_block(in_channels, num_channels):
        return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                             nn.Conv2d(in_channels, num_channels, kernel_size=3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, in_channels, num_channels):
            super().__init__()
            self.net = nn.Sequential(*[conv_block(in_channels + i * num_channels, num_channels)
                                       for i in range(num_convs)])

        def forward(self, X):
            for blk in self.net:
                Y = blk(X)
                X = torch.cat((X, Y), dim=1)
            return X

    def transition_block(in_channels, num_channels):
        return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                             nn.Conv2d(in_channels, num_channels, kernel_size=1),
                             nn.AvgPool2d(kernel_size=2, stride=2))

    def vgg_block(num_convs, in_channels, out_channels):
        layers = []
        for _ in range(num_convs):
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            in_channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)

    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        nin_block(8, 8, kernel_size=3, strides=1, padding=1),
        Inception(8, 4, (4, 8), (2, 4), 4),
        Residual(20, 12, use_1x1conv=True, strides=2), Residual(12, 12),
        DenseBlock(2, 12, 4), transition_block(20, 10),
        vgg_block(2, 10, 12),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.0), nn.Linear(12, 10))


def test_d2l_modern_cnn_blocks_equal_pytorch(parity):
    theirs, mine = parity.twins(lambda nn: d2l_blocks(
        parity.torch if nn is parity.torch.nn else graphc, nn,
        nn.functional if hasattr(nn, "functional") else None))
    assert repr(mine) == repr(theirs)
    x = np.random.default_rng(4).standard_normal((2, 1, 32, 32))
    parity.check(theirs, mine, x, rtol=1e-9, atol=1e-11)


def test_d2l_concise_rnn_language_models(parity):
    """d2l.ai 9.6 / 10.1-10.4: nn.RNN/GRU/LSTM (stacked, bidirectional) on one-hot inputs."""
    torch = parity.torch
    vocab = 7

    def language_model(lib, nn, cell, **options):
        class RNNLM(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(nn, cell)(vocab, 6, **options)
                directions = 2 if options.get("bidirectional") else 1
                self.linear = nn.Linear(6 * directions, vocab)

            def forward(self, X, state=None):
                embs = lib.nn.functional.one_hot(X.T, vocab).type(lib.float64)
                rnn_outputs, _ = self.rnn(embs, state)
                return self.linear(rnn_outputs).transpose(0, 1)

        return RNNLM()

    tokens = np.random.default_rng(5).integers(0, vocab, (3, 9))
    for cell, options in [("RNN", {}), ("GRU", {"num_layers": 2}),
                          ("LSTM", {"num_layers": 2, "bidirectional": True})]:
        theirs, mine = parity.twins(lambda nn, cell=cell, options=options: language_model(
            torch if nn is torch.nn else graphc, nn, cell, **options))
        parity.check(theirs, mine, tokens)
